"""Customer orders: each line that needs an installation becomes a job."""

"""Workforce: users, technicians, jobs, assignments, plan versions and optimisation runs."""

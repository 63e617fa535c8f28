"""The dispatch API: the FastAPI application serving the plan to dispatchers and technicians."""

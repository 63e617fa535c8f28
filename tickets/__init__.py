"""Trouble tickets, preventive maintenance and construction work orders: sources of jobs."""

"""Customers: who the work is for."""

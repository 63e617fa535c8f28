"""Shared foundation: settings, database, security, errors and the event bus."""

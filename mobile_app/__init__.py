"""Fieldplan technician app: Kivy screens over an offline store and a persistent outbox.

Talks to the dispatch API only through :mod:`mobile_app.api`; imports nothing of the server.
"""

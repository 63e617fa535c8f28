"""Alembic environment: the URL comes from the caller or from Settings (FWS_DATABASE_URL)."""

from __future__ import annotations

import importlib
import importlib.util

from alembic import context

from core.db import Base, make_engine
from core.settings import Settings

# Every module with tables; a module added later just joins this list.
MODEL_MODULES = (
    "workforce.models",
    "stock.models",
    "fieldwork.models",
    "crm.models",
    "tickets.models",
    "orders.models",
    "billing.models",
)
for _name in MODEL_MODULES:
    if importlib.util.find_spec(_name.split(".")[0]) and importlib.util.find_spec(_name):
        importlib.import_module(_name)

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return (
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or Settings().database_url
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            context.configure(
                connection=conn, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Every migration upgrades to head and downgrades to base, on both databases."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from dispatch_api.cli import downgrade_database, migrate_database


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return {t for t in inspect(eng).get_table_names() if not t.startswith("procrastinate")}
    finally:
        eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mig.db'}"
        return
    server = request.getfixturevalue("pg_url")  # skips (or fails in CI) without PostgreSQL
    name = f"fws_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_head_then_downgrade_base(empty_db_url: str) -> None:
    migrate_database(empty_db_url)
    tables = _tables(empty_db_url)
    for needed in (
        "users",
        "technicians",
        "jobs",
        "assignments",
        "plan_versions",
        "optimization_runs",
        "audit_entries",
        "tickets",
        "orders",
        "crm_customers",
    ):
        assert needed in tables
    downgrade_database(empty_db_url, "base")
    assert _tables(empty_db_url) <= {"alembic_version"}
    migrate_database(empty_db_url)  # and back up again: downgrade left nothing behind
    assert "jobs" in _tables(empty_db_url)


def test_models_match_the_migrations(db_url: str) -> None:
    """Autogenerate finds nothing to do: the ORM and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import dispatch_api.app  # noqa: F401  (imports every module's models)
    from core.db import Base

    eng = create_engine(db_url)
    try:
        with eng.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = [
                d
                for d in compare_metadata(ctx, Base.metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith("procrastinate"))
                and not (
                    d[0] in ("remove_index", "remove_constraint")
                    and getattr(d[1], "table", None) is not None
                    and d[1].table.name.startswith("procrastinate")
                )
            ]
    finally:
        eng.dispose()
    assert diff == []

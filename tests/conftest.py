"""Shared fixtures: every database-backed test runs on SQLite and on PostgreSQL.

- ``db_url``: parametrised ``sqlite`` (a fresh copy of a migrated file per test) and
  ``postgresql`` (one migrated database per session, tables truncated per test).
  PostgreSQL is skipped when unreachable, unless ``REQUIRE_POSTGRES=1`` (CI) makes
  that a failure. Server: ``FWS_TEST_PG_URL`` or postgres@127.0.0.1:5432.
- ``settings``, ``database``, ``session``: configuration and direct database access.
- ``app`` / ``client``: the real application (``create_app``) on that database;
  ``client`` runs the lifespan (workers, event bus).
- ``make_user``, ``make_technician``, ``make_job``: factories that commit.
- ``auth_headers(role_or_user)``: ``{"Authorization": "Bearer ..."}``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.db import Database
from core.events import EventBus
from core.security import create_token
from core.settings import Settings

PG_SERVER_URL = os.environ.get(
    "FWS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
TOMORROW = dt.date.today() + dt.timedelta(days=1)


def migrate(url: str) -> None:
    """Apply every Alembic migration to ``url`` (the same path ``make run`` takes)."""
    from dispatch_api.cli import migrate_database

    migrate_database(url)


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_SERVER_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 with production cost takes ~0.1 s per hash; tests only need it to be argon2."""
    from argon2 import PasswordHasher

    import core.security

    original = core.security._hasher
    core.security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    core.security._hasher = original


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (much faster than migrating)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    problem = _pg_reachable()
    if problem:
        message = f"PostgreSQL not reachable at {PG_SERVER_URL} ({problem})"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; REQUIRE_POSTGRES=1 makes this an error", pytrace=False)
        pytest.skip(message + "; set REQUIRE_POSTGRES=1 to make this fail")
    name = f"fws_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        from workforce.runs import ensure_procrastinate_schema

        db = Database(url)
        ensure_procrastinate_schema(db)
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def truncate_all(url: str) -> None:
    """Empty every table except the migration bookkeeping (ids restart at 1)."""
    eng = create_engine(url)
    with eng.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        names = ", ".join(f'"{t}"' for t in tables)
        if names:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    truncate_all(url)
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        secret_key=TEST_SECRET,
        timezone="UTC",
        sse_ping_s=0.5,
    )


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database_url)
    yield db
    db.dispose()


@pytest.fixture
def bus(database: Database) -> Iterator[EventBus]:
    """An event bus of its own on ``database`` (as another server process would have),
    listening on PostgreSQL while the test runs."""
    events = EventBus()
    events.attach(database)
    events.start()
    yield events
    events.stop()


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A session for arranging and inspecting data beside the app.

    On SQLite its transactions are deferred, so a read here never holds the write lock
    the application's requests need (commit after writing, as the factories do).
    """
    db = Database(settings.database_url, sqlite_immediate=False)
    with db.session() as s:
        yield s
    db.dispose()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    from dispatch_api.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


# -- factories ------------------------------------------------------------------------------
@pytest.fixture
def make_user(session: Session) -> Callable[..., Any]:
    from workforce import service

    counter = iter(range(1, 10_000))

    def _make(role: str = "dispatcher", username: str | None = None, password: str = "pw-123"):
        user = service.create_user(
            db=session,
            username=username or f"{role}{next(counter)}",
            password=password,
            role=role,
            name=f"Test {role}",
        )
        session.commit()
        return user

    return _make


@pytest.fixture
def make_technician(session: Session) -> Callable[..., Any]:
    from workforce import schemas, service

    counter = iter(range(1, 10_000))

    def _make(**overrides: Any):
        n = next(counter)
        data: dict[str, Any] = {
            "name": f"Tech {n}",
            "home_base": {"lat": 48.85, "lon": 2.35, "address": "Depot"},
            "skills": {"fiber": 3, "copper": 2},
            "territory": "north",
            "shift_start": "08:00",
            "shift_end": "17:00",
            "break": {"duration_min": 30, "earliest": "12:00", "latest": "13:30"},
            "working_days": [0, 1, 2, 3, 4, 5, 6],
        }
        data.update(overrides)
        if "username" in overrides and "password" not in overrides:
            data["password"] = overrides["username"]
        tech = service.create_technician(db=session, data=schemas.TechnicianCreate(**data))
        session.commit()
        return tech

    return _make


@pytest.fixture
def make_job(session: Session, settings: Settings) -> Callable[..., Any]:
    from workforce import schemas, service

    def _make(**overrides: Any):
        day = overrides.pop("date", TOMORROW)
        data: dict[str, Any] = {
            "kind": "repair",
            "title": "No sync on DSL line",
            "location": {"lat": 48.86, "lon": 2.34},
            "territory": "north",
            "duration_min": 60,
            "skills": {"fiber": 1},
            "priority": 50,
            "date": day.isoformat(),
        }
        data.update(overrides)
        job = service.create_job(db=session, data=schemas.JobCreate(**data), tz=settings.timezone)
        session.commit()
        return job

    return _make


@pytest.fixture
def auth_headers(settings: Settings, make_user: Callable[..., Any], make_technician) -> Callable:
    """``auth_headers("dispatcher")`` (a new user of that role, cached per test) or
    ``auth_headers(user)``; a technician role gets a linked technician record."""
    cache: dict[str, dict[str, str]] = {}

    def _headers(who: Any = "dispatcher") -> dict[str, str]:
        if isinstance(who, str):
            if who in cache:
                return cache[who]
            if who == "technician":
                tech = make_technician(username=f"tech-{uuid.uuid4().hex[:6]}")
                user = tech.user
            else:
                user = make_user(who)
        else:
            user = who
        token = create_token(
            subject=str(user.id), secret=settings.secret_key, ttl_min=60, claims={"role": user.role}
        )
        headers = {"Authorization": f"Bearer {token}"}
        if isinstance(who, str):
            cache[who] = headers
        return headers

    return _headers

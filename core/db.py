"""Database engine, sessions and the declarative base shared by every domain module."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from fastapi import Request
from sqlalchemy import DateTime, MetaData, Select, create_engine, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    import asyncpg  # imported when first used: SQLite deployments and CLIs never load it

T = TypeVar("T")

# Stable constraint names, so Alembic migrations can drop what they create on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every ORM class in the project."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC on every backend.

    SQLite has no time zone type, so values are normalised to UTC on the way in and
    come back aware on the way out; PostgreSQL gets ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def page(
    db: Session, query: Select[tuple[T]], *order: Any, limit: int, offset: int
) -> tuple[list[T], int]:
    """One page of ``query`` in ``order``, and how many rows the whole query has (the
    list endpoints' ``X-Total-Count``)."""
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(db.scalars(query.order_by(*order).limit(limit).offset(offset))), total


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; foreign keys are off by default in SQLite."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, sqlite_immediate: bool = True, **kwargs: Any) -> Engine:
    """Create an engine with the per-backend settings the project relies on.

    ``sqlite_immediate=False`` leaves SQLite transactions deferred: reads then never wait
    for a writer (useful for inspection sessions, e.g. in tests), but a read-then-write
    transaction may fail with "database is locked" under contention.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 15}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so a
        # transaction that reads then writes holds its snapshot consistently.
        event.listen(engine, "connect", _sqlite_no_autobegin)
        event.listen(engine, "begin", _sqlite_begin if sqlite_immediate else _sqlite_deferred)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _sqlite_no_autobegin(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout
    # instead of failing with "database is locked" when they upgrade a read.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


# Connections of the asyncio pool per process and event loop. Requests wait for one in
# the loop (no thread is held meanwhile), so a few are enough to keep two cores busy.
ASYNC_POOL_SIZE = 4
# A hot statement never waits longer than this (a hung network, a lock): its callers then
# fall back to their general path instead of queueing behind it.
ASYNC_STATEMENT_TIMEOUT_S = 5.0


async def _decode_json(conn: asyncpg.Connection) -> None:
    """json and jsonb columns arrive as Python values, as they do through psycopg."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=lambda v: v, decoder=orjson.loads
        )


async def _keep(_conn: asyncpg.Connection) -> None:
    """Nothing to reset on release: the pool's connections hold no session state (every
    statement autocommits, nothing is SET or LISTENed), and a reset is a round trip."""


class Database:
    """An engine plus its session factory; one per application or worker process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Per event loop, the task that opens its pool: concurrent first callers share it.
        self._async_pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Task[tuple[asyncpg.Pool, asyncio.Semaphore]]
        ] = weakref.WeakKeyDictionary()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def conninfo(self) -> str:
        """The PostgreSQL URL for the drivers themselves (no SQLAlchemy driver suffix)."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def session(self) -> Session:
        return self.sessionmaker()

    @contextlib.asynccontextmanager
    async def async_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """An asyncpg connection, for the few hot statements that run on the event loop,
        each its own transaction (asyncpg spends about 40 % less CPU per query than psycopg).

        One pool per event loop, since asyncio connections cannot move between loops.
        Callers are served first come, first served: asyncpg's own queue lets a newcomer
        take a connection just released to a waiter, and under load some requests then
        wait seconds. A caller that meets a dead connection falls back to the general
        path; the pool replaces the connection when it is released.
        """
        if not self.is_postgres:
            raise RuntimeError("the asyncio pool is only used on PostgreSQL")
        loop = asyncio.get_running_loop()
        opening = self._async_pools.get(loop)
        if opening is None or (opening.done() and (opening.cancelled() or opening.exception())):
            opening = self._async_pools[loop] = loop.create_task(self._open_async_pool())
        pool, turn = await opening
        async with turn, pool.acquire() as conn:
            yield conn

    async def _open_async_pool(self) -> tuple[asyncpg.Pool, asyncio.Semaphore]:
        import asyncpg

        pool = await asyncpg.create_pool(
            self.conninfo,
            min_size=ASYNC_POOL_SIZE,  # all open from the start: no growth under load
            max_size=ASYNC_POOL_SIZE,
            init=_decode_json,
            reset=_keep,
            command_timeout=ASYNC_STATEMENT_TIMEOUT_S,
            # The hot statements take arrays: PostgreSQL otherwise plans the status-event
            # read afresh on every call (pg_prepared_statements counted 30 custom plans in
            # 30 calls), though its generic plan (index lookups per element) suits any batch.
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )
        return pool, asyncio.Semaphore(ASYNC_POOL_SIZE)  # a fair queue (no barging)

    async def dispose_async(self) -> None:
        """Close the asyncio pool of the running loop (call from the app's shutdown)."""
        opening = self._async_pools.pop(asyncio.get_running_loop(), None)
        if opening is None:
            return
        if not opening.done():
            opening.cancel()
        elif not opening.cancelled() and opening.exception() is None:
            await opening.result()[0].close()

    def dispose(self) -> None:
        self.engine.dispose()


def session_scope(database: Database) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = database.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one transaction per request (see ``core.deps.SessionDep``)."""
    yield from session_scope(request.app.state.database)

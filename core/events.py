"""Domain events: a small publish/subscribe bus that only delivers committed changes.

Services call :func:`emit` inside their transaction. On SQLite the events are handed
to the in-process bus after the commit (and dropped on rollback). On PostgreSQL
``emit`` issues ``pg_notify`` inside the transaction, which PostgreSQL itself delivers
only on commit, to every process that LISTENs: so events from worker processes on
other machines reach the API's live stream too.

The busiest writer (a technician's status event) announces instead, after its
autocommit statement: :meth:`EventBus.announce` batches the events of one event loop
into one statement, as JSON arrays of many events per notification. PostgreSQL
serialises the commits of notifying transactions, so notifying inside each of them
would queue every event behind the previous one's disk flush; announced after the
commit, an event is lost to live listeners only if the process dies in between (the
data itself is committed and reloads with the board).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.db import Database

log = logging.getLogger(__name__)

CHANNEL = "fws_events"
_PENDING = "fws_pending_events"
_NOTIFY_MANY = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p"
# PostgreSQL refuses notification payloads of 8,000 bytes or more; announced events go
# out as JSON arrays up to this size, so a busy second costs a few notifications.
MAX_PAYLOAD = 7_900


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return orjson.dumps({"type": self.type, "data": self.data}, default=str).decode()


def pack(events: list[Event]) -> list[str]:
    """Notification payloads: the events as JSON arrays of at most ``MAX_PAYLOAD`` bytes
    each (an event larger than that alone in its array, for PostgreSQL to refuse)."""
    payloads: list[str] = []
    parts: list[str] = []
    size = 2
    for ev in events:
        item = ev.to_json()
        length = len(item.encode())
        if parts and size + length + 1 > MAX_PAYLOAD:
            payloads.append("[" + ",".join(parts) + "]")
            parts, size = [], 2
        parts.append(item)
        size += length + 1
    if parts:
        payloads.append("[" + ",".join(parts) + "]")
    return payloads


Handler = Callable[[Session, dict[str, Any]], None]
Wants = Callable[[dict[str, Any]], bool]
_IN_TRANSACTION: dict[str, list[tuple[Handler, Wants | None]]] = {}


def on(type_: str, *, when: Wants | None = None) -> Callable[[Handler], Handler]:
    """Register a handler run *inside* the emitting transaction (a domain event).

    This is how one module reacts to another's change without writing its tables: a
    completed job resolves its ticket in the same unit of work, or neither happens.
    ``when`` says from the event's data alone whether the handler has anything to do;
    a writer whose event no handler wants may then skip the general path.
    """

    def register(fn: Handler) -> Handler:
        _IN_TRANSACTION.setdefault(type_, []).append((fn, when))
        return fn

    return register


def handlers_for(type_: str, data: dict[str, Any]) -> tuple[Handler, ...]:
    """The in-transaction handlers that want this event (empty: no handler has work)."""
    return tuple(fn for fn, when in _IN_TRANSACTION.get(type_, ()) if when is None or when(data))


def emit(session: Session, type_: str, data: dict[str, Any]) -> None:
    """Run in-transaction handlers, then queue the event for delivery after commit."""
    for handler in handlers_for(type_, data):
        handler(session, data)
    ev = Event(type_, data)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:ch, :payload)"), {"ch": CHANNEL, "payload": ev.to_json()}
        )
    else:
        session.info.setdefault(_PENDING, []).append(ev)


class Subscription:
    """One listener's queue; iterate it from an asyncio task."""

    def __init__(self, bus: EventBus, maxsize: int = 10_000) -> None:
        self.bus = bus
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)

    def _put(self, events: list[Event]) -> None:
        # A listener that falls this far behind loses events rather than the server memory.
        with contextlib.suppress(asyncio.QueueFull):
            for ev in events:
                self.queue.put_nowait(ev)

    def drain(self) -> list[Event]:
        """The events queued now, without waiting."""
        out: list[Event] = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    async def get(self, timeout: float | None = None) -> Event | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class EventBus:
    """Fan-out of committed events to the subscribers of this process."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()
        self._wanted = threading.Event()  # a first subscriber arrived: start listening
        self._listening = threading.Event()  # LISTEN is in effect on the connection
        self._announced: list[Event] = []
        self._announcer: asyncio.Task[None] | None = None
        self.database: Database | None = None

    # -- wiring -------------------------------------------------------------------------
    def attach(self, database: Database) -> None:
        """Deliver events of sessions made by ``database`` (and LISTEN on PostgreSQL)."""
        self.database = database
        sa_event.listen(database.sessionmaker, "after_commit", self._after_commit)
        sa_event.listen(database.sessionmaker, "after_soft_rollback", self._after_rollback)

    def _after_commit(self, session: Session) -> None:
        for ev in session.info.pop(_PENDING, []):
            self.publish(ev)

    @staticmethod
    def _after_rollback(session: Session, _previous: Any) -> None:
        session.info.pop(_PENDING, None)

    def start(self) -> None:
        """Start the PostgreSQL LISTEN thread (no-op on SQLite)."""
        if self.database is None or not self.database.is_postgres or self._listener:
            return
        self._stop.clear()
        self._listener = threading.Thread(target=self._listen, name="fws-events", daemon=True)
        self._listener.start()

    def wait_listening(self, timeout: float) -> bool:
        """Block until this process receives other processes' events (at once on SQLite,
        where there are none); a subscriber that must not miss the next one waits here."""
        if self.database is None or not self.database.is_postgres:
            return True
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._listening.clear()
        self._stop.set()
        self._wanted.set()
        if self._listener:
            self._listener.join(timeout=3)
            self._listener = None

    def _listen(self) -> None:
        """LISTEN while this process has subscribers, UNLISTEN while it has none: a worker
        process that streams to no one is then not sent every event of the system."""
        import psycopg

        assert self.database is not None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.database.conninfo, autocommit=True) as conn:
                    listening = False
                    while not self._stop.is_set():
                        if self._subs and not listening:
                            conn.execute(f"LISTEN {CHANNEL}")
                            listening = True
                            self._listening.set()
                        elif not self._subs and listening:
                            self._listening.clear()
                            conn.execute(f"UNLISTEN {CHANNEL}")
                            listening = False
                        if not listening:
                            self._wanted.wait(0.5)
                            self._wanted.clear()
                            continue
                        for note in conn.notifies(timeout=0.5):
                            self._deliver_raw(note.payload)
            except Exception:  # the database restarted or the network blinked: reconnect
                self._listening.clear()
                log.warning("event listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(1.0)

    # -- announcing committed changes (PostgreSQL, from the event loop) ------------------
    def announce(self, ev: Event) -> None:
        """Notify every process of ``ev``, whose change is already committed.

        Queued and sent by one task per event loop, one statement for whatever queued
        while the previous one ran: under load, many events per round trip.
        """
        self._announced.append(ev)
        loop = asyncio.get_running_loop()
        task = self._announcer
        if task is None or task.done() or task.get_loop() is not loop:
            self._announcer = loop.create_task(self._announce_queued())

    async def _announce_queued(self) -> None:
        assert self.database is not None
        while self._announced:
            batch, self._announced = self._announced, []
            try:
                async with self.database.async_connection() as conn:
                    await conn.execute(_NOTIFY_MANY, CHANNEL, pack(batch))
            except Exception:  # the changes stand; only their live announcement is lost
                log.warning("could not announce %d committed events", len(batch), exc_info=True)

    async def flush(self) -> None:
        """Wait until this loop's announcements are sent (call before closing the pool)."""
        task = self._announcer
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await task

    def _deliver_raw(self, payload: str) -> None:
        """One notification: an event (``emit``) or an array of them (``announce``)."""
        try:
            raw = orjson.loads(payload)
            items = raw if isinstance(raw, list) else [raw]
            events = [Event(str(r["type"]), dict(r.get("data") or {})) for r in items]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored malformed event payload %r", payload[:200])
            return
        self.publish_many(events)

    # -- fan-out ------------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        with self._lock:
            self._subs.append(sub)
        self._wanted.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish(self, ev: Event) -> None:
        """Thread-safe: callable from request threads, worker threads and the listener."""
        self.publish_many([ev])

    def publish_many(self, events: list[Event]) -> None:
        """``publish`` for a batch: one wake-up of each subscriber's loop, not one per event."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._put, events)
            except RuntimeError:  # the subscriber's loop is gone
                self.unsubscribe(sub)

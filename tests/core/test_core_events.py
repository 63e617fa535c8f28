"""Events reach subscribers only after commit, on SQLite (in process) and PostgreSQL (NOTIFY)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from core.db import Database
from core.events import MAX_PAYLOAD, Event, EventBus, emit, pack

ROOT = Path(__file__).resolve().parents[2]


def test_events_are_delivered_after_commit_and_dropped_on_rollback(
    database: Database, bus: EventBus
) -> None:
    async def scenario() -> list[str]:
        sub = bus.subscribe()
        assert await asyncio.to_thread(bus.wait_listening, 10)
        with database.session() as s:
            emit(s, "job.updated", {"job_id": 1})
            s.rollback()
        with database.session() as s:
            emit(s, "job.created", {"job_id": 2})
            assert await sub.get(timeout=0.2) is None  # not before the commit
            s.commit()
        got = []
        while (ev := await sub.get(timeout=2.0)) is not None:
            got.append(f"{ev.type}:{ev.data['job_id']}")
            if len(got) == 1:
                break
        sub.close()
        return got

    assert asyncio.run(scenario()) == ["job.created:2"]
    assert bus.subscriber_count == 0


def test_postgres_events_cross_processes(database: Database, bus: EventBus) -> None:
    """A worker process's committed event reaches this process's subscribers (NOTIFY)."""
    if not database.is_postgres:
        pytest.skip("SQLite delivers events within one process only")
    url = database.engine.url.render_as_string(hide_password=False)
    code = (
        "from core.db import Database; from core.events import emit\n"
        f"db = Database({url!r})\n"
        "with db.session() as s:\n"
        "    emit(s, 'run.finished', {'run_id': 42, 'status': 'succeeded'})\n"
        "    s.commit()\n"
    )

    async def scenario() -> tuple[str, dict]:
        sub = bus.subscribe()
        assert await asyncio.to_thread(bus.wait_listening, 10)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            env={**os.environ},
            cwd=str(ROOT),
        )
        assert await proc.wait() == 0
        ev = await sub.get(timeout=10)
        sub.close()
        assert ev is not None
        return ev.type, ev.data

    assert asyncio.run(scenario()) == ("run.finished", {"run_id": 42, "status": "succeeded"})


def test_a_burst_of_announced_events_arrives_whole_and_in_order(
    database: Database, bus: EventBus
) -> None:
    """Announced events travel as JSON arrays under PostgreSQL's payload limit: a burst
    of 600 (a dozen notifications) reaches a listener complete and in order."""
    if not database.is_postgres:
        pytest.skip("announcing is PostgreSQL's (after an autocommit write)")
    events = [Event("job.updated", {"job_id": i, "note": "x" * 100}) for i in range(600)]
    payloads = pack(events)
    assert 10 <= len(payloads) <= 15
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)

    async def scenario() -> list[int]:
        sub = bus.subscribe()
        assert await asyncio.to_thread(bus.wait_listening, 10)
        for ev in events:
            bus.announce(ev)
        await bus.flush()
        got: list[int] = []
        while len(got) < len(events) and (ev := await sub.get(timeout=10)) is not None:
            got.append(ev.data["job_id"])
        sub.close()
        await database.dispose_async()
        return got

    assert asyncio.run(scenario()) == list(range(600))

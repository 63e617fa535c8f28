"""Events reach subscribers only after commit, on SQLite (in process) and PostgreSQL (NOTIFY)."""

from __future__ import annotations

import asyncio

from core.db import Database
from core.events import EventBus, emit


def test_events_are_delivered_after_commit_and_dropped_on_rollback(database: Database) -> None:
    bus = EventBus()
    bus.attach(database)
    bus.start()

    async def scenario() -> list[str]:
        sub = bus.subscribe()
        await asyncio.sleep(0.3)  # the PostgreSQL listener connects
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

    try:
        assert asyncio.run(scenario()) == ["job.created:2"]
        assert bus.subscriber_count == 0
    finally:
        bus.stop()

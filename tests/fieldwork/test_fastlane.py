"""How the status-event lane groups events into batches (the database is stood in for:
``test_event_writes`` writes real batches on PostgreSQL)."""

from __future__ import annotations

import asyncio

from fieldwork import fastlane, service
from fieldwork.schemas import EventCreate

BODY = EventCreate.model_validate({"type": "en_route", "at": "2026-11-27T09:00:00+00:00"})


def _event(job_id: int, key: str | None = None, user_id: int = 1) -> service.FastEvent:
    return service.FastEvent(user_id, job_id, BODY, {}, f"/api/v1/jobs/{job_id}/events", key)


def test_events_that_arrive_together_are_written_together_but_never_one_job_twice(
    monkeypatch,
) -> None:
    batches: list[list[tuple[int, int, str | None]]] = []

    async def write(_database, _bus, batch):
        batches.append([(e.user_id, e.job_id, e.key) for e in batch])
        await asyncio.sleep(0.01)  # the database's time: later arrivals gather meanwhile
        return [f"{e.user_id}/{e.job_id}/{e.key}".encode() for e in batch]

    monkeypatch.setattr(service, "record_events_fast", write)
    writer = fastlane._BatchWriter(database=None, bus=None)

    async def scenario() -> list[bytes | None]:
        first = asyncio.ensure_future(writer.record(_event(9)))
        await asyncio.sleep(0)  # the writer starts on the first event alone
        arriving = [
            _event(1),
            _event(1),  # job 1 again: waits for the next batch
            _event(2, "a"),
            _event(3, "a"),  # the same user's key again: waits too
            _event(5, "a", user_id=2),  # another user's key of the same name: no clash
            _event(4),
        ]
        rest = await asyncio.gather(*(writer.record(e) for e in arriving))
        return [await first, *rest]

    answers = asyncio.run(scenario())
    assert batches == [
        [(1, 9, None)],
        [(1, 1, None), (1, 2, "a"), (2, 5, "a"), (1, 4, None)],
        [(1, 1, None), (1, 3, "a")],
    ]
    assert answers == [
        b"1/9/None",
        b"1/1/None",
        b"1/1/None",
        b"1/2/a",
        b"1/3/a",
        b"2/5/a",
        b"1/4/None",
    ]


def test_a_failed_batch_is_left_to_the_route_and_the_next_one_is_written(monkeypatch) -> None:
    calls = 0

    async def write(_database, _bus, batch):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database went away")
        return [b"ok" for _ in batch]

    monkeypatch.setattr(service, "record_events_fast", write)
    writer = fastlane._BatchWriter(database=None, bus=None)

    async def scenario() -> tuple[bytes | None, bytes | None]:
        return await writer.record(_event(1)), await writer.record(_event(2))

    assert asyncio.run(scenario()) == (None, b"ok")

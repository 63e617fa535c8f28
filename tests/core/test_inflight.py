"""Admission control keeps API requests in flight within the connection pool."""

from __future__ import annotations

import asyncio

import pytest

from core.db import Database
from core.inflight import InFlightLimit, pool_capacity


def _app_tracking(state: dict[str, int]):
    async def app(scope, receive, send) -> None:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1

    return app


async def _call(app, path: str) -> None:
    await app({"type": "http", "path": path}, None, None)


@pytest.mark.parametrize(
    ("path", "expected_max"), [("/api/v1/jobs", 2), ("/api/v1/events/stream", 6), ("/board", 6)]
)
def test_requests_beyond_the_limit_wait(path: str, expected_max: int) -> None:
    state = {"now": 0, "max": 0}
    app = InFlightLimit(_app_tracking(state), limit=2, exclude=("/api/v1/events/stream",))

    async def main() -> None:
        await asyncio.gather(*(_call(app, path) for _ in range(6)))

    asyncio.run(main())
    assert state["max"] == expected_max
    state["max"] = 0
    asyncio.run(main())  # a new event loop gets its own semaphore
    assert state["max"] == expected_max


def test_pool_capacity(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}", pool_size=7, max_overflow=3)
    assert pool_capacity(db.engine, reserve=4) == 6
    db.dispose()
    with pytest.raises(ValueError):
        InFlightLimit(_app_tracking({}), limit=0)

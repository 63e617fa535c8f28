"""Admission control: no more API requests in flight per process than database connections.

A request holds its pooled connection from its first query (authentication, in one worker
thread) until its commit (in another), and waits for a free thread in between. With more
requests in flight than connections, every thread can end up waiting for a connection
while every connection's request waits for a thread: a deadlock that only the pool's
timeout breaks, with 500s after 30 s. Queueing requests *before* they acquire anything
keeps the holders within the pool, so a burst of phones reconnecting at once only waits.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send


def pool_capacity(engine: Engine, *, reserve: int = 4) -> int | None:
    """Connections a process may hold at once minus a reserve for background work, or
    ``None`` when the pool is unbounded (nothing to protect)."""
    pool: Any = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", None)
    if not callable(size) or overflow is None or overflow < 0:
        return None
    return max(1, int(size()) + int(overflow) - reserve)


class InFlightLimit:
    """ASGI middleware admitting at most ``limit`` requests under ``prefix`` at a time.

    Paths in ``exclude`` (long-lived streams) are not counted. Each event loop gets its
    own semaphore, so the middleware works under several test clients and workers.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, prefix: str = "/api/", exclude: tuple[str, ...] = ()
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.app = app
        self.limit = limit
        self.prefix = prefix
        self.exclude = exclude
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._semaphores = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(self.prefix)
            or (self.exclude and path.startswith(self.exclude))
        ):
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)

"""``GET /api/v1/events/stream``: committed domain events as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.errors import Forbidden
from core.events import EventBus
from workforce.deps import user_from_token

router = APIRouter(tags=["events"])


def _authorise(request: Request, token: str | None) -> None:
    database = request.app.state.database
    with database.session() as db:
        user = user_from_token(db, request.app.state.settings, token)
        if user.role not in ("admin", "dispatcher"):
            raise Forbidden("The live event stream is for dispatchers and admins.")


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def event_stream(
    request: Request,
    access_token: str | None = Query(default=None, description="JWT (EventSource sets no headers)"),
) -> StreamingResponse:
    """Server-sent events: ``job.*``, ``run.*``, ``plan.published``; ``: ping`` every 15 s."""
    token = access_token
    header = request.headers.get("authorization", "")
    if not token and header.lower().startswith("bearer "):
        token = header[7:].strip()
    await run_in_threadpool(_authorise, request, token)
    bus: EventBus = request.app.state.events
    ping_s: float = request.app.state.settings.sse_ping_s
    sub = bus.subscribe()
    # The response opens once this process hears every other process's events: from the
    # moment the board shows itself live, it misses none.
    try:
        await run_in_threadpool(bus.wait_listening, 5.0)
    except BaseException:  # the client left meanwhile: the body that closes it never runs
        sub.close()
        raise

    async def body() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n: connected\n\n"
            while True:
                ev = await sub.get(timeout=ping_s)
                if await request.is_disconnected():
                    return
                if ev is None:
                    yield ": ping\n\n"
                    continue
                # Whatever queued meanwhile goes out in the same write: a busy hour's
                # events cost one send per batch, not one per event.
                yield "".join(
                    f"event: {e.type}\ndata: {orjson.dumps(e.data, default=str).decode()}\n\n"
                    for e in (ev, *sub.drain())
                )
        finally:
            sub.close()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

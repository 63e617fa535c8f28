"""The status-event write in front of the framework, on PostgreSQL.

``POST /api/v1/jobs/{id}/events`` is most of the API's traffic, and FastAPI's routing,
middleware and dependency solving cost more CPU than the write itself. This ASGI
middleware answers the common case (a valid token, a well-formed body, a fresh key, a
valid move on the technician's own job) with ``service.record_events_fast`` and nothing
else; the application calls it before anything of FastAPI's (``dispatch_api.app``).
Events that arrive while a batch is in the database wait for it and then go together in
the next (one batch at a time per process): under load, the database's cost per statement
and per commit is paid once per batch instead of once per event, and an idle server still
writes each event at once.

Every other request, and every one that path declines (it then wrote nothing), goes on
to the application with the body already read, so 4xx answers, replays and
in-transaction handlers all come from the one route.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import ApiError
from core.idempotency import HEADER, check_key
from fieldwork import service
from fieldwork.routes import MAX_ID
from fieldwork.schemas import EventCreate
from workforce.deps import token_user_id

log = logging.getLogger(__name__)

PATH = re.compile(r"/api/v1/jobs/([1-9][0-9]{0,9})/events")
MAX_BODY = 16_384  # an event is a few hundred bytes; anything larger is the route's to refuse
_KEY_HEADER = HEADER.lower().encode()
MAX_BATCH = 64  # events per batch: bounds one statement's size and its slowest answer


class EventFastLane:
    """ASGI middleware: the event write without routing, on a PostgreSQL database.

    It answers 201 itself and nothing else, so it needs none of what the framework adds
    around a request (error pages, CORS, telemetry)."""

    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app = app
        self.state = state  # the application's state: settings, database, events
        # One writer per event loop (one per process; tests run several loops in turn).
        self._writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _BatchWriter] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        # A larger id than the route's bound is the route's 422.
        if match is None or scope["method"] != "POST" or int(match[1]) > MAX_ID:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = await _read_body(receive, received)
        answer = None
        if body is not None:
            answer = await self._try(scope, int(match[1]), body)
        if answer is None:
            await self.app(scope, _replay(received, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    async def _try(self, scope: Scope, job_id: int, body: bytes) -> bytes | None:
        """The 201 body, or ``None`` (nothing written) when the route must answer."""
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
        if media_type != b"application/json" or b"origin" in headers:
            return None  # other media types and browsers (CORS) take the full stack
        scheme, token = get_authorization_scheme_param(
            headers.get(b"authorization", b"").decode("latin-1")
        )
        key = headers.get(_KEY_HEADER)
        try:
            if scheme.lower() != "bearer":
                return None
            user_id = token_user_id(self.state.settings, token)
            key_text = check_key(None if key is None else key.decode("latin-1"))
            event = EventCreate.model_validate_json(body)
        except (ApiError, ValidationError, UnicodeDecodeError):
            return None
        loop = asyncio.get_running_loop()
        writer = self._writers.get(loop)
        if writer is None:
            writer = self._writers[loop] = _BatchWriter(self.state.database, self.state.events)
        return await writer.record(
            service.FastEvent(
                user_id=user_id,
                job_id=job_id,
                body=event,
                payload=event.model_dump(mode="json"),
                path=scope["path"],
                key=key_text,
            )
        )


@dataclass(slots=True)
class _Waiting:
    event: service.FastEvent
    answer: asyncio.Future[bytes | None]


class _BatchWriter:
    """The events of one event loop, written one batch at a time, each batch holding
    whatever arrived while the last was in the database.

    One batch at a time per process (two processes make two in the database) measured
    both faster and cheaper than two at a time, which split the same events into
    smaller batches.

    A batch never holds two events of one job or one key; the second waits for the next
    batch and is then read afresh, so it gets the answer it would have got alone."""

    def __init__(self, database: Any, bus: Any) -> None:
        self.database, self.bus = database, bus
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._writing: asyncio.Task[None] | None = None

    async def record(self, event: service.FastEvent) -> bytes | None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes | None] = loop.create_future()
        self._waiting.append(_Waiting(event, answer))
        if self._writing is None:
            self._writing = loop.create_task(self._write())
        return await answer

    def _take(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        taken: set[object] = set()
        while self._waiting and len(batch) < MAX_BATCH:
            waiting = self._waiting.popleft()
            marks = _marks(waiting.event)
            if taken.isdisjoint(marks):
                taken.update(marks)
                batch.append(waiting)
            else:
                later.append(waiting)
        self._waiting.extendleft(reversed(later))
        return batch

    async def _write(self) -> None:
        try:
            while batch := self._take():
                try:
                    answers = await service.record_events_fast(
                        self.database, self.bus, [w.event for w in batch]
                    )
                except Exception:  # outside the framework's error handling: the route answers
                    log.exception("the status-event lane failed; the route answers instead")
                    answers = [None] * len(batch)
                for waiting, answer in zip(batch, answers, strict=True):
                    if not waiting.answer.done():  # its request may have been cancelled
                        waiting.answer.set_result(answer)
        finally:
            self._writing = None


def _marks(event: service.FastEvent) -> tuple[object, ...]:
    """What two events written together must not share: the job, and the key."""
    if event.key is None:
        return (event.job_id,)
    return (event.job_id, (event.user_id, event.key))


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole request body (every message kept in ``received``), or ``None`` when
    the client left or sent more than ``MAX_BODY``."""
    size, more = 0, True
    while more:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return None
        more = message.get("more_body", False)
    return b"".join(m.get("body", b"") for m in received)


def _replay(received: list[Message], receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that gives the messages already read, then the client's own."""
    pending = list(received)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay

"""Idempotent writes: a retried request with the same ``Idempotency-Key`` has one effect.

Phones retry whatever they did not see answered. Each technician write may carry an
``Idempotency-Key``; the first request with a key *claims* it by inserting a row under a
unique ``(user_id, key)`` constraint before doing anything else, and stores its response
in that same row, in the same transaction as its effect. So:

- a retry after success finds the row and gets the stored status and body back, with
  ``Idempotent-Replay: true``, and nothing runs again;
- a crash before commit loses both the effect and the row, so a retry simply runs;
- two copies racing each other: the second's claim waits on the unique index (PostgreSQL)
  or on the write lock (SQLite) until the first commits, fails, and replays the winner;
- the same key with another payload is refused (422 ``idempotency_key_reused``): the
  request fingerprint is a hash of method, path and the *parsed* payload, so a retried
  multipart upload with a fresh boundary still matches.

Only successful responses are stored: a refused request changed nothing, and the
transaction that would have recorded it is rolled back with the error, so a retry runs
the request again (and usually gets the same refusal).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import JSON, Integer, String, UniqueConstraint, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, UTCDateTime, utcnow
from core.errors import ApiError, ValidationFailed

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replay"
MAX_KEY_LENGTH = 200
# How long a key is remembered; a phone offline for longer than this is unlikely, and
# old rows are purged by :func:`purge_expired`.
RETENTION = dt.timedelta(days=7)


class IdempotencyRecord(Base):
    """A key whose request succeeded, with the response it got."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_records_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response_body: Mapped[Any] = mapped_column(JSON, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, index=True
    )


_RECORDS = IdempotencyRecord.__table__


# Built once and run on the session's connection (no ORM layer): composing the statement
# per request, and the ORM's execution path, cost more than running it.
_INSERT = insert(_RECORDS)


def _plain_json(body: Any) -> Any:
    """``body`` as JSON values; most actions already return them (``model_dump(mode="json")``),
    which ``json.dumps`` confirms much faster than the general encoder rebuilds them."""
    try:
        json.dumps(body)
    except (TypeError, ValueError):
        return jsonable_encoder(body)
    return body


class IdempotencyKeyReused(ApiError):
    status_code, code = 422, "idempotency_key_reused"


def fingerprint(method: str, path: str, payload: Any) -> str:
    """A stable hash of what a request asks for (``payload`` must be JSON-able)."""
    try:  # already plain JSON (a model_dump(mode="json")): same text, without the encoder
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except TypeError:
        canonical = json.dumps(
            jsonable_encoder(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str | None) -> str | None:
    """Validate the header value (absent is fine: the request is then not deduplicated)."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            f"header.{HEADER}: must be 1 to {MAX_KEY_LENGTH} printable characters"
        )
    return key


def _replay(record: IdempotencyRecord, request_hash: str) -> JSONResponse:
    """The stored response of the key, or 422 when it was used for another request."""
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"header.{HEADER}: this key was already used for a different request; "
            "send a new key for a new request",
            key=record.key,
        )
    return JSONResponse(
        record.response_body, status_code=record.status_code, headers={REPLAY_HEADER: "true"}
    )


def _find(db: Session, user_id: int, key: str) -> IdempotencyRecord | None:
    return db.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
        )
    ).one_or_none()


def run_idempotent(
    db: Session,
    *,
    user_id: int,
    key: str | None,
    method: str,
    path: str,
    payload: Any,
    status_code: int,
    action: Callable[[], Any],
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Run ``action`` at most once per ``(user_id, key)`` and answer with its result.

    ``action`` performs the effect in ``db`` (flushing, not committing) and returns the
    JSON-able response body. Without a key the action simply runs.

    A fresh key (the common case) costs a single INSERT, written after the effect with the
    response in it. A key seen before is detected when that INSERT collides with the
    stored row, or earlier when the effect itself is refused because it was already
    applied (a status event that no longer fits, stock already taken): the transaction is
    then rolled back, effect included, and the stored response is replayed. On PostgreSQL
    a concurrent copy waits on the row locks and the unique index until the first commits,
    and so ends up replaying it.
    """
    key = check_key(key)
    if key is None:
        return JSONResponse(_plain_json(action()), status_code=status_code, headers=headers)
    request_hash = fingerprint(method, path, payload)
    try:
        body = _plain_json(action())
        db.flush()  # the effect's pending rows first, as an ORM statement would
        db.connection().execute(
            _INSERT,
            {
                "user_id": user_id,
                "key": key,
                "request_hash": request_hash,
                "method": method.upper(),
                "path": path,
                "status_code": status_code,
                "response_body": body,
                "created_at": utcnow(),
            },
        )
    except (ApiError, IntegrityError):
        db.rollback()
        existing = _find(db, user_id, key)
        if existing is None:
            raise  # a genuine refusal: nothing was stored, nothing changed
        return _replay(existing, request_hash)
    return JSONResponse(body, status_code=status_code, headers=headers)


def purge_expired(db: Session, *, now: dt.datetime | None = None) -> int:
    """Forget keys older than :data:`RETENTION`; returns how many were removed."""
    cutoff = (now or utcnow()) - RETENTION
    result = db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(result.rowcount or 0)

"""Persistent outbox: every technician action is stored here before anything is sent.

Why: phones lose signal and get killed. An action is written to SQLite together with its
idempotency key in one commit before the first send, so a crash at any point either leaves it
pending (and it is sent again with the *same* key, which the server answers by replaying the
first response) or marks it done. Nothing is lost and nothing is applied twice.

Actions are sent strictly in the order they were taken (a status change must not overtake the
previous one); a transient failure holds the queue and retries with exponential backoff, a
rejection is recorded on the action for the technician to see and the queue moves on.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mobile_app.api import AuthError, RejectedError, TransientError

PENDING = "pending"
DONE = "done"
FAILED = "failed"
DISMISSED = "dismissed"

KINDS = ("event", "note", "photo", "used_item", "location")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    job_id INTEGER,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    error_status INTEGER,
    error_code TEXT,
    error_detail TEXT,
    error_body TEXT,
    result TEXT,
    created_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS actions_state ON actions(state, id);
CREATE INDEX IF NOT EXISTS actions_job ON actions(job_id, id);
"""


@dataclass(frozen=True)
class Action:
    """One queued technician action, as stored."""

    id: int
    key: str
    kind: str
    job_id: int | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    error_status: int | None
    error_code: str | None
    error_detail: str | None
    error_body: dict[str, Any]
    result: dict[str, Any] | None
    created_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Action:
        return cls(
            id=row["id"],
            key=row["key"],
            kind=row["kind"],
            job_id=row["job_id"],
            payload=json.loads(row["payload"]),
            state=row["state"],
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
            error_status=row["error_status"],
            error_code=row["error_code"],
            error_detail=row["error_detail"],
            error_body=json.loads(row["error_body"]) if row["error_body"] else {},
            result=json.loads(row["result"]) if row["result"] else None,
            created_at=row["created_at"],
        )


class Outbox:
    """The SQLite-backed queue. Safe to use from the UI thread and the sender thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        job_id: int | None = None,
        key: str | None = None,
    ) -> Action:
        """Store an action and its idempotency key durably; sending happens later."""
        if kind not in KINDS:
            raise ValueError(f"kind: unknown action {kind!r}")
        key = key or str(uuid.uuid4())
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO actions (key, kind, job_id, payload, created_at) VALUES (?,?,?,?,?)",
                (key, kind, job_id, json.dumps(payload), time.time()),
            )
            return self.get(cur.lastrowid)

    def get(self, action_id: int) -> Action:
        with self._lock:
            row = self._db.execute("SELECT * FROM actions WHERE id = ?", (action_id,)).fetchone()
        if row is None:
            raise KeyError(action_id)
        return Action.from_row(row)

    def _select(self, where: str, args: tuple[Any, ...] = (), limit: int = -1) -> list[Action]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM actions WHERE {where} ORDER BY id LIMIT {int(limit)}", args
            )
            return [Action.from_row(r) for r in rows.fetchall()]

    def by_state(self, state: str) -> list[Action]:
        return self._select("state = ?", (state,))

    def pending(self) -> list[Action]:
        return self.by_state(PENDING)

    def failed(self) -> list[Action]:
        return self.by_state(FAILED)

    def for_job(self, job_id: int, states: tuple[str, ...] = (PENDING, FAILED)) -> list[Action]:
        marks = ",".join("?" * len(states))
        return self._select(f"job_id = ? AND state IN ({marks})", (job_id, *states))

    def head(self) -> Action | None:
        """The oldest pending action: nothing behind it may be sent before it."""
        found = self._select("state = ?", (PENDING,), limit=1)
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM actions GROUP BY state")
            out = {PENDING: 0, FAILED: 0, DONE: 0, DISMISSED: 0}
            out.update({state: n for state, n in rows.fetchall()})
            return out

    def mark_done(self, action_id: int, result: dict[str, Any] | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE actions SET state=?, result=?, sent_at=?, error_detail=NULL WHERE id=?",
                (DONE, json.dumps(result), time.time(), action_id),
            )

    def mark_retry(self, action_id: int, error: str, delay: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE actions SET attempts=attempts+1, next_attempt_at=?, error_detail=? "
                "WHERE id=?",
                (time.time() + delay, error, action_id),
            )

    def mark_failed(self, action_id: int, error: RejectedError) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE actions SET state=?, attempts=attempts+1, error_status=?, error_code=?, "
                "error_detail=?, error_body=? WHERE id=?",
                (
                    FAILED,
                    error.status,
                    error.code,
                    error.detail,
                    json.dumps(error.body),
                    action_id,
                ),
            )

    def dismiss(self, action_id: int) -> None:
        """The technician has read a rejection and drops the action."""
        with self._lock:
            self._db.execute(
                "UPDATE actions SET state=? WHERE id=? AND state=?",
                (DISMISSED, action_id, FAILED),
            )

    def requeue(self, action_id: int, payload: dict[str, Any] | None = None) -> Action:
        """Send a rejected action again, possibly corrected, as a new action at the end.

        It gets a fresh key: the first attempt had no effect, and the server would replay its
        refusal for the old key (or refuse a changed payload under it).
        """
        with self._lock:
            old = self.get(action_id)
            if old.state != FAILED:
                raise ValueError(f"action {action_id} is {old.state}, only a rejection is resent")
            self.dismiss(action_id)
            return self.enqueue(old.kind, payload or old.payload, job_id=old.job_id)

    def reset_backoff(self) -> None:
        """Try the head again now (the technician tapped "sync" or the network came back)."""
        with self._lock:
            self._db.execute("UPDATE actions SET next_attempt_at=0 WHERE state=?", (PENDING,))

    def purge_done(self, older_than_s: float = 7 * 24 * 3600) -> int:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM actions WHERE state IN (?,?) AND created_at < ?",
                (DONE, DISMISSED, time.time() - older_than_s),
            )
            return cur.rowcount


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: base * 2**(attempt-1), capped, times 0.8..1.2."""

    base_s: float = 2.0
    cap_s: float = 300.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        raw = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)


SendFn = Callable[[Action, Callable[[int, int], None]], dict[str, Any] | None]


class OutboxSender:
    """Drains the outbox in order on its own thread; never touches widgets.

    ``send`` performs one action over HTTP. The callbacks run on the sender thread; the app
    hops to the UI thread with ``@mainthread`` / ``Clock``.
    """

    def __init__(
        self,
        outbox: Outbox,
        send: SendFn,
        *,
        backoff: Backoff | None = None,
        on_change: Callable[[], None] | None = None,
        on_result: Callable[[Action, dict[str, Any] | None], None] | None = None,
        on_rejected: Callable[[Action], None] | None = None,
        on_auth_required: Callable[[], None] | None = None,
        on_progress: Callable[[Action, int, int], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.send = send
        self.backoff = backoff or Backoff()
        self.on_change = on_change
        self.on_result = on_result
        self.on_rejected = on_rejected
        self.on_auth_required = on_auth_required
        self.on_progress = on_progress
        self.paused = False
        self.online: bool | None = None
        self.last_error: str = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()

    # -- one pass, usable without a thread (tests, "sync now") --------------------------
    def run_once(self, now: float | None = None) -> float | None:
        """Send every due action in order; return seconds until the next try, or None."""
        with self._busy:
            while not self._stop.is_set():
                if self.paused:
                    return None
                action = self.outbox.head()
                if action is None:
                    return None
                wait = action.next_attempt_at - (now if now is not None else time.time())
                if wait > 0:
                    return wait
                if not self._send_one(action):
                    head = self.outbox.head()
                    if head is None or self.paused:
                        return None
                    return max(0.0, head.next_attempt_at - time.time())
            return None

    def _send_one(self, action: Action) -> bool:
        """Send one action; False when the queue must stop here for now."""

        def progress(sent: int, total: int) -> None:
            if self.on_progress:
                self.on_progress(action, sent, total)

        try:
            result = self.send(action, progress)
        except AuthError as exc:
            self.paused = True
            self.last_error = exc.detail
            self._notify(self.on_auth_required)
            self._notify(self.on_change)
            return False
        except TransientError as exc:
            self.online = exc.status is not None
            self.last_error = exc.detail
            self.outbox.mark_retry(action.id, exc.detail, self.backoff.delay(action.attempts + 1))
            self._notify(self.on_change)
            return False
        except RejectedError as exc:
            self.online = True
            self.outbox.mark_failed(action.id, exc)
            if self.on_rejected:
                self.on_rejected(self.outbox.get(action.id))
            self._notify(self.on_change)
            return True
        self.online = True
        self.last_error = ""
        self.outbox.mark_done(action.id, result)
        if self.on_result:
            self.on_result(action, result)
        self._notify(self.on_change)
        return True

    @staticmethod
    def _notify(fn: Callable[[], None] | None) -> None:
        if fn:
            fn()

    # -- background thread --------------------------------------------------------------
    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="outbox-sender", daemon=True)
        self._thread.start()

    def kick(self, reset_backoff: bool = False) -> None:
        """Wake the sender (new action, network back, or the technician asked to sync)."""
        if reset_backoff:
            self.outbox.reset_backoff()
        self._wake.set()

    def resume(self) -> None:
        self.paused = False
        self.kick(reset_backoff=True)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.run_once()
            except Exception as exc:  # a bug must not kill the sync thread for the day
                self.last_error = f"sync error: {exc}"
                delay = 30.0
            self._wake.wait(timeout=delay if delay is not None else 60.0)
            self._wake.clear()

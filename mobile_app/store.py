"""Local copy of what the server last said, so the technician can work without signal.

Jobs, their notes/photos/used items and the van's stock are kept in one SQLite file in the
app's ``user_data_dir``. What the technician did since (the outbox) is laid over this copy by
:mod:`mobile_app.localview`; the copy itself only ever holds server answers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    day TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    body TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_day ON jobs(day, sort_key);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


def _sort_key(job: dict[str, Any]) -> str:
    assignment = job.get("assignment") or {}
    seq = assignment.get("sequence")
    start = assignment.get("planned_start") or ""
    return f"{start}|{int(seq) if seq is not None else 9999:05d}|{job.get('id', 0):09d}"


class Store:
    """A small thread-safe cache; every value is JSON."""

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- key/value ----------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value, "
                "updated_at=excluded.updated_at",
                (key, json.dumps(value), time.time()),
            )

    # -- jobs ---------------------------------------------------------------------------
    def replace_day(
        self, day: str, jobs: list[dict[str, Any]], keep: set[int] | frozenset[int] = frozenset()
    ) -> None:
        """Store the server's list for ``day``; jobs no longer in it were taken away.

        A job in ``keep`` (it still has queued or refused actions) stays, marked ``_gone``, so
        the technician sees what happened to their work instead of it vanishing.
        """
        now = time.time()
        listed = {job["id"] for job in jobs}
        with self._lock:
            newer = {
                job["id"]: json.dumps(cached)
                for job in jobs
                if (cached := self.job(job["id"])) is not None
                and int(cached.get("version") or 0) > int(job.get("version") or 0)
            }
            self._db.execute("BEGIN")
            try:
                for job_id in set(keep) - listed:
                    self._mark_gone(job_id)
                self._db.execute(
                    f"DELETE FROM jobs WHERE day=? AND id NOT IN ({','.join('?' * len(keep))})",
                    (day, *keep),
                )
                for job in jobs:
                    self._db.execute(
                        "INSERT OR REPLACE INTO jobs (id, day, sort_key, body, fetched_at) "
                        "VALUES (?,?,?,?,?)",
                        (job["id"], job.get("date") or day, _sort_key(job), json.dumps(job), now),
                    )
                # A list read before an event's answer arrived must not roll the job back.
                for job_id, body in newer.items():
                    self._db.execute("UPDATE jobs SET body=? WHERE id=?", (body, job_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self.put(f"day:{day}", {"count": len(jobs)})

    def put_job(self, job: dict[str, Any]) -> None:
        """Store one fresh job (from a GET or from an event's answer), never an older one."""
        with self._lock:
            row = self._db.execute("SELECT day, body FROM jobs WHERE id=?", (job["id"],)).fetchone()
            if row is not None:
                cached = json.loads(row["body"])
                if int(cached.get("version") or 0) > int(job.get("version") or 0):
                    return
            day = job.get("date") or (row["day"] if row else "")
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (id, day, sort_key, body, fetched_at) "
                "VALUES (?,?,?,?,?)",
                (job["id"], day, _sort_key(job), json.dumps(job), time.time()),
            )

    def _mark_gone(self, job_id: int) -> None:
        row = self._db.execute("SELECT body FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is not None:
            body = dict(json.loads(row["body"]), _gone=True)
            self._db.execute("UPDATE jobs SET body=? WHERE id=?", (json.dumps(body), job_id))

    def mark_gone(self, job_id: int) -> None:
        """The server no longer shows this job to the technician (reassigned or removed)."""
        with self._lock:
            self._mark_gone(job_id)

    def drop_job(self, job_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))

    def jobs_for(self, day: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM jobs WHERE day=? ORDER BY sort_key", (day,)
            ).fetchall()
        return [json.loads(r["body"]) for r in rows]

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM jobs WHERE id=?", (job_id,)).fetchone()
        return json.loads(row["body"]) if row else None

    def day_known(self, day: str) -> bool:
        return self.get(f"day:{day}") is not None

    # -- per-job lists and stock --------------------------------------------------------
    def job_list(self, kind: str, job_id: int) -> list[dict[str, Any]]:
        return self.get(f"{kind}:{job_id}", [])

    def put_job_list(self, kind: str, job_id: int, items: list[dict[str, Any]]) -> None:
        self.put(f"{kind}:{job_id}", items)

    def merge_job_list(self, kind: str, job_id: int, fresh: list[dict[str, Any]]) -> None:
        """Store the server's list, keeping entries it did not list yet.

        Notes, photos and used items are append-only, so an entry missing from ``fresh`` was
        added (by the outbox) after that list was read; local extras such as ``local_path``
        survive too.
        """
        with self._lock:
            known = {item.get("id"): item for item in self.job_list(kind, job_id)}
            merged = [dict(known.get(item.get("id"), {}), **item) for item in fresh]
            listed = {item.get("id") for item in fresh}
            merged += [item for key, item in known.items() if key not in listed]
            merged.sort(key=lambda item: (str(item.get("created_at") or ""), item.get("id") or 0))
            self.put_job_list(kind, job_id, merged)

    def append_job_list(self, kind: str, job_id: int, item: dict[str, Any]) -> None:
        with self._lock:
            items = [i for i in self.job_list(kind, job_id) if i.get("id") != item.get("id")]
            items.append(item)
            self.put_job_list(kind, job_id, items)

    def stock(self) -> list[dict[str, Any]]:
        return self.get("stock", [])

    def put_stock(self, stock: list[dict[str, Any]]) -> None:
        self.put("stock", stock)

    def set_stock_remaining(self, sku: str, remaining: int) -> None:
        """Apply the ``remaining`` a used-item answer reports for the van."""
        with self._lock:
            stock = self.stock()
            for line in stock:
                if line.get("sku") == sku:
                    line["quantity"] = remaining
            self.put_stock(stock)

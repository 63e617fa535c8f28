"""A small in-memory stand-in for the dispatch API, behind ``httpx.MockTransport``.

Only for the outbox's unit tests (ordering, backoff, replay, rejections); the same behaviours
are checked against the real server in test_mobile_live_sync.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

TRANSITIONS = {
    "dispatched": ("en_route", "cancelled"),
    "en_route": ("on_site", "cancelled"),
    "on_site": ("completed", "incomplete", "cancelled"),
}


class FakeDispatch:
    """Jobs, notes and van stock for one technician, with idempotency keys honoured."""

    def __init__(self) -> None:
        self.down = False
        self.drop_responses = 0
        self.fail_5xx = 0
        self.token = "tok"
        self.jobs: dict[int, dict[str, Any]] = {
            1: {"id": 1, "status": "dispatched", "reference": "J-1"},
            2: {"id": 2, "status": "dispatched", "reference": "J-2"},
        }
        self.notes: list[dict[str, Any]] = []
        self.stock = {"ONT-G2": 2}
        self.seen: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, str | None]] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        self.requests.append((request.method, request.url.path, key))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.fail_5xx:
            self.fail_5xx -= 1
            return httpx.Response(503, json={"detail": "Busy.", "code": "unavailable"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"detail": "Not logged in.", "code": "unauthorized"})
        if key and key in self.seen:
            status, body = self.seen[key]
            response = httpx.Response(status, json=body, headers={"Idempotent-Replay": "true"})
        else:
            status, body = self.apply(request)
            if key and status < 400:
                self.seen[key] = (status, body)
            response = httpx.Response(status, json=body)
        if self.drop_responses:
            self.drop_responses -= 1
            raise httpx.ReadError("connection reset after the request", request=request)
        return response

    def apply(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/api/v1/jobs/(\d+)/(events|notes|used-items)", request.url.path)
        if not match:
            return 404, {"detail": "Not found.", "code": "not_found"}
        job = self.jobs.get(int(match[1]))
        if job is None:
            return 404, {"detail": "Job not found.", "code": "not_found"}
        payload = json.loads(request.content)
        if match[2] == "events":
            allowed = TRANSITIONS.get(job["status"], ())
            if payload["type"] not in allowed:
                return 409, {
                    "detail": f"A job cannot go from {job['status']!r} to {payload['type']!r}.",
                    "code": "invalid_transition",
                    "current_status": job["status"],
                    "allowed": list(allowed),
                }
            job["status"] = payload["type"]
            return 201, {"id": len(self.requests), "type": payload["type"], "job": dict(job)}
        if match[2] == "notes":
            note = {"id": len(self.notes) + 1, "job_id": job["id"], "text": payload["text"]}
            self.notes.append(note)
            return 201, note
        have = self.stock.get(payload["sku"], 0)
        if payload["quantity"] > have:
            return 409, {
                "detail": f"Only {have} of {payload['sku']} in the van.",
                "code": "insufficient_stock",
                "sku": payload["sku"],
                "available": have,
            }
        self.stock[payload["sku"]] = have - payload["quantity"]
        return 201, dict(payload, id=1, job_id=job["id"], remaining=self.stock[payload["sku"]])

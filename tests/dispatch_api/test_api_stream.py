"""The live event stream over a real HTTP server (SSE needs a real socket)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _token(base: str, username: str, password: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password})
    return r.json()["access_token"]


def test_stream_delivers_committed_events_and_pings(
    server: str, make_user, make_technician
) -> None:
    make_user("dispatcher", username="disp", password="pw-disp")
    make_technician(username="tech9")
    token = _token(server, "disp", "pw-disp")
    tech_token = _token(server, "tech9", "tech9")
    r = httpx.get(f"{server}/api/v1/events/stream", params={"access_token": tech_token})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert httpx.get(f"{server}/api/v1/events/stream").status_code == 401

    events: list[tuple[str, dict]] = []
    pings = 0
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "GET", f"{server}/api/v1/events/stream", params={"access_token": token}
        ) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        created = False
        kind = None
        deadline = time.monotonic() + 15
        for line in stream.iter_lines():
            if line.startswith(": ping"):
                pings += 1
            if line.startswith(": connected") and not created:
                body = {
                    "location": {"lat": 48.8, "lon": 2.3},
                    "duration_min": 30,
                    "date": "2030-01-02",
                    "title": "Streamed",
                }
                r = httpx.post(
                    f"{server}/api/v1/jobs", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert r.status_code == 201
                created = True
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                events.append((kind, json.loads(line[6:])))
                kind = None
            if (events and pings) or time.monotonic() > deadline:
                break
    assert events and events[0][0] == "job.created"
    assert events[0][1]["status"] == "open" and events[0][1]["version"] == 1
    assert pings >= 1

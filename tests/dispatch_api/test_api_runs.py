"""Optimisation runs end to end: queue -> worker -> draft plan -> diff -> publish, the 409s,
and a worker killed mid-run (no partial plan; the run is failed on recovery)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from core.db import Database
from core.errors import Conflict
from core.settings import Settings
from workforce.models import OptimizationRun, PlanVersion, PlanVisit
from workforce.runs import create_run, recover_runs

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date.today() + dt.timedelta(days=1)


def _at(hour: int, minute: int = 0) -> str:
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=dt.UTC).isoformat()


@pytest.fixture
def start_worker(db_url: str) -> Iterator[Callable[[], subprocess.Popen]]:
    """Start ``python -m dispatch_api worker`` processes on the test database."""
    procs: list[subprocess.Popen] = []

    def _start() -> subprocess.Popen:
        env = {**os.environ, "FWS_DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatch_api", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _wait(
    client: TestClient, h: dict, run_id: int, done: Callable[[dict], bool], timeout: float = 90
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/optimization-runs/{run_id}", headers=h).json()
        if done(run):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached the state: {run}")


def test_run_lifecycle_publish_and_conflicts(
    client: TestClient, auth_headers, make_technician, make_job, db_url, start_worker
) -> None:
    h = auth_headers("dispatcher")
    if db_url.startswith("postgresql"):
        start_worker()  # the procrastinate queue needs a worker; SQLite runs in-process
    a = make_technician(skills={"fiber": 3}, home_base={"lat": 48.85, "lon": 2.35})
    b = make_technician(skills={"fiber": 2}, home_base={"lat": 48.86, "lon": 2.36})
    jobs = [
        make_job(location={"lat": 48.85 + k * 0.004, "lon": 2.34 + k * 0.003}) for k in range(5)
    ]
    impossible = make_job(skills={"radio": 5})
    pinned = make_job()
    etag = client.get(f"/api/v1/jobs/{pinned.id}", headers=h).headers["ETag"]
    r = client.patch(
        f"/api/v1/jobs/{pinned.id}/assignment",
        headers={**h, "If-Match": etag},
        json={"technician_id": b.id, "start": _at(10), "pinned": True},
    )
    assert r.status_code == 200, r.text

    body = {"date_from": DAY.isoformat(), "time_limit_s": 2}
    r = client.post("/api/v1/optimization-runs", json=body, headers=h)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued" and run["plan_version_id"] is None
    r = client.post("/api/v1/optimization-runs", json={**body, "technician_ids": [a.id]}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    # Another day does not overlap.
    other = {"date_from": (DAY + dt.timedelta(days=5)).isoformat(), "time_limit_s": 1}
    assert client.post("/api/v1/optimization-runs", json=other, headers=h).status_code == 202

    run = _wait(client, h, run["id"], lambda x: x["status"] in ("succeeded", "failed"))
    assert run["status"] == "succeeded", run["error"]
    assert run["progress"]["percent"] == 100.0 and run["started_at"] and run["finished_at"]
    assert run["kpis"]["jobs_assigned"] >= 5 and run["kpis"]["jobs_unassigned"] >= 1
    version_id = run["plan_version_id"]
    version = client.get(f"/api/v1/plan-versions/{version_id}", headers=h).json()
    assert version["status"] == "draft" and version["run_id"] == run["id"]

    diff = client.get(f"/api/v1/plan-versions/{version_id}/diff", headers=h).json()
    assert {d["job_id"] for d in diff["newly_assigned"]} >= {j.id for j in jobs}
    assert pinned.id not in {d["job_id"] for k in diff for d in diff[k]}

    # Nothing changes before publishing.
    sched = client.get(f"/api/v1/schedules/{DAY}", headers=h).json()
    assert sched["kpis"]["jobs_assigned"] == 1 and sched["plan_version_id"] is None

    r = client.post(f"/api/v1/plan-versions/{version_id}/publish", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published" and r.json()["changed_jobs"] >= 5
    sched = client.get(f"/api/v1/schedules/{DAY}", headers=h).json()
    assert sched["plan_version_id"] == version_id
    assert sched["kpis"]["jobs_assigned"] >= 6
    reasons = {u["job"]["id"]: u["reason"] for u in sched["unassigned"]}
    assert reasons[impossible.id] in ("skill_level", "skill")
    kept = client.get(f"/api/v1/jobs/{pinned.id}", headers=h).json()
    assert kept["assignment"]["technician_id"] == b.id
    assert kept["assignment"]["planned_start"] == _at(10)
    for j in jobs:
        assert client.get(f"/api/v1/jobs/{j.id}", headers=h).json()["status"] == "dispatched"

    assert client.post(f"/api/v1/plan-versions/{version_id}/publish", headers=h).status_code == 409
    assert client.post(f"/api/v1/plan-versions/{version_id}/discard", headers=h).status_code == 409

    # A second run; a job it would move changes meanwhile -> publishing is refused.
    r = client.post(
        "/api/v1/optimization-runs", json={**body, "seed": 3, "time_limit_s": 1}, headers=h
    )
    assert r.status_code == 202
    run2 = _wait(client, h, r.json()["id"], lambda x: x["status"] in ("succeeded", "failed"))
    assert run2["status"] == "succeeded"
    v2 = run2["plan_version_id"]
    # Unassign a job behind the plan's back: the draft still expects it assigned.
    target = jobs[0]
    etag = client.get(f"/api/v1/jobs/{target.id}", headers=h).headers["ETag"]
    client.patch(
        f"/api/v1/jobs/{target.id}/assignment",
        headers={**h, "If-Match": etag},
        json={"technician_id": None},
    )
    r = client.post(f"/api/v1/plan-versions/{v2}/publish", headers=h)
    assert r.status_code == 409 and target.reference in r.json()["jobs"]
    r = client.post(f"/api/v1/plan-versions/{v2}/discard", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "discarded"
    listed = client.get("/api/v1/optimization-runs", headers=h)
    assert listed.headers["X-Total-Count"] == "3"


@pytest.fixture
def external_settings(settings: Settings) -> Settings:
    """No in-process worker: runs wait for a worker process."""
    return settings.model_copy(update={"inprocess_worker": False})


def test_worker_killed_mid_run_leaves_no_plan_and_is_failed(
    external_settings: Settings,
    auth_headers,
    make_technician,
    make_job,
    start_worker,
    database: Database,
) -> None:
    from dispatch_api.app import create_app

    for k in range(3):
        make_technician(home_base={"lat": 48.85 + k * 0.01, "lon": 2.35})
    for k in range(40):
        make_job(
            location={"lat": 48.80 + (k % 8) * 0.015, "lon": 2.28 + (k // 8) * 0.02},
            duration_min=30,
        )
    with TestClient(create_app(external_settings)) as client:
        h = auth_headers("dispatcher")
        body = {"date_from": DAY.isoformat(), "time_limit_s": 60}
        run = client.post("/api/v1/optimization-runs", json=body, headers=h).json()
        time.sleep(0.5)
        assert (
            client.get(f"/api/v1/optimization-runs/{run['id']}", headers=h).json()["status"]
            == "queued"
        )
        worker = start_worker()
        running = _wait(client, h, run["id"], lambda x: x["status"] != "queued", timeout=60)
        assert running["status"] == "running"
        time.sleep(1.5)  # well into the solve
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

        with database.session() as s:
            assert s.scalar(select(func.count()).select_from(PlanVersion)) == 0
            assert s.scalar(select(func.count()).select_from(PlanVisit)) == 0
            assert s.get(OptimizationRun, run["id"]).status == "running"
        # Every worker (and the API's own runner) recovers such runs when it starts.
        assert recover_runs(database, stale_after_s=120) == [run["id"]]
        failed = client.get(f"/api/v1/optimization-runs/{run['id']}", headers=h).json()
        assert failed["status"] == "failed" and "worker" in failed["error"]
        assert failed["plan_version_id"] is None
        r = client.post("/api/v1/optimization-runs", json={**body, "time_limit_s": 1}, headers=h)
        assert r.status_code == 202


def test_recovery_uses_heartbeats_for_workers_elsewhere(database: Database, session) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [
        OptimizationRun(
            status="running",
            date_from=DAY,
            date_to=DAY,
            worker_id="far:1",
            heartbeat_at=now - dt.timedelta(minutes=10),
        ),
        OptimizationRun(
            status="running", date_from=DAY, date_to=DAY, worker_id="far:2", heartbeat_at=now
        ),
        OptimizationRun(
            status="succeeded",
            date_from=DAY,
            date_to=DAY,
            worker_id="far:3",
            heartbeat_at=now - dt.timedelta(minutes=10),
        ),
    ]
    session.add_all(rows)
    session.commit()
    assert recover_runs(database, stale_after_s=120) == [rows[0].id]
    # A new run over the same scope is not blocked by a run whose worker went silent.
    session.execute(update(OptimizationRun).values(heartbeat_at=now - dt.timedelta(hours=1)))
    session.commit()

    def new_run(stale_after_s: float) -> OptimizationRun:
        return create_run(
            db=session,
            date_from=DAY,
            date_to=DAY,
            territory=None,
            technician_ids=None,
            time_limit_s=1,
            stale_after_s=stale_after_s,
        )

    with pytest.raises(Conflict):
        new_run(stale_after_s=7200)
    session.rollback()
    fresh = new_run(stale_after_s=120)
    session.commit()
    assert fresh.status == "queued"
    assert session.get(OptimizationRun, rows[1].id).status == "failed"
    assert recover_runs(database, stale_after_s=120) == []


def test_api_restart_fails_runs_of_dead_workers_and_resumes_queued_ones(
    settings: Settings, session, auth_headers, make_technician, make_job
) -> None:
    import socket

    from dispatch_api.app import create_app

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    make_technician()
    make_job()
    crashed = OptimizationRun(
        status="running",
        date_from=DAY,
        date_to=DAY,
        worker_id=f"{socket.gethostname()}:{dead.pid}",
        heartbeat_at=dt.datetime.now(dt.UTC),
    )
    waiting = OptimizationRun(
        status="queued",
        date_from=DAY + dt.timedelta(days=1),
        date_to=DAY + dt.timedelta(days=1),
        time_limit_s=1,
    )
    session.add_all([crashed, waiting])
    session.commit()
    h = auth_headers("dispatcher")  # before the app's worker starts writing
    with TestClient(create_app(settings)) as client:
        run = client.get(f"/api/v1/optimization-runs/{crashed.id}", headers=h).json()
        assert run["status"] == "failed" and run["plan_version_id"] is None
        if settings.is_sqlite:  # the in-process worker picks up what was queued
            done = _wait(client, h, waiting.id, lambda x: x["status"] != "queued")
            assert done["status"] in ("running", "succeeded")

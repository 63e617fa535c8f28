"""Benchmark: technician status events per second and their latency, on PostgreSQL.

What it does, end to end:

1. creates a fresh PostgreSQL database and migrates it (the same path as ``make run``);
2. seeds ``--technicians`` technicians, each with ``--jobs`` dispatched jobs;
3. starts ``uvicorn`` with ``--workers`` worker processes on 127.0.0.1 (a free port);
4. runs one asyncio task per technician (httpx), each moving its own jobs through
   ``en_route -> on_site -> completed`` with a fresh ``Idempotency-Key`` per event, until
   every job is done or ``--duration`` seconds have passed;
5. prints events/s, p50/p95/p99 latency and the error count, checks in the database that
   every acknowledged event was applied, then stops the server and drops the database.

Run:  .venv/bin/python bench/api_bench.py [--technicians 200] [--jobs 5] [--workers 2]
Server URL: ``--pg-url`` or ``FWS_BENCH_PG_URL`` (default postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import Database  # noqa: E402
from core.security import create_token, hash_password  # noqa: E402
from workforce.models import Assignment, Job, Technician, User  # noqa: E402

DEFAULT_PG = os.environ.get(
    "FWS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"
STEPS = ("en_route", "on_site", "completed")


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_database(server_url: str) -> str:
    name = f"fws_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str) -> None:
    from dispatch_api.cli import migrate_database

    migrate_database(url)


def seed(url: str, technicians: int, jobs_per_tech: int) -> list[tuple[int, list[int]]]:
    """Technicians with logins and dispatched jobs for today; returns (user_id, job_ids)."""
    database = Database(url)
    today = dt.datetime.now(dt.UTC).date()
    # One hash for every bench login: argon2 is deliberately slow and logins are not measured.
    password_hash = hash_password("bench")
    out: list[tuple[int, list[int]]] = []
    with database.session() as db:
        users = [
            User(
                username=f"bench{t:04d}",
                password_hash=password_hash,
                role="technician",
                name=f"Bench tech {t}",
            )
            for t in range(technicians)
        ]
        db.add_all(users)
        db.flush()
        techs = [
            Technician(user_id=u.id, name=u.name, home_lat=48.85, home_lon=2.35, territory="north")
            for u in users
        ]
        db.add_all(techs)
        db.flush()
        jobs: list[tuple[Technician, Job, int]] = []
        for tech in techs:
            for k in range(jobs_per_tech):
                job = Job(
                    reference=f"B-{tech.id}-{k}",
                    kind="repair",
                    title="Bench job",
                    lat=48.86,
                    lon=2.34,
                    duration_min=30,
                    date=today,
                    status="dispatched",
                    territory="north",
                )
                jobs.append((tech, job, k))
        db.add_all(j for _, j, _ in jobs)
        db.flush()
        start = dt.datetime.combine(today, dt.time(8), tzinfo=dt.UTC)
        db.add_all(
            Assignment(
                job_id=job.id,
                technician_id=tech.id,
                planned_start=start + dt.timedelta(minutes=45 * k),
                planned_end=start + dt.timedelta(minutes=45 * k + 30),
                sequence=k + 1,
            )
            for tech, job, k in jobs
        )
        db.commit()
        by_tech: dict[int, list[int]] = {}
        for tech, job, _ in jobs:
            by_tech.setdefault(tech.id, []).append(job.id)
        out = [(tech.user_id, by_tech[tech.id]) for tech in techs]  # type: ignore[misc]
    database.dispose()
    return out


def start_server(url: str, port: int, workers: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FWS_DATABASE_URL": url,
        "FWS_SECRET_KEY": SECRET,
        "FWS_DATA_DIR": data_dir,
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "dispatch_api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with code {proc.returncode}")
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready in time")


async def technician(
    client: httpx.AsyncClient, token: str, job_ids: list[int], stats: Stats, stop_at: float
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for job_id in job_ids:
        for step in STEPS:
            if time.monotonic() >= stop_at:
                return
            body = {
                "type": step,
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "position": {"lat": 48.86, "lon": 2.34, "accuracy_m": 10.0},
            }
            headers["Idempotency-Key"] = str(uuid.uuid4())
            t0 = time.perf_counter()
            try:
                r = await client.post(f"/api/v1/jobs/{job_id}/events", json=body, headers=headers)
            except httpx.HTTPError as exc:
                stats.error(type(exc).__name__)
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code == 201:
                stats.latencies_ms.append(elapsed)
            else:
                stats.error(f"HTTP {r.status_code}")


async def run_load(
    base: str, plan: list[tuple[int, list[int]]], duration: float, warmup: int
) -> tuple[Stats, float]:
    tokens = [
        create_token(subject=str(uid), secret=SECRET, ttl_min=120, claims={"role": "technician"})
        for uid, _ in plan
    ]
    limits = httpx.Limits(max_connections=len(plan), max_keepalive_connections=len(plan))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        # Warm-up: open connections and fill caches with reads that change nothing.
        await asyncio.gather(
            *(
                client.get("/api/v1/me/jobs", headers={"Authorization": f"Bearer {tok}"})
                for tok in tokens[:warmup]
            )
        )
        stats = Stats()
        t0 = time.perf_counter()
        stop_at = time.monotonic() + duration
        await asyncio.gather(
            *(
                technician(client, tok, job_ids, stats, stop_at)
                for tok, (_, job_ids) in zip(tokens, plan, strict=True)
            )
        )
        wall = time.perf_counter() - t0
    return stats, wall


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def verify(url: str, acknowledged: int) -> int:
    """Events stored in the database (must equal the acknowledged ones)."""
    database = Database(url)
    with database.session() as db:
        stored = db.scalar(text("SELECT count(*) FROM job_events")) or 0
        completed = db.scalar(
            select(func.count()).select_from(Job).where(Job.status == "completed")
        )
    database.dispose()
    print(
        f"database: {stored} events stored for {acknowledged} acknowledged; "
        f"{completed} jobs completed"
    )
    return int(stored)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--technicians", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=5, help="jobs per technician (3 events each)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--duration", type=float, default=60.0, help="upper bound in seconds")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (any database)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    args = parser.parse_args()

    url = create_database(args.pg_url)
    proc = None
    try:
        t = time.perf_counter()
        migrate(url)
        plan = seed(url, args.technicians, args.jobs)
        print(
            f"prepared {make_url(url).database}: {args.technicians} technicians x "
            f"{args.jobs} jobs in {time.perf_counter() - t:.1f} s"
        )
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="fws-bench-") as data_dir:
            proc = start_server(url, port, args.workers, data_dir)
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(base, proc))
            stats, wall = asyncio.run(
                run_load(base, plan, args.duration, warmup=min(len(plan), 50))
            )
        ok = len(stats.latencies_ms)
        lat = stats.latencies_ms
        print(
            f"server: uvicorn, {args.workers} workers, PostgreSQL; clients: "
            f"{args.technicians} concurrent technicians (httpx, one event loop)"
        )
        print(f"events: {ok} ok in {wall:.2f} s -> {ok / wall:,.0f} events/s")
        if lat:
            print(
                f"latency ms: p50 {percentile(lat, 50):.1f}  p95 {percentile(lat, 95):.1f}  "
                f"p99 {percentile(lat, 99):.1f}  max {max(lat):.1f}"
            )
        print(f"errors: {sum(stats.errors.values())} {stats.errors or ''}")
        stored = verify(url, ok)
        return 0 if stored == ok and not stats.errors else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if not args.keep_db:
            drop_database(args.pg_url, url)


if __name__ == "__main__":
    raise SystemExit(main())

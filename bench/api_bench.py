"""Benchmark: technician status events per second and their latency, on PostgreSQL.

What it does, end to end:

1. creates a fresh PostgreSQL database and migrates it (the same path as ``make run``);
2. seeds ``--technicians`` technicians, each with ``--jobs`` dispatched jobs;
3. starts ``uvicorn`` with ``--workers`` worker processes on 127.0.0.1 (a free port);
4. runs one asyncio task per technician (a lean keep-alive HTTP/1.1 client by default,
   ``--client httpx`` for httpx), each moving its own jobs through
   ``en_route -> on_site -> completed`` with a fresh ``Idempotency-Key`` per event, until
   every job is done or ``--duration`` seconds have passed; by default each technician
   sends the next event as soon as the last is answered (closed loop: the most the server
   takes, and by Little's law latency = technicians / rate), with ``--rate R`` the events
   are due at R per second in total and latency counts from when each was due; meanwhile
   ``--watchers`` dispatcher boards (1 by default) watch the live event stream;
5. prints events/s, p50/p95/p99 latency, the error count and the CPU time per event of
   the server, its PostgreSQL backends and the client (which, unlike wall-clock rates, other
   load on the machine does not inflate much), checks in the database that
   every acknowledged event was applied and that every board saw every event, then stops
   the server and drops the database.

Run:  .venv/bin/python bench/api_bench.py [--technicians 200] [--jobs 5] [--workers 2]
      .venv/bin/python bench/api_bench.py --technicians 200 --jobs 30 --rate 1000
Server URL: ``--pg-url`` or ``FWS_BENCH_PG_URL`` (default postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
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
from typing import Any

import httpx
import uvloop
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import Database  # noqa: E402
from core.security import create_token, hash_password  # noqa: E402
from workforce.models import Assignment, Job, Technician, User  # noqa: E402

# The target on a 2-core machine (``make bench-api`` offers this rate).
TARGET_RATE = 1_000
TARGET_P99_MS = 100
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


def seed(url: str, technicians: int, jobs_per_tech: int) -> tuple[list[tuple[int, list[int]]], int]:
    """Technicians with logins and dispatched jobs for today, and one dispatcher; returns
    (user_id, job_ids) per technician and the dispatcher's user id."""
    database = Database(url)
    today = dt.datetime.now(dt.UTC).date()
    # One hash for every bench login: argon2 is deliberately slow and logins are not measured.
    password_hash = hash_password("bench")
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
        dispatcher = User(
            username="bench-dispatcher",
            password_hash=password_hash,
            role="dispatcher",
            name="Bench dispatcher",
        )
        db.add(dispatcher)
        db.commit()
        dispatcher_id = dispatcher.id
    database.dispose()
    return out, dispatcher_id


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


class RawHttp(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 connection (the ``raw`` client).

    Load generators such as wrk spend microseconds per request; httpx spends milliseconds
    on this machine, so with httpx the client would use as much CPU as the server it
    measures. This speaks just enough HTTP/1.1 for the benchmark: one request at a time,
    Content-Length or chunked bodies, reconnect after an error. It is an asyncio protocol
    rather than a stream: a response that arrives in one segment wakes its caller once.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            response = self._parse()
        except (ValueError, IndexError) as exc:
            self.waiter.set_exception(ConnectionError(f"bad HTTP response: {exc!r}"))
            if self.transport is not None:
                self.transport.close()
            return
        if response is not None:
            self.waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def _parse(self) -> tuple[int, bytes, bool] | None:
        """One whole response taken off the buffer, or ``None`` until it has arrived."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        status = int(lines[0].split()[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        pos = end + 4
        if not chunked:
            if len(self.buffer) < pos + length:
                return None
            data = bytes(self.buffer[pos : pos + length])
            del self.buffer[: pos + length]
            return status, data, close
        parts = []
        while True:
            eol = self.buffer.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(self.buffer[pos:eol].split(b";")[0], 16)
            if len(self.buffer) < eol + 2 + size + 2:
                return None
            parts.append(bytes(self.buffer[eol + 2 : eol + 2 + size]))
            pos = eol + 2 + size + 2
            if size == 0:
                del self.buffer[:pos]
                return status, b"".join(parts), close

    # -- client -------------------------------------------------------------------------
    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.transport = None
        self.buffer.clear()

    async def _send(self, payload: bytes) -> tuple[int, bytes, bool]:
        if self.transport is None:
            self.buffer.clear()
            loop = asyncio.get_running_loop()
            await loop.create_connection(lambda: self, self.host, self.port)
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        reused = self.transport is not None
        try:
            status, data, close = await self._send(payload)
        except ConnectionError:
            if not reused:
                raise
            # The server closed an idle keep-alive connection before reading this request:
            # send it again on a new connection, as every HTTP client does.
            await self.close()
            status, data, close = await self._send(payload)
        if close:
            await self.close()
        return status, data


async def technician(
    post: Any,
    token: str,
    job_ids: list[int],
    stats: Stats,
    stop_at: float,
    interval: float | None = None,
) -> None:
    """One simulated technician: every job en route, on site, completed, one at a time.

    Without ``interval`` the next event leaves as soon as the previous one is answered
    (a closed loop: it measures the most the server can take). With it, events are due
    every ``interval`` seconds from a random start, and latency counts from the moment
    each was due, so a server that falls behind shows it in the percentiles instead of
    simply being sent less.
    """
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    due = time.perf_counter() + random.uniform(0, interval) if interval else 0.0
    for job_id in job_ids:
        for step in STEPS:
            if time.monotonic() >= stop_at:
                return
            if interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = {
                "type": step,
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "position": {"lat": 48.86, "lon": 2.34, "accuracy_m": 10.0},
            }
            headers["Idempotency-Key"] = str(uuid.uuid4())
            t0 = due if interval else time.perf_counter()
            due += interval or 0.0
            try:
                status = await post(f"/api/v1/jobs/{job_id}/events", headers, json.dumps(body))
            except (httpx.HTTPError, OSError, ValueError) as exc:
                stats.error(type(exc).__name__)
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            if status == 201:
                stats.latencies_ms.append(elapsed)
            else:
                stats.error(f"HTTP {status}")


async def board(host: str, port: int, token: str, seen: list[int], opened: asyncio.Event) -> None:
    """A dispatcher's board: the live event stream, counting ``job.updated`` events into
    ``seen[0]`` until cancelled. ``opened`` is set when the stream answers, which the
    server does once it hears every process's events."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET /api/v1/events/stream?access_token={token} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n\r\n".encode()
        )
        if (await reader.readline()).startswith(b"HTTP/1.1 200"):
            opened.set()
        while line := await reader.readline():
            if line.startswith(b"event: job.updated"):
                seen[0] += 1
    finally:
        writer.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


class CpuMeter:
    """CPU seconds spent by the server processes, this database's PostgreSQL backends and
    this client process: a per-event cost that other load on the machine cannot inflate
    the way it inflates wall-clock rates."""

    def __init__(self, server_pid: int, url: str) -> None:
        self.server_pid = server_pid
        self.url = url

    def _backend_pids(self) -> list[int]:
        name = make_url(self.url).database
        admin = create_engine(self.url)
        with admin.connect() as conn:
            pids = (
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": name},
                )
                .scalars()
                .all()
            )
        admin.dispose()
        return [int(p) for p in pids]

    def snapshot(self) -> dict[str, dict[int, float]]:
        server = [self.server_pid, *_children(self.server_pid)]
        return {
            "server": {p: _cpu_seconds(p) for p in server},
            "postgres": {p: _cpu_seconds(p) for p in self._backend_pids()},
            "client": {0: time.process_time()},
        }

    @staticmethod
    def delta(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        return {
            part: sum(v - before[part].get(pid, 0.0) for pid, v in after[part].items())
            for part in after
        }


async def run_load(
    base: str,
    plan: list[tuple[int, list[int]]],
    duration: float,
    warmup: int,
    meter: CpuMeter | None = None,
    client_kind: str = "raw",
    rate: float | None = None,
    watchers: tuple[int, int] = (0, 0),
) -> tuple[Stats, float, dict[str, float], int]:
    """The load; ``watchers`` is (user id of a dispatcher, number of boards) watching the
    live stream meanwhile. Returns stats, wall time, CPU by part and events the boards saw."""
    tokens = [
        create_token(subject=str(uid), secret=SECRET, ttl_min=120, claims={"role": "technician"})
        for uid, _ in plan
    ]
    host, port = base.removeprefix("http://").split(":")
    limits = httpx.Limits(max_connections=len(plan), max_keepalive_connections=len(plan))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        raw = [RawHttp(host, int(port)) for _ in plan]

        def poster(i: int) -> Any:
            if client_kind == "httpx":

                async def post(path: str, headers: dict[str, str], body: str) -> int:
                    r = await client.post(path, content=body, headers=headers)
                    return r.status_code

            else:

                async def post(path: str, headers: dict[str, str], body: str) -> int:
                    status, _ = await raw[i].request("POST", path, headers, body.encode())
                    return status

            return post

        # Warm-up: open the HTTP and database connections with requests that change
        # nothing: a read, and a status event the job cannot take yet (409).
        async def warm(i: int) -> None:
            h = {"Authorization": f"Bearer {tokens[i]}"}
            refused = json.dumps({"type": "completed", "at": dt.datetime.now(dt.UTC).isoformat()})
            path = f"/api/v1/jobs/{plan[i][1][0]}/events"
            if client_kind == "httpx":
                await client.get("/api/v1/me/stock", headers=h)
                await client.post(path, content=refused, headers=h)
            else:
                await raw[i].request("GET", "/api/v1/me/stock", h)
                await raw[i].request(
                    "POST", path, {**h, "Content-Type": "application/json"}, refused.encode()
                )

        await asyncio.gather(*(warm(i) for i in range(min(warmup, len(plan)))))
        seen = [0]
        dispatcher = create_token(subject=str(watchers[0]), secret=SECRET, ttl_min=120)
        opened = [asyncio.Event() for _ in range(watchers[1])]
        boards = [asyncio.create_task(board(host, int(port), dispatcher, seen, o)) for o in opened]
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), timeout=15)
        stats = Stats()
        before = meter.snapshot() if meter else None
        t0 = time.perf_counter()
        stop_at = time.monotonic() + duration
        await asyncio.gather(
            *(
                technician(
                    poster(i), tok, job_ids, stats, stop_at, len(plan) / rate if rate else None
                )
                for i, (tok, (_, job_ids)) in enumerate(zip(tokens, plan, strict=True))
            )
        )
        wall = time.perf_counter() - t0
        cpu = meter.delta(before, meter.snapshot()) if meter and before else {}
        expected = len(stats.latencies_ms) * len(boards)
        settle = time.monotonic() + 5  # the last announcements arrive
        while seen[0] < expected and time.monotonic() < settle:
            await asyncio.sleep(0.05)
        for task in boards:
            task.cancel()
        await asyncio.gather(*boards, return_exceptions=True)
        for conn in raw:
            await conn.close()
    return stats, wall, cpu, seen[0]


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
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: a minimal keep-alive HTTP/1.1 client (cheap); httpx: httpx.AsyncClient",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offer this many events/s in total (latency at a given load) instead of "
        "sending each technician's next event as soon as the last is answered",
    )
    parser.add_argument(
        "--watchers",
        type=int,
        default=1,
        help="dispatcher boards watching the live event stream meanwhile (each must see "
        "every event)",
    )
    args = parser.parse_args()

    url = create_database(args.pg_url)
    proc = None
    try:
        t = time.perf_counter()
        migrate(url)
        plan, dispatcher_id = seed(url, args.technicians, args.jobs)
        print(
            f"prepared {make_url(url).database}: {args.technicians} technicians x "
            f"{args.jobs} jobs in {time.perf_counter() - t:.1f} s"
        )
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="fws-bench-") as data_dir:
            proc = start_server(url, port, args.workers, data_dir)
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(base, proc))
            meter = CpuMeter(proc.pid, url)
            # uvloop (installed with uvicorn[standard]): the load generator's own CPU
            # counts against the two cores the server has.
            stats, wall, cpu, seen = uvloop.run(
                run_load(
                    base,
                    plan,
                    args.duration,
                    warmup=len(plan),
                    meter=meter,
                    client_kind=args.client,
                    rate=args.rate,
                    watchers=(dispatcher_id, args.watchers),
                )
            )
        ok = len(stats.latencies_ms)
        lat = stats.latencies_ms
        print(
            f"server: uvicorn, {args.workers} workers, PostgreSQL; clients: "
            f"{args.technicians} concurrent technicians ({args.client} client, one event loop), "
            + (f"{args.rate:,.0f} events/s offered" if args.rate else "closed loop")
        )
        print(f"events: {ok} ok in {wall:.2f} s -> {ok / wall:,.0f} events/s")
        if lat:
            print(
                f"latency ms: p50 {percentile(lat, 50):.1f}  p95 {percentile(lat, 95):.1f}  "
                f"p99 {percentile(lat, 99):.1f}  max {max(lat):.1f}"
            )
        print(f"errors: {sum(stats.errors.values())} {stats.errors or ''}")
        if args.watchers:
            print(
                f"live: {args.watchers} dispatcher board(s) saw {seen} job.updated events "
                f"for {ok * args.watchers} expected"
            )
        if ok and cpu:
            per = {part: 1000 * seconds / ok for part, seconds in cpu.items()}
            total = sum(per.values())
            print(
                "cpu ms per event: "
                + "  ".join(f"{part} {ms:.2f}" for part, ms in per.items())
                + f"  total {total:.2f} -> at most {os.cpu_count() * 1000 / total:,.0f} "
                f"events/s on {os.cpu_count()} idle cores"
            )
        if lat:
            # Offered a rate, the server kept pace if it answered every event, as latency
            # counts from when each was due: falling behind shows in p99.
            planned = 3 * sum(len(job_ids) for _, job_ids in plan)
            kept_pace = ok == planned and not stats.errors
            rate = (args.rate if kept_pace else 0) if args.rate else ok / wall
            met = rate >= TARGET_RATE and percentile(lat, 99) <= TARGET_P99_MS
            print(
                f"target (>= {TARGET_RATE:,} events/s with p99 <= {TARGET_P99_MS} ms): "
                + ("met" if met else "not met")
            )
        stored = verify(url, ok)
        complete = seen == ok * args.watchers
        return 0 if stored == ok and not stats.errors and complete else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if not args.keep_db:
            drop_database(args.pg_url, url)


if __name__ == "__main__":
    raise SystemExit(main())

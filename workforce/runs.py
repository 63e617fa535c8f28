"""Optimisation runs: queueing, execution in a worker, crash recovery.

A run is claimed atomically (``queued`` -> ``running``), solved without holding a
transaction, and its plan version is written in one transaction at the end: a worker
killed mid-run leaves no partial plan, only a ``running`` row whose worker is gone.
:func:`recover_runs` (called whenever a worker starts) marks those failed.

SQLite: an in-process worker thread. PostgreSQL: a procrastinate queue shared by any
number of ``python -m dispatch_api worker`` processes on any number of machines.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
import traceback
from typing import Any, Protocol

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core.db import Database, page, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import emit
from core.settings import Settings
from workforce.models import OptimizationRun, Technician

log = logging.getLogger(__name__)

PROCRASTINATE_QUEUE = "optimization"
PROCRASTINATE_TASK = "fws.run_optimization"
HEARTBEAT_S = 5.0  # how often a busy worker proves it is alive
PROGRESS_EVERY_S = 1.0  # at most one progress write per second


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- creating and reading runs ------------------------------------------------------------
def _overlaps(
    run: OptimizationRun,
    date_from: dt.date,
    date_to: dt.date,
    territory: str | None,
    technician_ids: list[int] | None,
) -> bool:
    if run.date_to < date_from or run.date_from > date_to:
        return False
    if run.territory and territory and run.territory != territory:
        return False
    return not (
        run.technician_ids and technician_ids and not set(run.technician_ids) & set(technician_ids)
    )


def create_run(
    *,
    db: Session,
    date_from: dt.date,
    date_to: dt.date,
    territory: str | None,
    technician_ids: list[int] | None,
    time_limit_s: float,
    seed: int = 0,
    user_id: int | None = None,
    stale_after_s: float = 120.0,
) -> OptimizationRun:
    """Queue a run unless a queued or running run covers an overlapping scope (409).

    A running run whose worker is gone does not block: it is failed on the spot.
    """
    if db.get_bind().dialect.name == "postgresql":
        # Serialise scope checks across API processes; released at commit.
        db.execute(text("SELECT pg_advisory_xact_lock(724011)"))
    if technician_ids:
        found = set(db.scalars(select(Technician.id).where(Technician.id.in_(technician_ids))))
        missing = sorted(set(technician_ids) - found)
        if missing:
            raise ValidationFailed(f"body.technician_ids: unknown technician ids {missing}")
    active = db.scalars(
        select(OptimizationRun).where(OptimizationRun.status.in_(("queued", "running")))
    )
    for other in active:
        if other.status == "running" and _worker_gone(
            other.worker_id, other.heartbeat_at, stale_after_s
        ):
            other.status, other.error, other.finished_at = "failed", WORKER_GONE, utcnow()
            emit(db, "run.finished", {"run_id": other.id, "status": "failed"})
            continue
        if _overlaps(other, date_from, date_to, territory, technician_ids):
            raise Conflict(
                f"Run {other.id} ({other.status}) already covers an overlapping scope.",
                run_id=other.id,
            )
    run = OptimizationRun(
        status="queued",
        date_from=date_from,
        date_to=date_to,
        territory=territory,
        technician_ids=technician_ids,
        time_limit_s=time_limit_s,
        seed=seed,
        created_by=user_id,
    )
    db.add(run)
    db.flush()
    emit(db, "run.progress", {"run_id": run.id, "status": "queued", "percent": 0.0})
    return run


def get_run(*, db: Session, run_id: int) -> OptimizationRun:
    run = db.get(OptimizationRun, run_id)
    if run is None:
        raise NotFound(f"Optimization run {run_id} does not exist.")
    return run


def list_runs(
    *, db: Session, statuses: list[str] | None, limit: int, offset: int
) -> tuple[list[OptimizationRun], int]:
    query = select(OptimizationRun)
    if statuses:
        query = query.where(OptimizationRun.status.in_(statuses))
    return page(db, query, OptimizationRun.id.desc(), limit=limit, offset=offset)


def run_to_dict(run: OptimizationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "progress": {"percent": round(run.progress_percent, 1), "best_cost": run.best_cost},
        "scope": {
            "date_from": run.date_from.isoformat(),
            "date_to": run.date_to.isoformat(),
            "territory": run.territory,
            "technician_ids": run.technician_ids,
            "time_limit_s": run.time_limit_s,
        },
        "kpis": run.kpis,
        "plan_version_id": run.plan_version_id,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


# -- executing ----------------------------------------------------------------------------
def _claim(database: Database, run_id: int, wid: str) -> bool:
    with database.session() as db, db.begin():
        now = utcnow()
        res = db.execute(
            update(OptimizationRun)
            .where(OptimizationRun.id == run_id, OptimizationRun.status == "queued")
            .values(status="running", worker_id=wid, started_at=now, heartbeat_at=now)
        )
        if res.rowcount != 1:
            return False
        emit(db, "run.progress", {"run_id": run_id, "status": "running", "percent": 0.0})
        return True


def fail_run(database: Database, run_id: int, message: str) -> None:
    """Mark a queued or running run failed (in its own transaction)."""
    with database.session() as db, db.begin():
        db.execute(
            update(OptimizationRun)
            .where(OptimizationRun.id == run_id, OptimizationRun.status.in_(("queued", "running")))
            .values(status="failed", error=message[:2000], finished_at=utcnow())
        )
        emit(db, "run.finished", {"run_id": run_id, "status": "failed", "error": message[:300]})


class _Heartbeat:
    """Writes ``heartbeat_at`` every few seconds while the solver holds the CPU."""

    def __init__(self, database: Database, run_id: int) -> None:
        self.database, self.run_id = database, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}-hb", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                with self.database.session() as db, db.begin():
                    db.execute(
                        update(OptimizationRun)
                        .where(OptimizationRun.id == self.run_id)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:
                log.warning("heartbeat of run %s failed", self.run_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S + 1)


def execute_run(database: Database, settings: Settings, run_id: int) -> str:
    """Claim, solve and store one run; returns the final status (or "skipped")."""
    from scheduler import solve  # the engine is heavy to import; only workers need it
    from scheduler.model import SolveParams
    from workforce import bridge

    if not _claim(database, run_id, worker_id()):
        return "skipped"
    try:
        with database.session() as db:
            run = db.get(OptimizationRun, run_id)
            assert run is not None
            built = bridge.build_problem(db, run=run, settings=settings)
            time_limit, seed = run.time_limit_s, run.seed
            db.rollback()

        last = [0.0]

        def progress(fraction: float, best_cost: float | None) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY_S and fraction < 1.0:
                return
            last[0] = now
            pct = max(0.0, min(100.0, float(fraction) * 100.0))
            cost = None if best_cost is None else float(best_cost)
            try:
                with database.session() as pdb, pdb.begin():
                    pdb.execute(
                        update(OptimizationRun)
                        .where(OptimizationRun.id == run_id, OptimizationRun.status == "running")
                        .values(progress_percent=pct, best_cost=cost, heartbeat_at=utcnow())
                    )
                    emit(
                        pdb,
                        "run.progress",
                        {
                            "run_id": run_id,
                            "status": "running",
                            "percent": round(pct, 1),
                            "best_cost": cost,
                        },
                    )
            except Exception:
                log.warning("progress write of run %s failed", run_id, exc_info=True)

        with _Heartbeat(database, run_id):
            if built.problem.jobs:
                plan = solve(
                    built.problem, SolveParams(time_limit=time_limit, seed=seed), progress=progress
                )
            else:
                plan = None

        with database.session() as db, db.begin():
            run = db.get(OptimizationRun, run_id, with_for_update=True)
            assert run is not None
            if run.status != "running":  # recovered as dead meanwhile: leave it alone
                return run.status
            version = bridge.store_plan(db, run=run, built=built, plan=plan)
            run.status = "succeeded"
            run.progress_percent = 100.0
            run.kpis = version.kpis
            run.plan_version_id = version.id
            run.finished_at = utcnow()
            if plan is not None and plan.stats.get("best_cost") is not None:
                run.best_cost = float(plan.stats["best_cost"])
            emit(
                db,
                "run.finished",
                {"run_id": run_id, "status": "succeeded", "plan_version_id": version.id},
            )
        return "succeeded"
    except Exception as exc:
        log.exception("optimisation run %s failed", run_id)
        detail = f"{type(exc).__name__}: {exc}"
        fail_run(database, run_id, detail + "\n" + traceback.format_exc(limit=3))
        return "failed"


def _worker_gone(wid: str | None, beat: dt.datetime | None, stale_after_s: float) -> bool:
    """Same host: the worker process no longer exists. Anywhere: its heartbeat is stale."""
    if wid and wid.rpartition(":")[0] == socket.gethostname():
        pid = wid.rpartition(":")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            return True
    return beat is None or (utcnow() - beat).total_seconds() > stale_after_s


WORKER_GONE = "The worker running this optimisation stopped; start a new run."


def recover_runs(database: Database, stale_after_s: float) -> list[int]:
    """Fail ``running`` runs whose worker is dead (same host) or silent for too long."""
    with database.session() as db:
        rows = db.execute(
            select(OptimizationRun.id, OptimizationRun.worker_id, OptimizationRun.heartbeat_at)
            .where(OptimizationRun.status == "running")
            .order_by(OptimizationRun.id)
        ).all()
    failed = [run_id for run_id, wid, beat in rows if _worker_gone(wid, beat, stale_after_s)]
    for run_id in failed:
        fail_run(database, run_id, WORKER_GONE)
        log.warning("run %s failed: its worker is gone", run_id)
    return failed


def queued_run_ids(database: Database) -> list[int]:
    with database.session() as db:
        return list(
            db.scalars(
                select(OptimizationRun.id)
                .where(OptimizationRun.status == "queued")
                .order_by(OptimizationRun.id)
            )
        )


# -- runners ------------------------------------------------------------------------------
class Runner(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def enqueue(self, run_id: int) -> None: ...


class NullRunner:
    """Leaves queued runs for an external worker process (``python -m dispatch_api worker``)."""

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def enqueue(self, run_id: int) -> None:
        return None


class ThreadRunner:
    """One background thread of this process executes runs, one after another."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database, self.settings = database, settings
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread:
            return
        recover_runs(self.database, self.settings.run_stale_after_s)
        for run_id in queued_run_ids(self.database):
            self._queue.put(run_id)
        self._thread = threading.Thread(target=self._loop, name="fws-runs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            try:
                execute_run(self.database, self.settings, run_id)
            except Exception:
                log.exception("run %s crashed its worker thread", run_id)

    def enqueue(self, run_id: int) -> None:
        self._queue.put(run_id)

    def stop(self) -> None:
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=1)
            self._thread = None


def procrastinate_app(database: Database, settings: Settings) -> Any:
    """A procrastinate App on the same PostgreSQL database, with the run task registered."""
    import procrastinate

    conninfo = database.engine.url.set(drivername="postgresql").render_as_string(
        hide_password=False
    )
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
    )

    @app.task(name=PROCRASTINATE_TASK, queue=PROCRASTINATE_QUEUE)
    def run_optimization(run_id: int) -> str:
        return execute_run(database, settings, run_id)

    return app


def ensure_procrastinate_schema(database: Database) -> None:
    """Create procrastinate's tables once (they are versioned by procrastinate, not Alembic)."""
    with database.engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
    if exists:
        return
    sql = procrastinate_schema_sql()
    raw = database.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(sql)
        raw.commit()
    finally:
        raw.close()


def procrastinate_schema_sql() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


class ProcrastinateRunner:
    """Defers runs to procrastinate; workers anywhere pick them up."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database, self.settings = database, settings
        self.app = procrastinate_app(database, settings)
        self._open = False
        self._lock = threading.Lock()

    def start(self) -> None:
        # An API restart also clears runs whose worker died (workers do the same).
        recover_runs(self.database, self.settings.run_stale_after_s)

    def enqueue(self, run_id: int) -> None:
        with self._lock:
            if not self._open:
                self.app.open()
                self._open = True
        self.app.tasks[PROCRASTINATE_TASK].defer(run_id=run_id)

    def stop(self) -> None:
        with self._lock:
            if self._open:
                self.app.close()
                self._open = False


def make_runner(settings: Settings, database: Database) -> Runner:
    if database.is_postgres:
        return ProcrastinateRunner(database, settings)
    if settings.inprocess_worker:
        return ThreadRunner(database, settings)
    return NullRunner()


def run_worker(database: Database, settings: Settings, *, poll_s: float = 0.5) -> None:
    """The body of ``python -m dispatch_api worker``: recover, then execute runs forever."""
    recover_runs(database, settings.run_stale_after_s)
    if database.is_postgres:
        ensure_procrastinate_schema(database)
        app = procrastinate_app(database, settings)
        app.run_worker(queues=[PROCRASTINATE_QUEUE], concurrency=1, wait=True)
        return
    log.info("polling for queued runs on SQLite")
    while True:
        ids = queued_run_ids(database)
        for run_id in ids:
            execute_run(database, settings, run_id)
        if not ids:
            time.sleep(poll_s)

"""Rows <-> scheduler: build a :class:`scheduler.Problem` from the database, store the
resulting :class:`scheduler.Plan` as a draft plan version, diff it, publish it.

Scheduler times are integer seconds from the horizon origin: local midnight (in
``FWS_TIMEZONE``) of the first day in scope. All id bookkeeping between database ids
and the scheduler's string ids lives here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.db import utcnow
from core.errors import Conflict, NotFound
from core.events import emit
from core.settings import Settings
from scheduler.model import (
    Break,
    Plan,
    Point,
    Problem,
    Shift,
    TimeWindow,
)
from scheduler.model import Job as SJob
from scheduler.model import Technician as STech
from scheduler.travel import Geodesic
from stock import service as stock_service
from workforce import service
from workforce.models import (
    ACTIVE_JOB_STATUSES,
    Assignment,
    Job,
    OptimizationRun,
    PlanRoute,
    PlanUnassigned,
    PlanVersion,
    PlanVisit,
    Technician,
    Territory,
    User,
)

PLANNABLE_STATUSES = ("open", "dispatched", *ACTIVE_JOB_STATUSES)


@dataclass(frozen=True)
class BuiltProblem:
    """A problem plus what is needed to map its answer back to rows."""

    problem: Problem
    origin: dt.datetime  # aware UTC instant of scheduler time 0
    days: tuple[dt.date, ...]
    job_versions: dict[int, int] = field(default_factory=dict)
    tz: str = "UTC"

    def at(self, seconds: int) -> dt.datetime:
        return self.origin + dt.timedelta(seconds=int(seconds))


def _sid_job(job_id: int) -> str:
    return f"J{job_id}"


def _sid_tech(tech_id: int) -> str:
    return f"T{tech_id}"


def _db_id(sid: str) -> int:
    return int(sid[1:])


def scope_technicians(db: Session, run: OptimizationRun) -> list[Technician]:
    query = (
        select(Technician)
        .where(Technician.active.is_(True))
        .options(selectinload(Technician.skills), selectinload(Technician.absences))
        .order_by(Technician.id)
    )
    if run.territory:
        query = query.where(Technician.territory == run.territory)
    if run.technician_ids:
        query = query.where(Technician.id.in_(run.technician_ids))
    return list(db.scalars(query))


def scope_jobs(db: Session, run: OptimizationRun, tech_ids: set[int]) -> list[Job]:
    """Open and dispatched jobs in the dates (and territory), plus in-progress ones to pin.

    Jobs assigned to technicians outside the scope are left where they are.
    """
    query = (
        select(Job)
        .where(
            Job.date >= run.date_from, Job.date <= run.date_to, Job.status.in_(PLANNABLE_STATUSES)
        )
        .options(
            selectinload(Job.skills),
            selectinload(Job.time_windows),
            selectinload(Job.items),
            selectinload(Job.predecessors),
            selectinload(Job.assignment),
        )
        .order_by(Job.id)
        .execution_options(populate_existing=True)
    )
    if run.territory:
        query = query.where(Job.territory == run.territory)
    jobs = []
    for job in db.scalars(query):
        a = job.assignment
        if a is not None and a.technician_id not in tech_ids:
            continue
        if a is None and job.status != "open":
            continue
        jobs.append(job)
    return jobs


def build_problem(db: Session, *, run: OptimizationRun, settings: Settings) -> BuiltProblem:
    """Read the scope's technicians, shifts, vans and jobs into an immutable Problem."""
    tz = settings.timezone
    zone = ZoneInfo(tz)
    days = tuple(
        run.date_from + dt.timedelta(days=k) for k in range((run.date_to - run.date_from).days + 1)
    )
    origin = dt.datetime.combine(run.date_from, dt.time(0), tzinfo=zone).astimezone(dt.UTC)

    def sec(moment: dt.datetime) -> int:
        return round((moment - origin).total_seconds())

    techs = scope_technicians(db, run)
    tech_ids = {t.id for t in techs}
    jobs = scope_jobs(db, run, tech_ids)
    polygons = {t.name: t.polygon for t in db.scalars(select(Territory)) if t.polygon}
    stocks = stock_service.vans_stock(db, tech_ids)  # no entry: no van, no stock limit

    points: list[Point] = []
    s_techs: list[STech] = []
    for tech in techs:
        home = len(points)
        points.append(Point(tech.home_lon, tech.home_lat))
        shifts = []
        for k, day in enumerate(days):
            if not service.works_on(tech, day):
                continue
            start, end = service.shift_bounds(tech, day, tz)
            breaks: tuple[Break, ...] = ()
            bounds = service.break_bounds(tech, day, tz)
            if bounds is not None:
                earliest, latest, dur = bounds
                b_early = max(sec(earliest), sec(start))
                b_late = max(b_early, min(sec(latest), sec(end) - int(dur.total_seconds())))
                if b_early + dur.total_seconds() <= sec(end):
                    breaks = (Break(int(dur.total_seconds()), b_early, b_late),)
            shifts.append(
                Shift(
                    day=k,
                    start=sec(start),
                    end=sec(end),
                    start_location=home,
                    end_location=home,
                    breaks=breaks,
                    max_work=tech.max_work_min * 60 if tech.max_work_min else None,
                )
            )
        poly = polygons.get(tech.territory or "")
        s_techs.append(
            STech(
                id=_sid_tech(tech.id),
                shifts=tuple(shifts),
                skills=tech.skill_map,
                stock=stocks.get(tech.id),
                territory=tuple((float(x), float(y)) for x, y in poly) if poly else None,
                cost_per_hour=tech.cost_per_hour,
                name=tech.name,
            )
        )

    job_ids = {j.id for j in jobs}
    s_jobs: list[SJob] = []
    for job in jobs:
        loc = len(points)
        points.append(Point(job.lon, job.lat))
        a: Assignment | None = job.assignment
        pinned_tech = pinned_start = None
        preferred: tuple[str, ...] = ()
        if a is not None:
            if a.pinned or job.status in ACTIVE_JOB_STATUSES:
                pinned_tech = _sid_tech(a.technician_id)
                pinned_start = sec(a.planned_start)
            else:
                # Re-planning should move as little as possible: keep the current technician.
                preferred = (_sid_tech(a.technician_id),)
        s_jobs.append(
            SJob(
                id=_sid_job(job.id),
                location=loc,
                duration=job.duration_min * 60,
                time_windows=tuple(TimeWindow(sec(w.start), sec(w.end)) for w in job.time_windows),
                skills=job.skill_map,
                priority=job.priority,
                sla_due=sec(job.sla_due) if job.sla_due else None,
                items=job.item_map,
                pinned_technician=pinned_tech,
                pinned_start=pinned_start,
                predecessors=tuple(_sid_job(p.id) for p in job.predecessors if p.id in job_ids),
                preferred_technicians=preferred,
                kind=job.kind,
                description=job.title,
            )
        )
    durations, distances = Geodesic().matrices(points)
    problem = Problem(
        technicians=tuple(s_techs),
        jobs=tuple(s_jobs),
        durations=durations,
        distances=distances,
        points=tuple(points),
    )
    return BuiltProblem(
        problem=problem,
        origin=origin,
        days=days,
        job_versions={j.id: j.version for j in jobs},
        tz=tz,
    )


def _kpis(plan: Plan | None) -> dict[str, Any]:
    if plan is None:
        return {
            "jobs_assigned": 0,
            "jobs_unassigned": 0,
            "priority_assigned": 0,
            "priority_total": 0,
            "travel_min": 0,
            "service_min": 0,
            "utilisation": 0.0,
            "sla_late_count": 0,
            "sla_late_minutes": 0.0,
            "status": "empty",
        }
    k = plan.kpis
    return {
        "jobs_assigned": k.jobs_assigned,
        "jobs_unassigned": k.jobs_unassigned,
        "priority_assigned": k.priority_assigned,
        "priority_total": k.priority_total,
        "travel_min": round(k.travel_time / 60),
        "service_min": round(k.service_time / 60),
        "utilisation": round(float(k.utilisation), 3),
        "sla_late_count": k.sla_late_count,
        "sla_late_minutes": round(float(k.sla_late_minutes), 1),
        "status": plan.status,
        "objective": plan.stats.get("objective"),
    }


def store_plan(
    db: Session, *, run: OptimizationRun, built: BuiltProblem, plan: Plan | None
) -> PlanVersion:
    """Write the whole plan as one draft version (the caller commits it at once)."""
    version = PlanVersion(
        run_id=run.id,
        status="draft",
        date_from=run.date_from,
        date_to=run.date_to,
        kpis=_kpis(plan),
        job_versions={str(k): v for k, v in built.job_versions.items()},
    )
    db.add(version)
    db.flush()
    if plan is None:
        return version
    for route in plan.routes:
        tech_id = _db_id(route.technician_id)
        day = built.days[route.day] if route.day < len(built.days) else built.days[-1]
        db.add(
            PlanRoute(
                plan_version_id=version.id,
                technician_id=tech_id,
                date=day,
                start=built.at(route.start),
                end=built.at(route.end),
                travel_min=round(route.travel / 60),
                breaks=[
                    {"start": built.at(b.start).isoformat(), "end": built.at(b.end).isoformat()}
                    for b in route.breaks
                ],
            )
        )
        for n, v in enumerate(route.visits, 1):
            db.add(
                PlanVisit(
                    plan_version_id=version.id,
                    job_id=_db_id(v.job_id),
                    technician_id=tech_id,
                    date=day,
                    sequence=n,
                    arrival=built.at(v.arrival),
                    start=built.at(v.start),
                    end=built.at(v.end),
                    travel_min=round(v.travel / 60),
                    wait_min=round(v.wait / 60),
                    late_min=round(v.late / 60),
                )
            )
    for u in plan.unassigned:
        db.add(
            PlanUnassigned(
                plan_version_id=version.id,
                job_id=_db_id(u.job_id),
                reason=u.reason.value,
                message=u.message,
            )
        )
    db.flush()
    return version


def get_plan_version(db: Session, version_id: int) -> PlanVersion:
    version = db.get(PlanVersion, version_id)
    if version is None:
        raise NotFound(f"Plan version {version_id} does not exist.")
    return version


def plan_version_to_dict(version: PlanVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "status": version.status,
        "run_id": version.run_id,
        "date_from": version.date_from,
        "date_to": version.date_to,
        "kpis": version.kpis,
        "created_at": version.created_at,
        "published_at": version.published_at,
    }


def _targets(
    db: Session, version: PlanVersion
) -> tuple[dict[int, PlanVisit], dict[int, PlanUnassigned]]:
    visits = {
        v.job_id: v
        for v in db.scalars(select(PlanVisit).where(PlanVisit.plan_version_id == version.id))
    }
    missing = {
        u.job_id: u
        for u in db.scalars(
            select(PlanUnassigned).where(PlanUnassigned.plan_version_id == version.id)
        )
    }
    return visits, missing


def _jobs_of(db: Session, version: PlanVersion) -> list[Job]:
    ids = [int(k) for k in (version.job_versions or {})]
    if not ids:
        return []
    return list(
        db.scalars(
            select(Job)
            .where(Job.id.in_(ids))
            .options(selectinload(Job.assignment).selectinload(Assignment.technician))
            .order_by(Job.id)
        )
    )


def diff(db: Session, version: PlanVersion) -> dict[str, list[dict[str, Any]]]:
    """What publishing would change, against the current assignments."""
    visits, missing = _targets(db, version)
    out: dict[str, list[dict[str, Any]]] = {
        "reassigned": [],
        "moved": [],
        "newly_assigned": [],
        "newly_unassigned": [],
    }
    for job in _jobs_of(db, version):
        a, v = job.assignment, visits.get(job.id)
        if v is not None:
            if a is None:
                out["newly_assigned"].append(
                    {
                        "job_id": job.id,
                        "reference": job.reference,
                        "technician_id": v.technician_id,
                        "start": v.start,
                    }
                )
            elif a.technician_id != v.technician_id:
                out["reassigned"].append(
                    {
                        "job_id": job.id,
                        "reference": job.reference,
                        "from_technician_id": a.technician_id,
                        "to_technician_id": v.technician_id,
                        "from_start": a.planned_start,
                        "to_start": v.start,
                    }
                )
            elif a.planned_start != v.start:
                out["moved"].append(
                    {
                        "job_id": job.id,
                        "reference": job.reference,
                        "technician_id": v.technician_id,
                        "from_start": a.planned_start,
                        "to_start": v.start,
                    }
                )
        elif a is not None and job.id in missing:
            u = missing[job.id]
            out["newly_unassigned"].append(
                {
                    "job_id": job.id,
                    "reference": job.reference,
                    "from_technician_id": a.technician_id,
                    "reason": u.reason,
                    "message": u.message,
                }
            )
    return out


def publish(db: Session, *, version: PlanVersion, user: User | None) -> dict[str, Any]:
    """Apply a draft to the jobs in one transaction; pinned and in-progress jobs stay."""
    if version.status != "draft":
        raise Conflict(
            f"Plan version {version.id} is {version.status}; only a draft publishes.",
            status=version.status,
        )
    visits, missing = _targets(db, version)
    jobs = _jobs_of(db, version)
    recorded = {int(k): v for k, v in (version.job_versions or {}).items()}
    changes: list[tuple[Job, PlanVisit | None]] = []
    stale: list[str] = []
    for job in jobs:
        a = job.assignment
        if job.status not in ("open", "dispatched") or (a is not None and a.pinned):
            continue  # in progress, closed or pinned: the plan does not touch it
        v = visits.get(job.id)
        if v is not None:
            same = (
                a is not None and a.technician_id == v.technician_id and a.planned_start == v.start
            )
        else:
            same = a is None or job.id not in missing
        if same:
            continue
        if job.version != recorded.get(job.id):
            stale.append(job.reference)
            continue
        changes.append((job, v))
    if stale:
        raise Conflict(
            f"{len(stale)} job(s) changed since the run read them: {', '.join(stale[:10])}. "
            "Start a new run.",
            jobs=stale,
        )
    now = utcnow()
    for job, v in changes:
        a = job.assignment
        if v is None:
            db.delete(a)
            job.assignment = None
            job.status = "open"
        else:
            if a is None:
                a = Assignment(
                    job_id=job.id,
                    technician_id=v.technician_id,
                    planned_start=v.start,
                    planned_end=v.end,
                )
                db.add(a)
                job.assignment = a
            a.technician_id = v.technician_id
            a.planned_start, a.planned_end = v.start, v.end
            a.override = False
            job.status = "dispatched"
        job.updated_at = now
    # Every visit now on the plan takes its sequence and travel and points at this version.
    for job in jobs:
        a, v = job.assignment, visits.get(job.id)
        if a is None or v is None or a.technician_id != v.technician_id:
            continue
        if a.planned_start != v.start:
            continue
        wanted = (v.sequence, v.travel_min, version.id)
        if (a.sequence, a.travel_min, a.plan_version_id) != wanted:
            a.sequence, a.travel_min, a.plan_version_id = wanted
            job.updated_at = now
    db.flush()
    for job, _v in changes:
        emit(db, "job.updated", service.job_event_data(job))
    version.status = "published"
    version.published_at = now
    version.published_by = user.id if user else None
    service.audit(
        db=db,
        user=user,
        action="publish",
        entity="plan_version",
        entity_id=version.id,
        detail={"changed_jobs": len(changes)},
    )
    db.flush()
    emit(
        db,
        "plan.published",
        {
            "plan_version_id": version.id,
            "changed_jobs": len(changes),
            "date_from": version.date_from.isoformat(),
            "date_to": version.date_to.isoformat(),
        },
    )
    return {"id": version.id, "status": version.status, "changed_jobs": len(changes)}


def discard(db: Session, *, version: PlanVersion, user: User | None) -> PlanVersion:
    if version.status != "draft":
        raise Conflict(
            f"Plan version {version.id} is {version.status}; only a draft is discarded.",
            status=version.status,
        )
    version.status = "discarded"
    service.audit(
        db=db, user=user, action="discard", entity="plan_version", entity_id=version.id, detail={}
    )
    db.flush()
    return version

"""Workforce business functions over an explicit Session (no web imports here).

Every function is keyword-only, takes the session as ``db`` and only flushes: the
caller (one request, one worker step) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from core.db import page, utcnow
from core.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    RuleViolation,
    Unauthorized,
    ValidationFailed,
)
from core.events import emit
from core.security import create_token, hash_password, verify_password
from core.settings import Settings
from scheduler.travel import EARTH_RADIUS_M, Geodesic
from workforce import schemas
from workforce.models import (
    ACTIVE_JOB_STATUSES,
    CLOSED_JOB_STATUSES,
    Absence,
    Assignment,
    AuditEntry,
    Job,
    JobItem,
    JobSkill,
    JobTimeWindow,
    PlanRoute,
    PlanUnassigned,
    PlanVersion,
    Technician,
    TechnicianSkill,
    Territory,
    User,
)

SOURCE_PREFIX = {
    "order": "OR",
    "ticket": "TT",
    "maintenance": "PM",
    "construction": "NC",
    "manual": "JB",
}


# -- users and auth -----------------------------------------------------------------------
def get_user_by_username(*, db: Session, username: str) -> User | None:
    return db.scalar(select(User).where(User.username == username))


def create_user(*, db: Session, username: str, password: str, role: str, name: str = "") -> User:
    if get_user_by_username(db=db, username=username) is not None:
        raise Conflict(f"The username {username!r} is taken.", field="username")
    user = User(username=username, password_hash=hash_password(password), role=role, name=name)
    db.add(user)
    db.flush()
    return user


def authenticate(
    *, db: Session, settings: Settings, username: str, password: str
) -> dict[str, Any]:
    """Check a password and return the token response of docs/api.md."""
    user = get_user_by_username(db=db, username=username)
    if user is None or not user.active or not verify_password(password, user.password_hash):
        raise Unauthorized("Wrong username or password.")
    technician_id = user.technician.id if user.technician else None
    token = create_token(
        subject=str(user.id),
        secret=settings.secret_key,
        ttl_min=settings.token_ttl_min,
        claims={"role": user.role},
    )
    return {
        "access_token": token,
        "token_type": "bearer",
        "role": user.role,
        "user_id": user.id,
        "technician_id": technician_id,
        "expires_in": settings.token_ttl_min * 60,
    }


def me(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "technician_id": user.technician.id if user.technician else None,
        "name": user.technician.name if user.technician else user.name,
    }


def audit(
    *,
    db: Session,
    user: User | None,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any],
) -> AuditEntry:
    entry = AuditEntry(
        user_id=user.id if user else None,
        action=action,
        entity=entity,
        entity_id=entity_id,
        detail=detail,
    )
    db.add(entry)
    return entry


def list_audit(
    *, db: Session, entity: str | None, entity_id: int | None, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    query = select(AuditEntry)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    return page(db, query, AuditEntry.id.desc(), limit=limit, offset=offset)


def audit_to_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "user_id": e.user_id,
        "action": e.action,
        "entity": e.entity,
        "entity_id": e.entity_id,
        "detail": e.detail,
    }


# -- territories --------------------------------------------------------------------------
def list_territories(*, db: Session) -> list[Territory]:
    return list(db.scalars(select(Territory).order_by(Territory.name)))


def put_territory(*, db: Session, name: str, polygon: list[list[float]] | None) -> Territory:
    """Create or replace a territory's polygon (a ring of [lon, lat] pairs)."""
    terr = db.scalar(select(Territory).where(Territory.name == name))
    if terr is None:
        terr = Territory(name=name)
        db.add(terr)
    terr.polygon = polygon
    db.flush()
    return terr


def territory_to_dict(t: Territory) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "polygon": t.polygon}


# -- optimistic concurrency ---------------------------------------------------------------
def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """428 without ``If-Match``; 412 when it names another version than the current one."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            'This write needs an If-Match header with the ETag you read, e.g. If-Match: "3".'
        )
    tags = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if str(version) not in tags and "*" not in tags:
        raise PreconditionFailed(
            f"The resource changed (now version {version}); reload it and retry.",
            current_version=version,
        )


# -- technicians --------------------------------------------------------------------------
def _technician_query() -> Select[tuple[Technician]]:
    return select(Technician).options(
        selectinload(Technician.skills),
        selectinload(Technician.absences),
        selectinload(Technician.user),
    )


def get_technician(*, db: Session, technician_id: int) -> Technician:
    tech = db.scalar(_technician_query().where(Technician.id == technician_id))
    if tech is None:
        raise NotFound(f"Technician {technician_id} does not exist.")
    return tech


def list_technicians(
    *,
    db: Session,
    territory: str | None = None,
    skill: str | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Technician], int]:
    query = _technician_query()
    if territory:
        query = query.where(Technician.territory == territory)
    if active is not None:
        query = query.where(Technician.active == active)
    if skill:
        query = query.where(
            Technician.id.in_(
                select(TechnicianSkill.technician_id).where(TechnicianSkill.skill == skill)
            )
        )
    return page(db, query, Technician.id, limit=limit, offset=offset)


def _apply_technician_fields(tech: Technician, data: Any, fields: set[str]) -> None:
    simple = (
        "depot",
        "territory",
        "shift_start",
        "shift_end",
        "max_work_min",
        "working_days",
        "cost_per_hour",
        "active",
        "name",
    )
    for name in simple:
        if name in fields:
            value = getattr(data, name)
            if name == "working_days":
                value = sorted(set(value))
            setattr(tech, name, value)
    if "home_base" in fields and data.home_base is not None:
        tech.home_lat, tech.home_lon = data.home_base.lat, data.home_base.lon
        tech.home_address = data.home_base.address
    if "break_" in fields:
        brk = data.break_
        tech.break_duration_min = brk.duration_min if brk else 0
        tech.break_earliest = brk.earliest if brk else None
        tech.break_latest = brk.latest if brk else None
    if "skills" in fields and data.skills is not None:
        _merge(tech.skills, data.skills, "skill", "level", TechnicianSkill)
    if "absences" in fields and data.absences is not None:
        tech.absences.clear()
        for a in data.absences:
            tech.absences.append(Absence(start=a.start, end=a.end, reason=a.reason))


def create_technician(*, db: Session, data: schemas.TechnicianCreate) -> Technician:
    tech = Technician(
        name=data.name,
        home_lat=data.home_base.lat,
        home_lon=data.home_base.lon,
        home_address=data.home_base.address,
        skills=[],
        absences=[],
    )
    fields = set(data.model_fields_set) | {
        "shift_start",
        "shift_end",
        "working_days",
        "cost_per_hour",
        "active",
    }
    _apply_technician_fields(tech, data, fields)
    if "break_" not in data.model_fields_set:
        tech.break_duration_min = 0
    if data.username:
        user = create_user(
            db=db,
            username=data.username,
            password=data.password or "",
            role="technician",
            name=data.name,
        )
        tech.user = user
    db.add(tech)
    db.flush()
    return tech


def update_technician(
    *, db: Session, tech: Technician, data: schemas.TechnicianUpdate
) -> Technician:
    _apply_technician_fields(tech, data, set(data.model_fields_set))
    if tech.shift_end <= tech.shift_start:
        raise ValidationFailed("body.shift_end: must be after shift_start")
    tech.updated_at = utcnow()
    db.flush()
    return tech


def technician_to_dict(tech: Technician) -> dict[str, Any]:
    brk = None
    if tech.break_duration_min:
        brk = {
            "duration_min": tech.break_duration_min,
            "earliest": tech.break_earliest,
            "latest": tech.break_latest,
        }
    return {
        "id": tech.id,
        "name": tech.name,
        "username": tech.user.username if tech.user else None,
        "user_id": tech.user_id,
        "skills": tech.skill_map,
        "home_base": {"lat": tech.home_lat, "lon": tech.home_lon, "address": tech.home_address},
        "depot": tech.depot,
        "territory": tech.territory,
        "shift_start": tech.shift_start,
        "shift_end": tech.shift_end,
        "break_": brk,
        "max_work_min": tech.max_work_min,
        "working_days": list(tech.working_days or []),
        "absences": [{"start": a.start, "end": a.end, "reason": a.reason} for a in tech.absences],
        "cost_per_hour": tech.cost_per_hour,
        "active": tech.active,
        "version": tech.version,
    }


def is_absent(tech: Technician, day: dt.date) -> Absence | None:
    for a in tech.absences:
        if a.start <= day <= a.end:
            return a
    return None


def works_on(tech: Technician, day: dt.date) -> bool:
    return tech.active and day.weekday() in (tech.working_days or []) and not is_absent(tech, day)


def shift_bounds(tech: Technician, day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, tech.shift_start, tzinfo=zone)
    end = dt.datetime.combine(day, tech.shift_end, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def break_bounds(
    tech: Technician, day: dt.date, tz: str
) -> tuple[dt.datetime, dt.datetime, dt.timedelta] | None:
    """(earliest start, latest start, duration) of the day's break, or None without one."""
    if not tech.break_duration_min:
        return None
    zone = ZoneInfo(tz)
    s_start, s_end = shift_bounds(tech, day, tz)
    dur = dt.timedelta(minutes=tech.break_duration_min)
    earliest = (
        dt.datetime.combine(day, tech.break_earliest, tzinfo=zone).astimezone(dt.UTC)
        if tech.break_earliest
        else s_start
    )
    latest = (
        dt.datetime.combine(day, tech.break_latest, tzinfo=zone).astimezone(dt.UTC)
        if tech.break_latest
        else s_end - dur
    )
    return earliest, latest, dur


def place_break(
    busy: Sequence[tuple[dt.datetime, dt.datetime]],
    bounds: tuple[dt.datetime, dt.datetime, dt.timedelta],
) -> dt.datetime | None:
    """The first start in [earliest, latest] where the break fits between busy intervals."""
    earliest, latest, dur = bounds
    candidates = sorted({earliest, *(e for _, e in busy if earliest <= e <= latest)})
    for start in candidates:
        end = start + dur
        if all(end <= b_start or start >= b_end for b_start, b_end in busy):
            return start
    return None


# -- jobs ---------------------------------------------------------------------------------
def _job_query() -> Select[tuple[Job]]:
    return select(Job).options(
        selectinload(Job.skills),
        selectinload(Job.time_windows),
        selectinload(Job.items),
        selectinload(Job.predecessors),
        selectinload(Job.assignment).selectinload(Assignment.technician),
    )


def _local_date(moment: dt.datetime, tz: str) -> dt.date:
    return moment.astimezone(ZoneInfo(tz)).date()


def load_job(*, db: Session, job_id: int, user: User | None = None) -> Job:
    """The job with its children; a technician only ever sees their own jobs (else 404)."""
    job = db.scalar(_job_query().where(Job.id == job_id))
    if job is None or (user is not None and not can_see_job(user, job)):
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def can_see_job(user: User, job: Job) -> bool:
    if user.role in ("admin", "dispatcher"):
        return True
    tech = user.technician
    return bool(tech and job.assignment and job.assignment.technician_id == tech.id)


def _merge(rows: list[Any], wanted: dict[str, int], key: str, value: str, cls: type) -> None:
    """Update child rows in place (a unique key must not be deleted and re-inserted)."""
    current = {getattr(r, key): r for r in rows}
    for k, v in wanted.items():
        if k in current:
            setattr(current[k], value, v)
        else:
            rows.append(cls(**{key: k, value: v}))
    for k, row in current.items():
        if k not in wanted:
            rows.remove(row)


def _set_job_children(db: Session, job: Job, data: Any, fields: set[str]) -> None:
    if "skills" in fields and data.skills is not None:
        _merge(job.skills, data.skills, "skill", "level", JobSkill)
    if "time_windows" in fields and data.time_windows is not None:
        job.time_windows = [
            JobTimeWindow(start=w.start.astimezone(dt.UTC), end=w.end.astimezone(dt.UTC))
            for w in data.time_windows
        ]
    if "items" in fields and data.items is not None:
        _merge(job.items, {i.sku: i.quantity for i in data.items}, "sku", "quantity", JobItem)
    if "predecessor_ids" in fields and data.predecessor_ids is not None:
        ids = list(dict.fromkeys(data.predecessor_ids))
        if job.id is not None and job.id in ids:
            raise ValidationFailed("body.predecessor_ids: a job cannot precede itself")
        found = list(db.scalars(select(Job).where(Job.id.in_(ids)))) if ids else []
        missing = sorted(set(ids) - {j.id for j in found})
        if missing:
            raise ValidationFailed(f"body.predecessor_ids: unknown job ids {missing}")
        job.predecessors = found


def create_job(*, db: Session, data: schemas.JobCreate, tz: str) -> Job:
    """Store a new open job; its ``date`` defaults to the first window's (or SLA's) day."""
    day = data.date
    if day is None and data.time_windows:
        day = _local_date(min(w.start for w in data.time_windows), tz)
    if day is None and data.sla_due is not None:
        day = _local_date(data.sla_due, tz)
    if day is None:
        raise ValidationFailed("body.date: required when the job has no time window or SLA")
    reference = data.reference or (
        f"{SOURCE_PREFIX[data.source]}-{day:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"
    )
    if db.scalar(select(Job.id).where(Job.reference == reference)) is not None:
        raise Conflict(f"A job with reference {reference!r} exists.", field="reference")
    job = Job(
        reference=reference,
        source=data.source,
        source_id=data.source_id,
        kind=data.kind,
        title=data.title,
        description=data.description,
        customer_name=data.customer.name,
        customer_phone=data.customer.phone,
        address=data.address,
        lat=data.location.lat,
        lon=data.location.lon,
        territory=data.territory,
        duration_min=data.duration_min,
        priority=data.priority,
        sla_due=data.sla_due,
        date=day,
        status="open",
        skills=[],
        time_windows=[],
        items=[],
        predecessors=[],
    )
    _set_job_children(db, job, data, set(data.model_fields_set))
    db.add(job)
    db.flush()
    emit(db, "job.created", job_event_data(job))
    return job


def update_job(*, db: Session, job: Job, data: schemas.JobUpdate) -> Job:
    """Edit a job; an assignment follows (new duration) or is released (new date)."""
    fields = set(data.model_fields_set)
    old_date = job.date
    for name in (
        "kind",
        "title",
        "description",
        "address",
        "territory",
        "duration_min",
        "priority",
        "sla_due",
        "date",
    ):
        if name in fields:
            value = getattr(data, name)
            if value is None and name in ("kind", "duration_min", "priority", "date"):
                raise ValidationFailed(f"body.{name}: may not be null")
            setattr(job, name, value)
    if "customer" in fields and data.customer is not None:
        job.customer_name, job.customer_phone = data.customer.name, data.customer.phone
    if "location" in fields and data.location is not None:
        job.lat, job.lon = data.location.lat, data.location.lon
    _set_job_children(db, job, data, fields)
    a = job.assignment
    if a is not None and job.date != old_date:
        if job.status != "dispatched":
            raise Conflict(
                f"Job {job.reference} is {job.status}; its date cannot change now.",
                current_status=job.status,
            )
        tech = a.technician
        db.delete(a)
        job.assignment = None
        job.status = "open"
        db.flush()
        resequence(db=db, technician=tech, day=old_date)
    elif a is not None:
        a.planned_end = a.planned_start + dt.timedelta(minutes=job.duration_min)
    job.updated_at = utcnow()
    db.flush()
    emit(db, "job.updated", job_event_data(job))
    return job


def job_event_data(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "status": job.status,
        "source": job.source,
        "technician_id": job.assignment.technician_id if job.assignment else None,
        "version": job.version,
        "date": job.date.isoformat(),
    }


def list_jobs(
    *,
    db: Session,
    user: User,
    day: dt.date | None = None,
    statuses: Sequence[str] | None = None,
    technician_id: int | None = None,
    territory: str | None = None,
    source: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    query = _job_query()
    if user.role == "technician":
        own = user.technician.id if user.technician else -1
        if technician_id is not None and technician_id != own:
            return [], 0
        technician_id = own
    if day is not None:
        query = query.where(Job.date == day)
    if statuses:
        query = query.where(Job.status.in_(list(statuses)))
    if technician_id is not None:
        query = query.where(
            Job.id.in_(select(Assignment.job_id).where(Assignment.technician_id == technician_id))
        )
    if territory:
        query = query.where(Job.territory == territory)
    if source:
        query = query.where(Job.source == source)
    return page(db, query, Job.date, Job.id, limit=limit, offset=offset)


def job_to_dict(job: Job) -> dict[str, Any]:
    """The contract's Job body (docs/api.md)."""
    a = job.assignment
    assignment = None
    if a is not None:
        assignment = {
            "technician_id": a.technician_id,
            "technician_name": a.technician.name if a.technician else "",
            "planned_start": a.planned_start,
            "planned_end": a.planned_end,
            "travel_min": a.travel_min,
            "sequence": a.sequence,
            "pinned": a.pinned,
            "override": a.override,
        }
    return {
        "id": job.id,
        "reference": job.reference,
        "source": job.source,
        "source_id": job.source_id,
        "kind": job.kind,
        "title": job.title,
        "description": job.description,
        "customer": {"name": job.customer_name, "phone": job.customer_phone},
        "address": job.address,
        "location": {"lat": job.lat, "lon": job.lon},
        "territory": job.territory,
        "duration_min": job.duration_min,
        "skills": job.skill_map,
        "time_windows": [{"start": w.start, "end": w.end} for w in job.time_windows],
        "sla_due": job.sla_due,
        "priority": job.priority,
        "items": [{"sku": i.sku, "quantity": i.quantity} for i in job.items],
        "predecessor_ids": sorted(p.id for p in job.predecessors),
        "status": job.status,
        "date": job.date,
        "assignment": assignment,
        "incomplete_reason": job.incomplete_reason,
        "version": job.version,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


# -- travel estimates ---------------------------------------------------------------------
def travel_minutes(a: tuple[float, float], b: tuple[float, float]) -> int:
    """Straight-line distance, stretched for roads, at city speed (lat, lon pairs)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    metres = 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h))) * Geodesic.detour
    return round(metres / (Geodesic.speed_kmh / 3.6) / 60)


def day_assignments(
    *, db: Session, technician_id: int, day: dt.date, exclude_job_id: int | None = None
) -> list[Assignment]:
    query = (
        select(Assignment)
        .join(Job, Job.id == Assignment.job_id)
        .where(Assignment.technician_id == technician_id, Job.date == day)
        .options(selectinload(Assignment.job))
        .order_by(Assignment.planned_start)
    )
    if exclude_job_id is not None:
        query = query.where(Assignment.job_id != exclude_job_id)
    return list(db.scalars(query))


def resequence(*, db: Session, technician: Technician, day: dt.date) -> None:
    """Renumber a technician's visits of a day by start time and recompute travel."""
    prev = (technician.home_lat, technician.home_lon)
    for n, a in enumerate(day_assignments(db=db, technician_id=technician.id, day=day), 1):
        here = (a.job.lat, a.job.lon)
        a.sequence = n
        a.travel_min = travel_minutes(prev, here)
        prev = here


# -- dispatcher assignment ----------------------------------------------------------------
def van_stock(db: Session, technician_id: int) -> dict[str, int]:
    """``{sku: quantity}`` in the technician's van, read through the stock module."""
    from stock import service as stock_service

    return stock_service.van_stock(db, technician_id)


def check_assignment(
    *, db: Session, job: Job, tech: Technician, start: dt.datetime, tz: str
) -> list[tuple[str, str]]:
    """Every broken rule as (rule, message), in the order a dispatcher would fix them."""
    problems: list[tuple[str, str]] = []
    end = start + dt.timedelta(minutes=job.duration_min)
    day = job.date
    absence = is_absent(tech, day)
    if absence is not None:
        problems.append(
            ("absence", f"{tech.name} is absent on {day} ({absence.reason or 'leave'}).")
        )
    elif not tech.active:
        problems.append(("absence", f"{tech.name} is not active."))
    have = tech.skill_map
    for skill, level in job.skill_map.items():
        if have.get(skill, 0) < level:
            got = have.get(skill)
            what = f"level {got}" if got else "no such skill"
            problems.append(("skill", f"{tech.name} lacks {skill} level {level} ({what})."))
    if job.time_windows and not any(w.start <= start <= w.end for w in job.time_windows):
        windows = ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in job.time_windows)
        problems.append(("time_window", f"Start {start:%H:%M} is outside the windows {windows}."))
    s_start, s_end = shift_bounds(tech, day, tz)
    if absence is None and day.weekday() not in (tech.working_days or []):
        problems.append(("shift", f"{tech.name} does not work on {day:%A}s."))
    elif start < s_start or end > s_end:
        problems.append(
            (
                "shift",
                f"{start:%H:%M}-{end:%H:%M} is outside the shift {s_start:%H:%M}-{s_end:%H:%M}.",
            )
        )
    others = day_assignments(db=db, technician_id=tech.id, day=day, exclude_job_id=job.id)
    for o in others:
        if start < o.planned_end and o.planned_start < end:
            problems.append(
                (
                    "overlap",
                    f"Overlaps {o.job.reference} ({o.planned_start:%H:%M}-{o.planned_end:%H:%M}).",
                )
            )
            break
    bounds = break_bounds(tech, day, tz)
    if bounds is not None:
        busy = [(o.planned_start, o.planned_end) for o in others] + [(start, end)]
        if place_break(busy, bounds) is None:
            problems.append(
                ("shift", f"The {tech.break_duration_min}-minute break no longer fits.")
            )
    if job.items:
        # The van must also cover the day's other visits that have not used their items yet.
        stock = van_stock(db, tech.id)
        committed: dict[str, int] = {}
        for o in others:
            if o.job.status in ("dispatched", "en_route", "on_site"):
                for it in o.job.items:
                    committed[it.sku] = committed.get(it.sku, 0) + it.quantity
        for item in job.items:
            free = stock.get(item.sku, 0) - committed.get(item.sku, 0)
            if free < item.quantity:
                held = (
                    f" ({committed[item.sku]} kept for other visits)"
                    if item.sku in committed
                    else ""
                )
                problems.append(
                    (
                        "stock",
                        f"The van holds {stock.get(item.sku, 0)} of {item.sku}{held}, "
                        f"the job needs {item.quantity}.",
                    )
                )
    return problems


def _default_start(*, db: Session, job: Job, tech: Technician, tz: str) -> dt.datetime:
    """After the technician's last visit of the day (or at shift start), inside a window."""
    s_start, _ = shift_bounds(tech, job.date, tz)
    others = day_assignments(db=db, technician_id=tech.id, day=job.date, exclude_job_id=job.id)
    start = s_start
    prev = (tech.home_lat, tech.home_lon)
    if others:
        last = others[-1]
        start = last.planned_end
        prev = (last.job.lat, last.job.lon)
    start += dt.timedelta(minutes=travel_minutes(prev, (job.lat, job.lon)))
    windows = sorted(job.time_windows, key=lambda w: w.start)
    for w in windows:
        if start <= w.end:
            return max(start, w.start)
    return start


def assign_job(
    *, db: Session, job: Job, patch: schemas.AssignmentPatch, user: User, tz: str
) -> Job:
    """Move, pin or unassign a job, refusing rule violations unless forced (then audited)."""
    if job.status in ACTIVE_JOB_STATUSES or job.status in CLOSED_JOB_STATUSES:
        raise Conflict(
            f"Job {job.reference} is {job.status}; only open or dispatched jobs can be moved.",
            current_status=job.status,
        )
    old = job.assignment
    old_tech = old.technician if old else None
    if "technician_id" not in patch.model_fields_set:
        if old is None:
            raise ValidationFailed(
                "body.technician_id: required, the job is not assigned to anyone yet"
            )
        patch = patch.model_copy(update={"technician_id": old.technician_id})
    if patch.technician_id is None:
        if old is None:
            return job
        db.delete(old)
        job.assignment = None
        job.status = "open"
        audit(
            db=db,
            user=user,
            action="unassign",
            entity="job",
            entity_id=job.id,
            detail={"from_technician_id": old.technician_id},
        )
    else:
        tech = db.scalar(_technician_query().where(Technician.id == patch.technician_id))
        if tech is None:
            raise ValidationFailed(
                f"body.technician_id: technician {patch.technician_id} does not exist"
            )
        if patch.start is not None:
            start = patch.start.astimezone(dt.UTC)
        elif old is not None and old.technician_id == tech.id:
            start = old.planned_start
        else:
            start = _default_start(db=db, job=job, tech=tech, tz=tz)
        if _local_date(start, tz) != job.date:
            raise ValidationFailed(f"body.start: must be on the job's date {job.date}")
        problems = check_assignment(db=db, job=job, tech=tech, start=start, tz=tz)
        if problems and not patch.force:
            rule, message = problems[0]
            raise RuleViolation(
                rule, message, violations=[{"rule": r, "detail": m} for r, m in problems]
            )
        end = start + dt.timedelta(minutes=job.duration_min)
        if old is None:
            old = Assignment(
                job_id=job.id, technician_id=tech.id, planned_start=start, planned_end=end
            )
            job.assignment = old
            db.add(old)
        old.technician_id = tech.id
        old.technician = tech
        old.planned_start, old.planned_end = start, end
        if patch.pinned is not None:
            old.pinned = patch.pinned
        old.override = bool(problems)
        old.plan_version_id = None
        job.status = "dispatched"
        detail: dict[str, Any] = {
            "technician_id": tech.id,
            "start": start.isoformat(),
            "from_technician_id": old_tech.id if old_tech else None,
        }
        if problems:
            detail["violations"] = [{"rule": r, "detail": m} for r, m in problems]
        audit(
            db=db,
            user=user,
            action="override" if problems else "assign",
            entity="job",
            entity_id=job.id,
            detail=detail,
        )
        db.flush()
        resequence(db=db, technician=tech, day=job.date)
    if old_tech is not None and (
        job.assignment is None or old_tech.id != job.assignment.technician_id
    ):
        db.flush()
        resequence(db=db, technician=old_tech, day=job.date)
    job.updated_at = utcnow()
    db.flush()
    emit(db, "job.updated", job_event_data(job))
    return job


# -- schedule -----------------------------------------------------------------------------
def _job_summary(job: Job, sla_at_risk: bool) -> dict[str, Any]:
    return {
        "id": job.id,
        "reference": job.reference,
        "kind": job.kind,
        "title": job.title,
        "priority": job.priority,
        "status": job.status,
        "customer_name": job.customer_name,
        "address": job.address,
        "location": {"lat": job.lat, "lon": job.lon},
        "duration_min": job.duration_min,
        "skills": job.skill_map,
        "time_windows": [{"start": w.start, "end": w.end} for w in job.time_windows],
        "sla_due": job.sla_due,
        "sla_at_risk": sla_at_risk,
        "pinned": bool(job.assignment and job.assignment.pinned),
        "override": bool(job.assignment and job.assignment.override),
        "territory": job.territory,
        "version": job.version,
    }


def latest_published_plan(*, db: Session, day: dt.date) -> PlanVersion | None:
    return db.scalar(
        select(PlanVersion)
        .where(
            PlanVersion.status == "published",
            PlanVersion.date_from <= day,
            PlanVersion.date_to >= day,
        )
        .order_by(PlanVersion.published_at.desc(), PlanVersion.id.desc())
        .limit(1)
    )


def schedule(*, db: Session, day: dt.date, tz: str, territory: str | None = None) -> dict[str, Any]:
    """Every technician's route on ``day`` from the current assignments, and the open jobs."""
    plan = latest_published_plan(db=db, day=day)
    plan_breaks: dict[int, list[dict[str, str]]] = {}
    reasons: dict[int, tuple[str, str]] = {}
    if plan is not None:
        for r in db.scalars(
            select(PlanRoute).where(PlanRoute.plan_version_id == plan.id, PlanRoute.date == day)
        ):
            plan_breaks[r.technician_id] = r.breaks or []
        for u in db.scalars(
            select(PlanUnassigned).where(PlanUnassigned.plan_version_id == plan.id)
        ):
            reasons[u.job_id] = (u.reason, u.message)
    techs_q = _technician_query().where(Technician.active.is_(True)).order_by(Technician.id)
    if territory:
        techs_q = techs_q.where(Technician.territory == territory)
    techs = list(db.scalars(techs_q))
    jobs = list(db.scalars(_job_query().where(Job.date == day)))
    by_tech: dict[int, list[Job]] = {}
    unassigned_jobs: list[Job] = []
    for job in jobs:
        if job.assignment is not None:
            by_tech.setdefault(job.assignment.technician_id, []).append(job)
        elif job.status == "open" and (territory is None or job.territory == territory):
            unassigned_jobs.append(job)
    routes = []
    total_travel = total_work = total_avail = 0
    sla_risk = 0
    for tech in techs:
        visits_jobs = sorted(by_tech.get(tech.id, []), key=lambda j: j.assignment.planned_start)
        available = works_on(tech, day)
        if not visits_jobs and not available:
            continue
        s_start, s_end = shift_bounds(tech, day, tz)
        prev = (tech.home_lat, tech.home_lon)
        prev_end = s_start
        visits = []
        travel = work = 0
        for n, job in enumerate(visits_jobs, 1):
            a = job.assignment
            leg = a.travel_min  # from the plan, or estimated when a dispatcher moved it
            arrival = max(prev_end + dt.timedelta(minutes=leg), s_start)
            arrival = min(arrival, a.planned_start)
            late = job.sla_due is not None and a.planned_end > job.sla_due
            sla_risk += late
            visits.append(
                {
                    "job_id": job.id,
                    "sequence": n,
                    "arrival": arrival,
                    "start": a.planned_start,
                    "end": a.planned_end,
                    "travel_min": leg,
                    "wait_min": max(0, round((a.planned_start - arrival).total_seconds() / 60)),
                    "job": _job_summary(job, late),
                }
            )
            travel += leg
            work += job.duration_min
            prev, prev_end = (job.lat, job.lon), a.planned_end
        if visits_jobs:
            travel += travel_minutes(prev, (tech.home_lat, tech.home_lon))
        breaks = plan_breaks.get(tech.id)
        if breaks is None or any(
            j.assignment.plan_version_id != (plan.id if plan else None) for j in visits_jobs
        ):
            bounds = break_bounds(tech, day, tz)
            breaks = []
            if bounds is not None:
                busy = [(j.assignment.planned_start, j.assignment.planned_end) for j in visits_jobs]
                b_start = place_break(busy, bounds) or bounds[0]
                breaks = [{"start": b_start.isoformat(), "end": (b_start + bounds[2]).isoformat()}]
        avail = (s_end - s_start).total_seconds() / 60 - tech.break_duration_min
        util = (work + travel) / avail if avail > 0 else 0.0
        total_travel += travel
        total_work += work + travel
        total_avail += max(avail, 0)
        routes.append(
            {
                "technician": {
                    "id": tech.id,
                    "name": tech.name,
                    "skills": tech.skill_map,
                    "territory": tech.territory,
                    "depot": tech.depot,
                },
                "shift": {"start": s_start, "end": s_end},
                "available": available,
                "breaks": breaks,
                "start_location": {"lat": tech.home_lat, "lon": tech.home_lon},
                "end_location": {"lat": tech.home_lat, "lon": tech.home_lon},
                "visits": visits,
                "travel_min": travel,
                "work_min": work + travel,
                "utilisation": round(util, 3),
            }
        )
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(tz))
    unassigned = []
    for job in sorted(unassigned_jobs, key=lambda j: (-j.priority, j.id)):
        at_risk = job.sla_due is not None and job.sla_due <= day_end
        sla_risk += at_risk
        reason, message = reasons.get(job.id, ("not_planned", "No published plan covers it yet."))
        unassigned.append({"job": _job_summary(job, at_risk), "reason": reason, "message": message})
    assigned = sum(len(r["visits"]) for r in routes)
    return {
        "date": day,
        "plan_version_id": plan.id if plan else None,
        "routes": routes,
        "unassigned": unassigned,
        "kpis": {
            "jobs_assigned": assigned,
            "jobs_unassigned": len(unassigned),
            "sla_at_risk": sla_risk,
            "travel_min": total_travel,
            "utilisation": round(total_work / total_avail, 3) if total_avail else 0.0,
        },
    }

"""Field reports: status events, notes, photos, used items and positions.

A technician only ever sees jobs assigned to them: every lookup goes through
:func:`job_for_user`, which answers 404 (not 403) for anyone else's job so that job ids do
not leak. Dispatchers and admins may act on any job (on behalf of its technician).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

import orjson
from pydantic_core import to_jsonable_python
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Select

from core import events
from core.db import Database, utcnow
from core.errors import ApiError, Conflict, Forbidden, NotFound, PreconditionFailed
from core.events import emit
from core.idempotency import fingerprint
from fieldwork.models import JobEvent, JobNote, JobPhoto, TechnicianPosition, UsedItem
from fieldwork.schemas import EventCreate, PositionFix, UsedItemCreate
from fieldwork.uploads import ReceivedFile, StoredImage
from stock import service as stock_service
from workforce import lifecycle
from workforce.models import Assignment, Job, Technician, User
from workforce.service import job_event_data, job_to_dict

_JOBS = Job.__table__
_EVENTS = JobEvent.__table__

# Used items are recorded at the customer's, or afterwards from the van.
USED_ITEM_STATUSES = (lifecycle.ON_SITE, lifecycle.COMPLETED, lifecycle.INCOMPLETE)


class InvalidTransitionError(ApiError):
    """409 with the current status and the moves that are allowed from it."""

    status_code, code = 409, "invalid_transition"

    def __init__(self, exc: lifecycle.InvalidTransition) -> None:
        super().__init__(
            str(exc),
            current_status=exc.current_status,
            requested=exc.requested,
            allowed=exc.allowed,
        )


def _job_options(*, single: bool) -> list[Any]:
    """Everything a ``Job`` response needs, loaded up front instead of row by row.

    One job (the hot path of every status event) is fetched in a single round trip with
    joined collections (a handful of rows each); lists of jobs use one query per collection.
    Predecessors and the technician contribute only the columns the response shows.
    """
    load = joinedload if single else selectinload
    return [
        load(Job.skills),
        load(Job.time_windows),
        load(Job.items),
        load(Job.predecessors).load_only(Job.id),
        joinedload(Job.assignment).joinedload(Assignment.technician).load_only(Technician.name),
    ]


def technician_of(db: Session, *, user: User) -> Technician:
    """The technician profile of a technician user (403 for anyone without one)."""
    if user.role != "technician":
        raise Forbidden(f"This endpoint is for technicians; you are {user.role}.")
    tech = db.scalars(select(Technician).where(Technician.user_id == user.id)).one_or_none()
    if tech is None:
        raise Forbidden("Your login has no technician profile.")
    return tech


@functools.cache
def _job_statement(*, own_only: bool, lock: bool, full: bool) -> Select[Any]:
    """The job lookup, built once per variant with the ids as bound parameters: composing
    a statement with its loader options costs more CPU than running it."""
    query = select(Job).where(Job.id == bindparam("job_id"))
    if own_only:
        query = (
            query.join(Assignment, Assignment.job_id == Job.id)
            .join(Technician, Technician.id == Assignment.technician_id)
            .where(Technician.user_id == bindparam("user_id"))
        )
    if full:
        query = query.options(*_job_options(single=True))
    if lock:
        query = query.with_for_update(of=Job)
    return query


def job_for_user(
    db: Session, *, user: User, job_id: int, lock: bool = False, full: bool = True
) -> Job:
    """The job if ``user`` may see it, else 404 (technicians see only their own jobs).

    ``lock`` takes the job row's write lock (PostgreSQL) so that two events for one job
    are decided one after the other; ``full`` loads what a Job response needs.
    """
    own_only = user.role == "technician"
    statement = _job_statement(own_only=own_only, lock=lock, full=full)
    params = {"job_id": job_id, "user_id": user.id} if own_only else {"job_id": job_id}
    job = db.scalars(statement, params).unique().one_or_none()
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    return job


_Row = TypeVar("_Row", JobEvent, JobNote, JobPhoto, UsedItem)


def list_for_job(db: Session, *, user: User, job_id: int, model: type[_Row]) -> list[_Row]:
    """A job's events, notes, photos or used items, oldest first (404 if not the user's job)."""
    job_for_user(db, user=user, job_id=job_id, full=False)
    return list(db.scalars(select(model).where(model.job_id == job_id).order_by(model.id)))


def my_jobs(db: Session, *, technician_id: int, day: dt.date) -> list[Job]:
    """A technician's jobs of one day in route order."""
    query = (
        select(Job)
        .join(Assignment, Assignment.job_id == Job.id)
        .where(Assignment.technician_id == technician_id, Job.date == day)
        .order_by(Assignment.sequence, Assignment.planned_start, Job.id)
        .options(*_job_options(single=False))
    )
    return list(db.scalars(query).unique())


# -- status events ----------------------------------------------------------------------
def record_event(
    db: Session, *, user: User, job_id: int, body: EventCreate
) -> tuple[JobEvent, Job]:
    """Apply a technician's status event to the job and keep it in the job's history.

    This is the busiest write of the API (every technician, several times per job), so
    after the one locked read it issues plain statements instead of an ORM flush: one
    guarded UPDATE of the job and one INSERT of the event.
    """
    job = job_for_user(db, user=user, job_id=job_id, lock=True)
    current = job.status
    try:
        lifecycle.check_field_event(current, body.type, body.reason)
    except lifecycle.InvalidTransition as exc:
        raise InvalidTransitionError(exc) from None
    now = utcnow()
    changes: dict[str, Any] = {"status": body.type, "version": job.version + 1, "updated_at": now}
    if body.type == lifecycle.INCOMPLETE:
        changes["incomplete_reason"] = body.reason
    # Guarded by the version like the ORM's own check; the row lock makes a miss unlikely.
    result = db.execute(
        update(_JOBS).where(_JOBS.c.id == job.id, _JOBS.c.version == job.version).values(changes)
    )
    if result.rowcount != 1:
        raise PreconditionFailed("The job was changed by someone else; reload it and retry.")
    for name, value in changes.items():
        set_committed_value(job, name, value)
    pos = body.position
    row = {
        "job_id": job.id,
        "type": body.type,
        "from_status": current,
        "at": body.at,
        "received_at": now,
        "lat": pos.lat if pos else None,
        "lon": pos.lon if pos else None,
        "accuracy_m": pos.accuracy_m if pos else None,
        "reason": body.reason,
        "user_id": user.id,
    }
    row["id"] = db.execute(insert(_EVENTS).values(row).returning(_EVENTS.c.id)).scalar_one()
    emit(db, "job.updated", job_event_data(job))
    return JobEvent(**row), job


def event_body(
    *,
    event_id: int,
    job_id: int,
    payload: dict[str, Any],
    from_status: str,
    received_at: dt.datetime,
    job: dict[str, Any],
) -> dict[str, Any]:
    """The 201 body of a status event (docs/api.md), from the request as validated and
    dumped (``payload``: its ``at`` keeps the device's offset) and the updated job's body.

    Both ways of recording an event answer through this, so they cannot drift apart.
    """
    return {
        "id": event_id,
        "job_id": job_id,
        "type": payload["type"],
        "from_status": from_status,
        "at": payload["at"],
        "received_at": to_jsonable_python(received_at),
        "position": payload["position"],
        "reason": payload["reason"],
        "job": job,
    }


# -- notes ------------------------------------------------------------------------------
def add_note(db: Session, *, user: User, job_id: int, text: str) -> JobNote:
    job_for_user(db, user=user, job_id=job_id, full=False)
    note = JobNote(
        job_id=job_id,
        author_id=user.id,
        author_name=user.name or user.username,
        text=text,
        created_at=utcnow(),
    )
    db.add(note)
    db.flush()
    return note


# -- photos -----------------------------------------------------------------------------
def add_photo(
    db: Session,
    *,
    user: User,
    job_id: int,
    received: ReceivedFile,
    stored: StoredImage,
    caption: str | None,
) -> JobPhoto:
    photo = JobPhoto(
        job_id=job_id,
        uploaded_by=user.id,
        filename=(received.filename or "photo")[:255],
        content_type=stored.content_type,
        size=received.size,
        width=stored.width,
        height=stored.height,
        sha256=received.sha256,
        caption=caption,
        storage_path=stored.relative_path,
        created_at=utcnow(),
    )
    db.add(photo)
    db.flush()
    return photo


def photo_for_user(db: Session, *, user: User, photo_id: int) -> JobPhoto:
    photo = db.get(JobPhoto, photo_id)
    if photo is None:
        raise NotFound(f"Photo {photo_id} not found.")
    try:
        job_for_user(db, user=user, job_id=photo.job_id, full=False)
    except NotFound:
        raise NotFound(f"Photo {photo_id} not found.") from None
    return photo


# -- used items -------------------------------------------------------------------------
def record_used_item(db: Session, *, user: User, job_id: int, body: UsedItemCreate) -> UsedItem:
    """Book material fitted at a job out of the assigned technician's van.

    Level, ledger line and used-item row are written in the caller's transaction, so they
    commit together or not at all.
    """
    job = job_for_user(db, user=user, job_id=job_id, full=False)
    if job.status not in USED_ITEM_STATUSES:
        raise Conflict(
            f"Used items can be recorded once the technician is on site; the job is {job.status}.",
            current_status=job.status,
            allowed_statuses=list(USED_ITEM_STATUSES),
        )
    technician_id = db.scalar(select(Assignment.technician_id).where(Assignment.job_id == job.id))
    if technician_id is None:
        raise Conflict(f"Job {job_id} is not assigned to a technician.")
    result = stock_service.consume(
        db,
        technician_id=technician_id,
        sku=body.sku,
        quantity=body.quantity,
        job_id=job.id,
        serials=body.serial_numbers,
        created_by=user.id,
    )
    used = UsedItem(
        job_id=job.id,
        technician_id=technician_id,
        sku=result.item.sku,
        quantity=body.quantity,
        serial_numbers=list(result.movement.serial_numbers or []),
        movement_id=result.movement.id,
        remaining=result.remaining,
        user_id=user.id,
        created_at=utcnow(),
    )
    db.add(used)
    db.flush()
    return used


# -- positions --------------------------------------------------------------------------
def record_positions(db: Session, *, technician_id: int, fixes: Sequence[PositionFix]) -> int:
    """Store a batch of GPS fixes in one statement; returns how many were stored."""
    now = utcnow()
    db.execute(
        insert(TechnicianPosition),
        [
            {
                "technician_id": technician_id,
                "lat": f.lat,
                "lon": f.lon,
                "accuracy_m": f.accuracy_m,
                "at": f.at,
                "received_at": now,
            }
            for f in fixes
        ],
    )
    return len(fixes)


def last_position(db: Session, *, technician_id: int) -> TechnicianPosition | None:
    """The most recent fix by device time (for the board's map)."""
    return db.scalars(
        select(TechnicianPosition)
        .where(TechnicianPosition.technician_id == technician_id)
        .order_by(TechnicianPosition.at.desc(), TechnicianPosition.id.desc())
        .limit(1)
    ).first()


# -- status events on PostgreSQL, on the event loop ---------------------------------------
# The busiest write of the API, for a batch of events at once, as two autocommit
# statements on an asyncio connection: no worker thread, no transaction held across round
# trips, no ORM unit of work, and the database's cost per statement and per commit paid
# once per batch. The read brings everything each response needs (job, assignment,
# collections, the proof that the caller may act, the event's id); the write applies each
# change only if its job is still at the version read and still the caller's, and stores
# the events and the idempotency records in the same statement, so all of it commits or
# none (live listeners hear of it after the commit: ``EventBus.announce``). Whatever is not
# that common case (someone else's job, a refused move, a replayed key, a lost race, a
# handler that wants the event) goes to ``record_event`` above, which locks and knows
# every answer.
_JOB_COLUMNS = (
    "j.id, j.reference, j.source, j.source_id, j.kind, j.title, j.description,"
    " j.customer_name, j.customer_phone, j.address, j.lat, j.lon, j.territory,"
    " j.duration_min, j.sla_due, j.priority, j.status, j.date, j.incomplete_reason,"
    " j.version, j.created_at,"
    " a.technician_id, t.name, a.planned_start, a.planned_end, a.travel_min, a.sequence,"
    " a.pinned, a.override,"
    " (SELECT json_object_agg(s.skill, s.level ORDER BY s.skill)"
    "  FROM job_skills s WHERE s.job_id = j.id),"
    " ARRAY(SELECT w.start FROM job_time_windows w WHERE w.job_id = j.id"
    "  ORDER BY w.start, w.id),"
    ' ARRAY(SELECT w."end" FROM job_time_windows w WHERE w.job_id = j.id'
    "  ORDER BY w.start, w.id),"
    " (SELECT json_agg(json_build_object('sku', i.sku, 'quantity', i.quantity)"
    "  ORDER BY i.sku) FROM job_items i WHERE i.job_id = j.id),"
    " ARRAY(SELECT p.predecessor_id FROM job_predecessors p WHERE p.job_id = j.id"
    "  ORDER BY p.predecessor_id)"
)
# $1 jobs, $2 users: a row (numbered as asked) for each technician's own job, found only
# while their login is active, so one row proves both.
_READ_EVENTS_SQL = (
    f"SELECT r.n, {_JOB_COLUMNS}, nextval(pg_get_serial_sequence('job_events', 'id'))"
    " FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS r(job_id, user_id, n)"
    " JOIN jobs j ON j.id = r.job_id JOIN assignments a ON a.job_id = j.id"
    " JOIN technicians t ON t.id = a.technician_id JOIN users u ON u.id = t.user_id"
    " WHERE u.id = r.user_id AND u.active"
)
# One array per column, one element per event (a batch never holds a job or a key twice),
# and $18 the time received. Returns the jobs changed. A job another transaction has
# locked (a plan being published, the route's write) is skipped, not waited for: that
# event goes to the route, which waits, while the rest of the batch is written at once.
_WRITE_EVENTS_SQL = (
    "WITH v AS ("
    " SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::bool[], $5::text[],"
    " $6::int[], $7::int[], $8::int[], $9::text[], $10::timestamptz[], $11::float8[],"
    " $12::float8[], $13::float8[], $14::text[], $15::text[], $16::text[], $17::text[])"
    " AS v(job_id, type, new_version, set_reason, reason, old_version, user_id, event_id,"
    " from_status, at, lat, lon, accuracy_m, key, request_hash, path, response)"
    "), free AS MATERIALIZED ("
    " SELECT l.id FROM jobs l WHERE l.id = ANY($1) FOR UPDATE SKIP LOCKED"
    "), upd AS ("
    " UPDATE jobs j SET status = v.type, version = v.new_version, updated_at = $18,"
    " incomplete_reason = CASE WHEN v.set_reason THEN v.reason ELSE j.incomplete_reason END"
    " FROM v JOIN free ON free.id = v.job_id"
    " WHERE j.id = v.job_id AND j.version = v.old_version AND EXISTS ("
    "  SELECT 1 FROM assignments a JOIN technicians t ON t.id = a.technician_id"
    "  JOIN users u ON u.id = t.user_id"
    "  WHERE a.job_id = j.id AND u.id = v.user_id AND u.active)"
    " RETURNING j.id"
    "), ev AS ("
    " INSERT INTO job_events"
    " (id, job_id, type, from_status, at, received_at, lat, lon, accuracy_m, reason, user_id)"
    " SELECT v.event_id, v.job_id, v.type, v.from_status, v.at, $18, v.lat, v.lon,"
    " v.accuracy_m, v.reason, v.user_id FROM v JOIN upd ON upd.id = v.job_id"
    " RETURNING job_id"
    "), idem AS ("
    " INSERT INTO idempotency_records"
    " (user_id, key, request_hash, method, path, status_code, response_body, created_at)"
    " SELECT v.user_id, v.key, v.request_hash, 'POST', v.path, 201, v.response::json, $18"
    " FROM v JOIN ev ON ev.job_id = v.job_id WHERE v.key IS NOT NULL"
    ")"
    " SELECT job_id FROM ev"
)


def _job_from_row(row: Sequence[Any]) -> SimpleNamespace:
    """What ``job_to_dict`` and ``job_event_data`` read of a Job, from one row of
    ``_READ_EVENTS_SQL`` (they only read attributes, so the ORM object is not needed).
    asyncpg gives every ``timestamptz`` in UTC already."""
    (
        job_id, reference, source, source_id, kind, title, description,
        customer_name, customer_phone, address, lat, lon, territory,
        duration_min, sla_due, priority, status, date, incomplete_reason,
        version, created_at,
        technician_id, technician_name, planned_start, planned_end, travel_min, sequence,
        pinned, override,
        skills, window_starts, window_ends, items, predecessor_ids,
    ) = row  # fmt: skip
    assignment = None
    if technician_id is not None:
        assignment = SimpleNamespace(
            technician_id=technician_id,
            technician=SimpleNamespace(name=technician_name),
            planned_start=planned_start,
            planned_end=planned_end,
            travel_min=travel_min,
            sequence=sequence,
            pinned=pinned,
            override=override,
        )
    return SimpleNamespace(
        id=job_id,
        reference=reference,
        source=source,
        source_id=source_id,
        kind=kind,
        title=title,
        description=description,
        customer_name=customer_name,
        customer_phone=customer_phone,
        address=address,
        lat=lat,
        lon=lon,
        territory=territory,
        duration_min=duration_min,
        skill_map=skills or {},
        time_windows=[
            SimpleNamespace(start=s, end=e) for s, e in zip(window_starts, window_ends, strict=True)
        ],
        sla_due=sla_due,
        priority=priority,
        items=[SimpleNamespace(**item) for item in items or ()],
        predecessors=[SimpleNamespace(id=p) for p in predecessor_ids],
        status=status,
        date=date,
        assignment=assignment,
        incomplete_reason=incomplete_reason,
        version=version,
        created_at=created_at,
        updated_at=None,
    )


@dataclass(slots=True)
class FastEvent:
    """A technician's status event, validated, for :func:`record_events_fast`."""

    user_id: int
    job_id: int
    body: EventCreate
    payload: dict[str, Any]  # ``body`` as JSON: the stored request and its hash
    path: str
    key: str | None


async def record_events_fast(
    database: Database, bus: events.EventBus, batch: Sequence[FastEvent]
) -> list[bytes | None]:
    """For each event of ``batch`` (no job and no key twice), the 201 body (JSON) of a
    technician's own, valid status event, recorded on PostgreSQL with the rest of the
    batch in two autocommit statements and then announced to live listeners; ``None``
    where the request needs ``record_event`` instead.

    ``None`` means nothing was written for that event, so the general path may run the
    request from the start: it answers 401/404/409 exactly, replays a stored key, waits
    for a lock where this path lost a race, and runs in-transaction handlers. A batch
    that fails as a whole (a key stored meanwhile, a lost connection) is all ``None``.
    """
    import asyncpg  # loaded by the pool already; only PostgreSQL deployments need it

    answers: list[bytes | None] = [None] * len(batch)
    announced: list[tuple[int, dict[str, Any]]] = []
    columns: list[list[Any]] = [[] for _ in range(17)]
    try:
        async with database.async_connection() as conn:
            rows = await conn.fetch(
                _READ_EVENTS_SQL, [e.job_id for e in batch], [e.user_id for e in batch]
            )
            now = utcnow()
            for row in rows:
                n, wanted = row[0] - 1, batch[row[0] - 1]
                job, event_id = _job_from_row(row[1:-1]), row[-1]
                current = job.status
                body = wanted.body
                try:
                    lifecycle.check_field_event(current, body.type, body.reason)
                except (lifecycle.InvalidTransition, lifecycle.ReasonRequired):
                    continue
                old_version = job.version
                job.status, job.version, job.updated_at = body.type, old_version + 1, now
                if body.type == lifecycle.INCOMPLETE:
                    job.incomplete_reason = body.reason
                data = job_event_data(job)
                if events.handlers_for("job.updated", data):
                    continue
                response = event_body(
                    event_id=event_id,
                    job_id=job.id,
                    payload=wanted.payload,
                    from_status=current,
                    received_at=now,
                    job=job_to_dict(job),  # type: ignore[arg-type]
                )
                # One serialisation for both the stored copy and the answer; orjson writes
                # datetimes as ``jsonable`` does (ISO 8601, naive ones as UTC).
                answers[n] = orjson.dumps(response, option=orjson.OPT_NAIVE_UTC)
                announced.append((n, data))
                pos = body.position
                key = wanted.key
                for column, value in zip(
                    columns,
                    (
                        job.id,
                        body.type,
                        job.version,
                        body.type == lifecycle.INCOMPLETE,
                        body.reason,
                        old_version,
                        wanted.user_id,
                        event_id,
                        current,
                        body.at,
                        pos.lat if pos else None,
                        pos.lon if pos else None,
                        pos.accuracy_m if pos else None,
                        key,
                        fingerprint("POST", wanted.path, wanted.payload) if key else None,
                        wanted.path,
                        answers[n].decode() if key else None,  # type: ignore[union-attr]
                    ),
                    strict=True,
                ):
                    column.append(value)
            if not announced:
                return answers
            written = {r[0] for r in await conn.fetch(_WRITE_EVENTS_SQL, *columns, now)}
    except (
        asyncpg.UniqueViolationError,  # a key seen before: replayed there
        asyncpg.PostgresConnectionError,  # a connection that died (or the server restarted)
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.InterfaceError,
        OSError,
    ):
        return [None] * len(batch)
    for n, data in announced:
        if data["job_id"] in written:
            bus.announce(events.Event("job.updated", data))
        else:  # changed, reassigned or disabled meanwhile
            answers[n] = None
    return answers

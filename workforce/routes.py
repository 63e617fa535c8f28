"""Thin HTTP layer of the workforce module: validate -> service -> schema."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from core.deps import SessionDep, SettingsDep
from core.errors import ApiError
from core.schemas import jsonable
from workforce import bridge, runs, schemas, service
from workforce.deps import AdminUser, CurrentUser, DispatcherUser

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (max 500)")]
Offset = Annotated[int, Query(ge=0, le=2_147_483_647)]
PathId = Annotated[int, Path(ge=1, le=2_147_483_647)]
QueryDay = Annotated[dt.date, Query(ge=dt.date(2000, 1, 1), le=dt.date(2999, 12, 31))]
IfMatch = Annotated[str | None, Header(description='ETag of the version you read, e.g. "3"')]
JobStatus = Literal[
    "open", "dispatched", "en_route", "on_site", "completed", "incomplete", "cancelled"
]


def _page(response: Response, total: int) -> None:
    response.headers["X-Total-Count"] = str(total)


# -- auth ---------------------------------------------------------------------------------
@router.post("/auth/token", response_model=schemas.TokenOut, tags=["auth"])
def login(
    db: SessionDep, settings: SettingsDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> dict[str, Any]:
    """OAuth2 password flow: form fields ``username`` and ``password``."""
    return service.authenticate(
        db=db, settings=settings, username=form.username, password=form.password
    )


@router.get("/me", response_model=schemas.MeOut, tags=["auth"])
def read_me(user: CurrentUser) -> dict[str, Any]:
    return service.me(user)


@router.post(
    "/users", response_model=schemas.MeOut, status_code=status.HTTP_201_CREATED, tags=["auth"]
)
def create_user(body: schemas.UserCreate, db: SessionDep, _admin: AdminUser) -> dict[str, Any]:
    user = service.create_user(
        db=db, username=body.username, password=body.password, role=body.role, name=body.name
    )
    return service.me(user)


# -- territories --------------------------------------------------------------------------
class TerritoryIn(schemas.Strict):
    name: str = Field(min_length=1, max_length=80)
    polygon: list[tuple[float, float]] | None = Field(
        default=None, min_length=3, description="Ring of [lon, lat] pairs"
    )


class TerritoryOut(BaseModel):
    id: int
    name: str
    polygon: list[tuple[float, float]] | None


@router.get("/territories", response_model=list[TerritoryOut], tags=["technicians"])
def list_territories(db: SessionDep, _user: DispatcherUser) -> list[dict[str, Any]]:
    return [service.territory_to_dict(t) for t in service.list_territories(db=db)]


@router.put("/territories/{name}", response_model=TerritoryOut, tags=["technicians"])
def put_territory(
    name: str, body: TerritoryIn, db: SessionDep, _user: DispatcherUser
) -> dict[str, Any]:
    """Create or replace a territory's polygon (used by the optimiser)."""
    terr = service.put_territory(
        db=db, name=name, polygon=[list(p) for p in body.polygon] if body.polygon else None
    )
    return service.territory_to_dict(terr)


# -- technicians --------------------------------------------------------------------------
@router.get("/technicians", response_model=list[schemas.TechnicianRead], tags=["technicians"])
def list_technicians(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    territory: str | None = None,
    skill: str | None = None,
    active: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    items, total = service.list_technicians(
        db=db, territory=territory, skill=skill, active=active, limit=limit, offset=offset
    )
    _page(response, total)
    return [service.technician_to_dict(t) for t in items]


@router.post(
    "/technicians", response_model=schemas.TechnicianRead, status_code=201, tags=["technicians"]
)
def create_technician(
    body: schemas.TechnicianCreate, db: SessionDep, _user: DispatcherUser, response: Response
) -> dict[str, Any]:
    tech = service.create_technician(db=db, data=body)
    response.headers["ETag"] = service.etag(tech.version)
    return service.technician_to_dict(tech)


@router.get(
    "/technicians/{technician_id}", response_model=schemas.TechnicianRead, tags=["technicians"]
)
def read_technician(
    technician_id: PathId, db: SessionDep, _user: DispatcherUser, response: Response
) -> dict[str, Any]:
    tech = service.get_technician(db=db, technician_id=technician_id)
    response.headers["ETag"] = service.etag(tech.version)
    return service.technician_to_dict(tech)


@router.patch(
    "/technicians/{technician_id}", response_model=schemas.TechnicianRead, tags=["technicians"]
)
def update_technician(
    technician_id: PathId,
    body: schemas.TechnicianUpdate,
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    tech = service.get_technician(db=db, technician_id=technician_id)
    service.check_if_match(if_match, tech.version)
    service.update_technician(db=db, tech=tech, data=body)
    response.headers["ETag"] = service.etag(tech.version)
    return service.technician_to_dict(tech)


# -- jobs ---------------------------------------------------------------------------------
@router.get("/jobs", response_model=list[schemas.JobRead], tags=["jobs"])
def list_jobs(
    db: SessionDep,
    user: CurrentUser,
    response: Response,
    date: QueryDay | None = None,
    status: Annotated[list[JobStatus] | None, Query()] = None,
    technician_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    territory: str | None = None,
    source: Literal["order", "ticket", "maintenance", "construction", "manual"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Dispatchers see every job; a technician only the jobs assigned to them."""
    items, total = service.list_jobs(
        db=db,
        user=user,
        day=date,
        statuses=status,
        technician_id=technician_id,
        territory=territory,
        source=source,
        limit=limit,
        offset=offset,
    )
    _page(response, total)
    return [service.job_to_dict(j) for j in items]


@router.post("/jobs", response_model=schemas.JobRead, status_code=201, tags=["jobs"])
def create_job(
    body: schemas.JobCreate,
    db: SessionDep,
    settings: SettingsDep,
    _user: DispatcherUser,
    response: Response,
) -> dict[str, Any]:
    job = service.create_job(db=db, data=body, tz=settings.timezone)
    job = service.load_job(db=db, job_id=job.id)
    response.headers["ETag"] = service.etag(job.version)
    return service.job_to_dict(job)


@router.get("/jobs/{job_id}", response_model=schemas.JobRead, tags=["jobs"])
def read_job(
    job_id: PathId, db: SessionDep, user: CurrentUser, response: Response
) -> dict[str, Any]:
    job = service.load_job(db=db, job_id=job_id, user=user)
    response.headers["ETag"] = service.etag(job.version)
    return service.job_to_dict(job)


@router.patch("/jobs/{job_id}", response_model=schemas.JobRead, tags=["jobs"])
def update_job(
    job_id: PathId,
    body: schemas.JobUpdate,
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    job = service.load_job(db=db, job_id=job_id)
    service.check_if_match(if_match, job.version)
    service.update_job(db=db, job=job, data=body)
    response.headers["ETag"] = service.etag(job.version)
    return service.job_to_dict(job)


@router.patch("/jobs/{job_id}/assignment", response_model=schemas.JobRead, tags=["jobs"])
def patch_assignment(
    job_id: PathId,
    body: schemas.AssignmentPatch,
    db: SessionDep,
    settings: SettingsDep,
    user: DispatcherUser,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Move to a technician and time, pin/unpin, or unassign (``technician_id: null``)."""
    job = service.load_job(db=db, job_id=job_id)
    service.check_if_match(if_match, job.version)
    service.assign_job(db=db, job=job, patch=body, user=user, tz=settings.timezone)
    response.headers["ETag"] = service.etag(job.version)
    return service.job_to_dict(job)


# -- schedules ----------------------------------------------------------------------------
@router.get("/schedules/{date}", tags=["schedules"])
def read_schedule(
    date: Annotated[dt.date, Path(ge=dt.date(2000, 1, 1), le=dt.date(2999, 12, 31))],
    db: SessionDep,
    settings: SettingsDep,
    _user: DispatcherUser,
    territory: str | None = None,
) -> dict[str, Any]:
    """Every technician's route that day, and the unassigned jobs with reasons."""
    return jsonable(service.schedule(db=db, day=date, tz=settings.timezone, territory=territory))


# -- optimisation runs --------------------------------------------------------------------
@router.post(
    "/optimization-runs", response_model=schemas.RunRead, status_code=202, tags=["optimization"]
)
def create_run(
    body: schemas.RunCreate,
    db: SessionDep,
    settings: SettingsDep,
    user: DispatcherUser,
    request: Request,
) -> dict[str, Any]:
    """Queue a run; a worker executes it (poll ``GET /optimization-runs/{id}`` or the stream)."""
    run = runs.create_run(
        db=db,
        date_from=body.date_from,
        date_to=body.date_to or body.date_from,
        territory=body.territory,
        technician_ids=body.technician_ids,
        time_limit_s=body.time_limit_s,
        seed=body.seed,
        user_id=user.id,
        stale_after_s=settings.run_stale_after_s,
    )
    data = runs.run_to_dict(run)
    db.commit()  # the worker must see the row before it is handed the id
    try:
        request.app.state.runner.enqueue(run.id)
    except Exception as exc:
        runs.fail_run(request.app.state.database, run.id, f"Could not queue the run: {exc}")
        raise ApiError(
            "The optimisation queue is unavailable; try again shortly.",
            code="queue_unavailable",
            status_code=503,
        ) from exc
    return data


@router.get("/optimization-runs", response_model=list[schemas.RunRead], tags=["optimization"])
def list_runs(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    status: Annotated[
        list[Literal["queued", "running", "succeeded", "failed"]] | None, Query()
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    rows, total = runs.list_runs(db=db, statuses=status, limit=limit, offset=offset)
    _page(response, total)
    return [runs.run_to_dict(r) for r in rows]


@router.get("/optimization-runs/{run_id}", response_model=schemas.RunRead, tags=["optimization"])
def read_run(run_id: PathId, db: SessionDep, _user: DispatcherUser) -> dict[str, Any]:
    return runs.run_to_dict(runs.get_run(db=db, run_id=run_id))


# -- plan versions ------------------------------------------------------------------------
@router.get(
    "/plan-versions/{version_id}", response_model=schemas.PlanVersionRead, tags=["optimization"]
)
def read_plan_version(version_id: PathId, db: SessionDep, _user: DispatcherUser) -> dict[str, Any]:
    return bridge.plan_version_to_dict(bridge.get_plan_version(db, version_id))


@router.get("/plan-versions/{version_id}/diff", tags=["optimization"])
def plan_version_diff(version_id: PathId, db: SessionDep, _user: DispatcherUser) -> dict[str, Any]:
    """Changes against the current assignments if this version were published."""
    return jsonable(bridge.diff(db, bridge.get_plan_version(db, version_id)))


@router.post("/plan-versions/{version_id}/publish", tags=["optimization"])
def publish_plan_version(
    version_id: PathId, db: SessionDep, user: DispatcherUser
) -> dict[str, Any]:
    version = bridge.get_plan_version(db, version_id)
    result = bridge.publish(db, version=version, user=user)
    return jsonable({**bridge.plan_version_to_dict(version), **result})


@router.post(
    "/plan-versions/{version_id}/discard",
    response_model=schemas.PlanVersionRead,
    tags=["optimization"],
)
def discard_plan_version(
    version_id: PathId, db: SessionDep, user: DispatcherUser
) -> dict[str, Any]:
    version = bridge.discard(db, version=bridge.get_plan_version(db, version_id), user=user)
    return bridge.plan_version_to_dict(version)


# -- audit --------------------------------------------------------------------------------
@router.get("/audit-entries", tags=["audit"])
def list_audit(
    db: SessionDep,
    _user: AdminUser,
    response: Response,
    entity: str | None = None,
    entity_id: int | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    rows, total = service.list_audit(
        db=db, entity=entity, entity_id=entity_id, limit=limit, offset=offset
    )
    _page(response, total)
    return [jsonable(service.audit_to_dict(e)) for e in rows]

"""Stock endpoints for dispatchers and admins: catalogue, locations, levels and the ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from core.deps import SessionDep
from stock import schemas, service
from stock.models import StockMovement
from workforce.deps import DispatcherUser

router = APIRouter(prefix="/stock", tags=["stock"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]
# Database ids are 32-bit: a larger number names the parameter instead of reaching SQL.
IdFilter = Annotated[int | None, Query(ge=1, le=2_147_483_647)]


def _movement_out(m: StockMovement) -> schemas.MovementRead:
    return schemas.MovementRead(
        id=m.id,
        kind=m.kind,
        sku=m.item.sku,
        item_id=m.item_id,
        quantity=m.quantity,
        from_location_id=m.from_location_id,
        to_location_id=m.to_location_id,
        job_id=m.job_id,
        serial_numbers=list(m.serial_numbers or []),
        reason=m.reason,
        created_by=m.created_by,
        created_at=m.created_at,
    )


@router.get("/items", response_model=list[schemas.ItemRead])
def list_items(
    db: SessionDep, _user: DispatcherUser, response: Response, limit: Limit = 50, offset: Offset = 0
) -> list[schemas.ItemRead]:
    rows, total = service.list_items(db, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [schemas.ItemRead.model_validate(r) for r in rows]


@router.post("/items", response_model=schemas.ItemRead, status_code=201)
def create_item(
    body: schemas.ItemCreate, db: SessionDep, _user: DispatcherUser
) -> schemas.ItemRead:
    item = service.create_item(
        db, sku=body.sku, name=body.name, serialized=body.serialized, unit=body.unit
    )
    return schemas.ItemRead.model_validate(item)


@router.get("/locations", response_model=list[schemas.LocationRead])
def list_locations(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    kind: schemas.LocationKind | None = None,
    technician_id: IdFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[schemas.LocationRead]:
    rows, total = service.list_locations(
        db, kind=kind, technician_id=technician_id, limit=limit, offset=offset
    )
    response.headers["X-Total-Count"] = str(total)
    return [schemas.LocationRead.model_validate(r) for r in rows]


@router.post("/locations", response_model=schemas.LocationRead, status_code=201)
def create_location(
    body: schemas.LocationCreate, db: SessionDep, _user: DispatcherUser
) -> schemas.LocationRead:
    location = service.create_location(
        db, name=body.name, kind=body.kind, technician_id=body.technician_id
    )
    return schemas.LocationRead.model_validate(location)


@router.get("/levels", response_model=list[schemas.LevelRead])
def list_levels(
    db: SessionDep, _user: DispatcherUser, response: Response, location_id: IdFilter = None
) -> list[schemas.LevelRead]:
    rows = service.levels(db, location_id=location_id)
    response.headers["X-Total-Count"] = str(len(rows))
    return [
        schemas.LevelRead(
            location_id=r.location_id,
            item_id=r.item_id,
            sku=r.item.sku,
            name=r.item.name,
            serialized=r.item.serialized,
            quantity=r.quantity,
        )
        for r in rows
    ]


@router.get("/movements", response_model=list[schemas.MovementRead])
def list_movements(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    location_id: IdFilter = None,
    job_id: IdFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[schemas.MovementRead]:
    rows, total = service.list_movements(
        db, location_id=location_id, job_id=job_id, limit=limit, offset=offset
    )
    response.headers["X-Total-Count"] = str(total)
    return [_movement_out(m) for m in rows]


@router.post("/movements", response_model=schemas.MovementRead, status_code=201)
def create_movement(
    body: schemas.MovementCreate, db: SessionDep, user: DispatcherUser
) -> schemas.MovementRead:
    movement = service.record_movement(
        db,
        kind=body.kind,
        sku=body.sku,
        quantity=body.quantity,
        from_location_id=body.from_location_id,
        to_location_id=body.to_location_id,
        reason=body.reason,
        serials=body.serial_numbers,
        created_by=user.id,
    )
    return _movement_out(movement)

"""Orders API (dispatchers and admins): an order with installation lines creates a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from core.deps import SessionDep, SettingsDep
from orders import schemas, service
from workforce.deps import DispatcherUser

router = APIRouter(tags=["orders"])


@router.get("/orders", response_model=list[schemas.OrderRead])
def list_orders(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    items, total = service.list_orders(db=db, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [service.order_to_dict(o) for o in items]


@router.post("/orders", response_model=schemas.OrderRead, status_code=201)
def create_order(
    body: schemas.OrderCreate, db: SessionDep, settings: SettingsDep, _user: DispatcherUser
) -> dict[str, Any]:
    order = service.create_order(db=db, data=body, tz=settings.timezone)
    return service.order_to_dict(order)


@router.get("/orders/{order_id}", response_model=schemas.OrderRead)
def read_order(
    order_id: Annotated[int, Path(ge=1, le=2_147_483_647)], db: SessionDep, _user: DispatcherUser
) -> dict[str, Any]:
    return service.order_to_dict(service.get_order(db=db, order_id=order_id))

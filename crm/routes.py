"""Customers API (dispatchers and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from core.deps import SessionDep
from crm import schemas, service
from crm.models import Customer
from workforce.deps import DispatcherUser

router = APIRouter(tags=["crm"])


@router.get("/customers", response_model=list[schemas.CustomerRead])
def list_customers(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Customer]:
    items, total = service.list_customers(db=db, q=q, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return items


@router.post("/customers", response_model=schemas.CustomerRead, status_code=201)
def create_customer(
    body: schemas.CustomerCreate, db: SessionDep, _user: DispatcherUser
) -> Customer:
    return service.create_customer(db=db, data=body)


@router.get("/customers/{customer_id}", response_model=schemas.CustomerRead)
def read_customer(
    customer_id: Annotated[int, Path(ge=1, le=2_147_483_647)], db: SessionDep, _user: DispatcherUser
) -> Customer:
    return service.get_customer(db=db, customer_id=customer_id)

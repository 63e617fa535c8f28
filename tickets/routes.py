"""Tickets API (dispatchers and admins): creating a ticket creates its job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from core.deps import SessionDep, SettingsDep
from tickets import schemas, service
from workforce.deps import DispatcherUser

router = APIRouter(tags=["tickets"])


@router.get("/tickets", response_model=list[schemas.TicketRead])
def list_tickets(
    db: SessionDep,
    _user: DispatcherUser,
    response: Response,
    status: schemas.TicketStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    items, total = service.list_tickets(db=db, status=status, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [service.ticket_to_dict(t) for t in items]


@router.post("/tickets", response_model=schemas.TicketRead, status_code=201)
def create_ticket(
    body: schemas.TicketCreate, db: SessionDep, settings: SettingsDep, _user: DispatcherUser
) -> dict[str, Any]:
    return service.ticket_to_dict(service.create_ticket(db=db, data=body, tz=settings.timezone))


@router.get("/tickets/{ticket_id}", response_model=schemas.TicketRead)
def read_ticket(
    ticket_id: Annotated[int, Path(ge=1, le=2_147_483_647)], db: SessionDep, _user: DispatcherUser
) -> dict[str, Any]:
    return service.ticket_to_dict(service.get_ticket(db=db, ticket_id=ticket_id))

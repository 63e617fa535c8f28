"""Ticket functions: a ticket creates its job through the workforce service."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import page, utcnow
from core.errors import Conflict, NotFound
from core.events import on
from crm import service as crm_service
from tickets.models import Ticket
from tickets.schemas import TicketCreate
from workforce import schemas as wf_schemas
from workforce import service as wf_service

SOURCE = {"repair": "ticket", "maintenance": "maintenance", "construction": "construction"}
TICKET_SOURCES = frozenset(SOURCE.values())
PREFIX = {"repair": "TT", "maintenance": "PM", "construction": "NC"}
# What a closed job means for its ticket.
JOB_OUTCOME = {"completed": "resolved", "incomplete": "unresolved", "cancelled": "cancelled"}


def create_ticket(*, db: Session, data: TicketCreate, tz: str) -> Ticket:
    customer = None
    if data.customer_id is not None:
        customer = crm_service.get_customer(
            db=db, customer_id=data.customer_id, field="body.customer_id"
        )
    reference = data.reference or f"{PREFIX[data.kind]}-{uuid.uuid4().hex[:8].upper()}"
    if db.scalar(select(Ticket.id).where(Ticket.reference == reference)) is not None:
        raise Conflict(f"A ticket with reference {reference!r} exists.", field="reference")
    ticket = Ticket(
        reference=reference,
        kind=data.kind,
        customer_id=data.customer_id,
        title=data.title,
        description=data.description,
        address=data.address,
        lat=data.location.lat,
        lon=data.location.lon,
        priority=data.priority,
        sla_due=data.sla_due,
        status="open",
    )
    db.add(ticket)
    db.flush()
    job = wf_service.create_job(
        db=db,
        tz=tz,
        data=wf_schemas.JobCreate(
            reference=reference,
            source=SOURCE[data.kind],
            source_id=ticket.id,
            kind=data.kind,
            title=data.title,
            description=data.description,
            customer=wf_schemas.Customer(
                name=customer.name if customer else "", phone=customer.phone if customer else ""
            ),
            address=data.address,
            location=data.location,
            territory=data.territory,
            duration_min=data.duration_min,
            skills=data.skills,
            time_windows=data.time_windows,
            sla_due=data.sla_due,
            priority=data.priority,
            items=data.items,
            predecessor_ids=data.predecessor_job_ids,
            date=data.date,
        ),
    )
    ticket.job_id = job.id
    ticket.status = "scheduled"
    db.flush()
    return ticket


def sync_from_job(*, db: Session, job_id: int, job_status: str) -> Ticket | None:
    """Close the loop: a completed job resolves its ticket (called on job events)."""
    ticket = db.scalar(select(Ticket).where(Ticket.job_id == job_id))
    if ticket is None or job_status not in JOB_OUTCOME:
        return ticket
    ticket.status = JOB_OUTCOME[job_status]
    ticket.resolved_at = utcnow() if job_status == "completed" else None
    db.flush()
    return ticket


def get_ticket(*, db: Session, ticket_id: int) -> Ticket:
    ticket = db.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    return ticket


def list_tickets(
    *, db: Session, status: str | None, limit: int, offset: int
) -> tuple[list[Ticket], int]:
    query = select(Ticket)
    if status:
        query = query.where(Ticket.status == status)
    return page(db, query, Ticket.id, limit=limit, offset=offset)


def ticket_to_dict(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "reference": t.reference,
        "kind": t.kind,
        "customer_id": t.customer_id,
        "title": t.title,
        "description": t.description,
        "address": t.address,
        "location": {"lat": t.lat, "lon": t.lon},
        "priority": t.priority,
        "sla_due": t.sla_due,
        "status": t.status,
        "job_id": t.job_id,
        "created_at": t.created_at,
        "resolved_at": t.resolved_at,
    }


def _settles_ticket(data: dict[str, Any]) -> bool:
    """Only the outcome of a job made from a ticket changes the ticket."""
    return data.get("source") in TICKET_SOURCES and data.get("status") in JOB_OUTCOME


@on("job.updated", when=_settles_ticket)
def _job_updated(db: Session, data: dict[str, Any]) -> None:
    sync_from_job(db=db, job_id=int(data["job_id"]), job_status=str(data["status"]))

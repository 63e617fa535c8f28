"""Order functions: installation lines create one job through the workforce service."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.db import page
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import on
from crm import service as crm_service
from orders.models import Order, OrderLine
from orders.schemas import OrderCreate
from workforce import schemas as wf_schemas
from workforce import service as wf_service

# What a closed installation job means for its order lines.
JOB_OUTCOME = {"completed": "fulfilled", "incomplete": "failed", "cancelled": "cancelled"}


def create_order(*, db: Session, data: OrderCreate, tz: str) -> Order:
    customer = crm_service.get_customer(
        db=db, customer_id=data.customer_id, field="body.customer_id"
    )
    reference = data.reference or f"OR-{uuid.uuid4().hex[:8].upper()}"
    if db.scalar(select(Order.id).where(Order.reference == reference)) is not None:
        raise Conflict(f"An order with reference {reference!r} exists.", field="reference")
    order = Order(reference=reference, customer_id=customer.id, status="open", lines=[])
    for line in data.lines:
        order.lines.append(
            OrderLine(
                product=line.product,
                sku=line.sku,
                quantity=line.quantity,
                install=line.install,
                status="pending",
            )
        )
    db.add(order)
    db.flush()
    install = [ln for ln in order.lines if ln.install]
    if install:
        location = data.location
        if location is None:
            if customer.lat is None or customer.lon is None:
                raise ValidationFailed(
                    "body.location: required when the customer has no known position"
                )
            location = wf_schemas.LatLon(lat=customer.lat, lon=customer.lon)
        items: dict[str, int] = {}
        for ln in install:
            if ln.sku:
                items[ln.sku] = items.get(ln.sku, 0) + ln.quantity
        job = wf_service.create_job(
            db=db,
            tz=tz,
            data=wf_schemas.JobCreate(
                reference=reference,
                source="order",
                source_id=order.id,
                kind="install",
                title=", ".join(ln.product for ln in install)[:300],
                customer=wf_schemas.Customer(name=customer.name, phone=customer.phone),
                address=data.address if data.address is not None else customer.address,
                location=location,
                territory=data.territory,
                duration_min=data.duration_min,
                skills=data.skills,
                time_windows=data.time_windows,
                priority=data.priority,
                items=[wf_schemas.ItemIn(sku=s, quantity=q) for s, q in items.items()],
                date=data.date,
            ),
        )
        for ln in install:
            ln.job_id = job.id
            ln.status = "scheduled"
    db.flush()
    return order


def sync_from_job(*, db: Session, job_id: int, job_status: str) -> list[OrderLine]:
    """Close the loop: a completed installation fulfils its order lines (and the order)."""
    lines = list(db.scalars(select(OrderLine).where(OrderLine.job_id == job_id)))
    if job_status not in JOB_OUTCOME:
        return lines
    for ln in lines:
        ln.status = JOB_OUTCOME[job_status]
    for order_id in {ln.order_id for ln in lines}:
        order = db.get(Order, order_id)
        if order and all(ln.status == "fulfilled" or not ln.install for ln in order.lines):
            order.status = "fulfilled"
    db.flush()
    return lines


def get_order(*, db: Session, order_id: int) -> Order:
    order = db.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
    if order is None:
        raise NotFound(f"Order {order_id} does not exist.")
    return order


def list_orders(*, db: Session, limit: int, offset: int) -> tuple[list[Order], int]:
    query = select(Order).options(selectinload(Order.lines))
    return page(db, query, Order.id, limit=limit, offset=offset)


def order_to_dict(order: Order) -> dict[str, Any]:
    job_ids = {ln.job_id for ln in order.lines if ln.job_id}
    return {
        "id": order.id,
        "reference": order.reference,
        "customer_id": order.customer_id,
        "status": order.status,
        "job_id": next(iter(job_ids), None),
        "lines": [
            {
                "id": ln.id,
                "product": ln.product,
                "sku": ln.sku,
                "quantity": ln.quantity,
                "install": ln.install,
                "status": ln.status,
                "job_id": ln.job_id,
            }
            for ln in order.lines
        ],
        "created_at": order.created_at,
    }


def _settles_order(data: dict[str, Any]) -> bool:
    """Only the outcome of a job made from an order changes the order."""
    return data.get("source") == "order" and data.get("status") in JOB_OUTCOME


@on("job.updated", when=_settles_order)
def _job_updated(db: Session, data: dict[str, Any]) -> None:
    sync_from_job(db=db, job_id=int(data["job_id"]), job_status=str(data["status"]))

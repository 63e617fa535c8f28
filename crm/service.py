"""Customer functions over an explicit Session."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import page
from core.errors import NotFound, ValidationFailed
from crm.models import Customer
from crm.schemas import CustomerCreate


def create_customer(*, db: Session, data: CustomerCreate) -> Customer:
    customer = Customer(**data.model_dump())
    db.add(customer)
    db.flush()
    return customer


def get_customer(*, db: Session, customer_id: int, field: str | None = None) -> Customer:
    """The customer; a missing one is a 404, or a 422 naming ``field`` when it came in a body."""
    customer = db.get(Customer, customer_id)
    if customer is None:
        if field:
            raise ValidationFailed(f"{field}: customer {customer_id} does not exist")
        raise NotFound(f"Customer {customer_id} does not exist.")
    return customer


def list_customers(
    *, db: Session, q: str | None, limit: int, offset: int
) -> tuple[list[Customer], int]:
    query = select(Customer)
    if q:
        query = query.where(Customer.name.ilike(f"%{q}%"))
    return page(db, query, Customer.id, limit=limit, offset=offset)

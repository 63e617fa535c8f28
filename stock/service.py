"""Stock business functions: levels change only together with a ledger line.

Every level change is a single conditional statement (``UPDATE ... SET quantity =
quantity - :q WHERE ... AND quantity >= :q``), so concurrent consumers of the same van
serialise on the row and none can take the level below zero: on PostgreSQL a waiting
UPDATE re-checks its WHERE clause against the committed row, and the ``CHECK (quantity >=
0)`` constraint backs the service up. Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import page
from core.errors import Conflict, ValidationFailed
from stock.models import (
    LOCATION_KINDS,
    SerialNumberUsed,
    StockItem,
    StockLevel,
    StockLocation,
    StockMovement,
)

_levels = StockLevel.__table__


class InsufficientStock(Conflict):
    """The location holds fewer units than asked for."""

    code = "insufficient_stock"

    def __init__(self, sku: str, requested: int, available: int, location_id: int | None) -> None:
        super().__init__(
            f"Not enough {sku} in stock: {requested} requested, {available} available.",
            sku=sku,
            requested=requested,
            available=available,
            location_id=location_id,
        )


@dataclass(frozen=True)
class Consumption:
    """The ledger line written for a consumption and what the van has left."""

    movement: StockMovement
    item: StockItem
    remaining: int


# -- items and locations ----------------------------------------------------------------
def get_item_by_sku(db: Session, *, sku: str) -> StockItem | None:
    return db.scalars(select(StockItem).where(StockItem.sku == sku)).one_or_none()


def require_item(db: Session, *, sku: str, field: str = "body.sku") -> StockItem:
    item = get_item_by_sku(db, sku=sku)
    if item is None:
        raise ValidationFailed(f"{field}: unknown SKU {sku!r}")
    return item


def list_items(db: Session, *, limit: int, offset: int) -> tuple[list[StockItem], int]:
    return page(db, select(StockItem), StockItem.sku, limit=limit, offset=offset)


def create_item(
    db: Session, *, sku: str, name: str, serialized: bool, unit: str = "pcs"
) -> StockItem:
    if get_item_by_sku(db, sku=sku) is not None:
        raise Conflict(f"body.sku: an item with SKU {sku!r} already exists", sku=sku)
    item = StockItem(sku=sku, name=name, serialized=serialized, unit=unit)
    db.add(item)
    db.flush()
    return item


def require_location(db: Session, *, location_id: int, field: str) -> StockLocation:
    location = db.get(StockLocation, location_id)
    if location is None:
        raise ValidationFailed(f"{field}: no stock location {location_id}")
    return location


def list_locations(
    db: Session,
    *,
    kind: str | None = None,
    technician_id: int | None = None,
    limit: int,
    offset: int,
) -> tuple[list[StockLocation], int]:
    query = select(StockLocation)
    if kind is not None:
        query = query.where(StockLocation.kind == kind)
    if technician_id is not None:
        query = query.where(StockLocation.technician_id == technician_id)
    return page(db, query, StockLocation.id, limit=limit, offset=offset)


def create_location(
    db: Session, *, name: str, kind: str, technician_id: int | None = None
) -> StockLocation:
    if kind not in LOCATION_KINDS:
        raise ValidationFailed(f"body.kind: must be one of {', '.join(LOCATION_KINDS)}")
    if technician_id is not None:
        if kind != "van":
            raise ValidationFailed("body.technician_id: only a van belongs to a technician")
        if van_location(db, technician_id=technician_id) is not None:
            raise Conflict(
                f"body.technician_id: technician {technician_id} already has a van",
                technician_id=technician_id,
            )
    location = StockLocation(name=name, kind=kind, technician_id=technician_id)
    db.add(location)
    db.flush()
    return location


def van_location(db: Session, *, technician_id: int) -> StockLocation | None:
    return db.scalars(
        select(StockLocation).where(
            StockLocation.technician_id == technician_id, StockLocation.kind == "van"
        )
    ).one_or_none()


def ensure_van(db: Session, *, technician_id: int, name: str | None = None) -> StockLocation:
    """The technician's van, created empty on first use."""
    van = van_location(db, technician_id=technician_id)
    if van is None:
        van = create_location(
            db,
            name=name or f"Van of technician {technician_id}",
            kind="van",
            technician_id=technician_id,
        )
    return van


# -- levels -----------------------------------------------------------------------------
def levels(db: Session, *, location_id: int | None = None) -> list[StockLevel]:
    query = select(StockLevel).order_by(StockLevel.location_id, StockLevel.item_id)
    if location_id is not None:
        query = query.where(StockLevel.location_id == location_id)
    return list(db.scalars(query))


def quantity_at(db: Session, *, location_id: int, item_id: int) -> int:
    value = db.scalar(
        select(StockLevel.quantity).where(
            StockLevel.location_id == location_id, StockLevel.item_id == item_id
        )
    )
    return int(value or 0)


def van_stock_rows(db: Session, *, technician_id: int) -> list[tuple[StockItem, int]]:
    """The items in a technician's van with their quantities (SKU order)."""
    rows = db.execute(
        select(StockItem, StockLevel.quantity)
        .join(StockLevel, StockLevel.item_id == StockItem.id)
        .join(StockLocation, StockLocation.id == StockLevel.location_id)
        .where(StockLocation.technician_id == technician_id, StockLocation.kind == "van")
        .order_by(StockItem.sku)
    ).all()
    return [(item, int(qty)) for item, qty in rows]


def van_stock(db: Session, technician_id: int) -> dict[str, int]:
    """``{sku: quantity}`` of a technician's van (empty when the technician has no van).

    The workforce bridge reads this to check a job's items against the van it is given to.
    """
    return {item.sku: qty for item, qty in van_stock_rows(db, technician_id=technician_id)}


def vans_stock(db: Session, technician_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``van_stock`` for many technicians in one query (for building a whole problem).

    Only technicians who have a van appear (an empty van as ``{}``): a technician left
    out has no van, so the optimizer puts no stock limit on them.
    """
    ids = list(technician_ids)
    if not ids:
        return {}
    rows = db.execute(
        select(StockLocation.technician_id, StockItem.sku, StockLevel.quantity)
        .outerjoin(StockLevel, StockLevel.location_id == StockLocation.id)
        .outerjoin(StockItem, StockItem.id == StockLevel.item_id)
        .where(StockLocation.technician_id.in_(ids), StockLocation.kind == "van")
    ).all()
    result: dict[int, dict[str, int]] = {}
    for tid, sku, qty in rows:
        van = result.setdefault(int(tid), {})
        if sku is not None:
            van[sku] = int(qty)
    return result


def _decrement(db: Session, *, location_id: int, item: StockItem, quantity: int) -> int:
    """Take ``quantity`` out in one conditional UPDATE; returns what is left."""
    remaining = db.execute(
        update(_levels)
        .where(
            _levels.c.location_id == location_id,
            _levels.c.item_id == item.id,
            _levels.c.quantity >= quantity,
        )
        .values(quantity=_levels.c.quantity - quantity)
        .returning(_levels.c.quantity)
    ).scalar_one_or_none()
    if remaining is None:
        available = quantity_at(db, location_id=location_id, item_id=item.id)
        raise InsufficientStock(item.sku, quantity, available, location_id)
    return int(remaining)


def _increment(db: Session, *, location_id: int, item: StockItem, quantity: int) -> int:
    """Add ``quantity`` (creating the level row if needed) in one upsert."""
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_levels).values(location_id=location_id, item_id=item.id, quantity=quantity)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_levels.c.location_id, _levels.c.item_id],
        set_={"quantity": _levels.c.quantity + stmt.excluded.quantity},
    ).returning(_levels.c.quantity)
    return int(db.execute(stmt).scalar_one())


def _check_serials(
    *, item: StockItem, quantity: int, serials: Sequence[str], field: str
) -> list[str]:
    cleaned = [s.strip() for s in serials]
    if not item.serialized:
        if cleaned:
            raise ValidationFailed(f"{field}: {item.sku} is not tracked by serial number")
        return []
    if any(not s for s in cleaned):
        raise ValidationFailed(f"{field}: serial numbers cannot be empty")
    if len(cleaned) != quantity:
        raise ValidationFailed(
            f"{field}: {item.sku} is serialized; give exactly {quantity} serial number(s), "
            f"got {len(cleaned)}"
        )
    if len(set(cleaned)) != len(cleaned):
        raise ValidationFailed(f"{field}: a serial number is listed twice")
    return cleaned


def _record_serials(
    db: Session, *, item: StockItem, movement: StockMovement, serials: list[str], field: str
) -> None:
    """Mark serial numbers as used; the unique constraint settles races between requests."""
    if not serials:
        return
    taken = db.scalars(
        select(SerialNumberUsed.serial).where(
            SerialNumberUsed.item_id == item.id, SerialNumberUsed.serial.in_(serials)
        )
    ).all()
    if taken:
        raise Conflict(
            f"{field}: serial number {sorted(taken)[0]!r} of {item.sku} was already used",
            sku=item.sku,
            serial_numbers=sorted(taken),
        )
    try:
        with db.begin_nested():
            db.add_all(
                SerialNumberUsed(item_id=item.id, serial=s, movement_id=movement.id)
                for s in serials
            )
    except IntegrityError:
        raise Conflict(
            f"{field}: a serial number of {item.sku} was used by a concurrent request",
            sku=item.sku,
        ) from None


# -- movements --------------------------------------------------------------------------
def consume(
    db: Session,
    *,
    technician_id: int,
    sku: str,
    quantity: int,
    job_id: int | None,
    serials: Sequence[str] = (),
    created_by: int | None = None,
) -> Consumption:
    """Take items out of a technician's van for a job: level and ledger in one unit of work.

    Raises :class:`InsufficientStock` (409) when the van holds too few, including when the
    technician has no van, and :class:`~core.errors.ValidationFailed` for an unknown SKU or
    wrong serial numbers.
    """
    if quantity <= 0:
        raise ValidationFailed("body.quantity: must be greater than 0")
    item = require_item(db, sku=sku)
    cleaned = _check_serials(
        item=item, quantity=quantity, serials=serials, field="body.serial_numbers"
    )
    van = van_location(db, technician_id=technician_id)
    if van is None:
        raise InsufficientStock(item.sku, quantity, 0, None)
    remaining = _decrement(db, location_id=van.id, item=item, quantity=quantity)
    movement = StockMovement(
        kind="consumption",
        item_id=item.id,
        quantity=quantity,
        from_location_id=van.id,
        job_id=job_id,
        serial_numbers=cleaned,
        created_by=created_by,
    )
    db.add(movement)
    db.flush()
    _record_serials(db, item=item, movement=movement, serials=cleaned, field="body.serial_numbers")
    return Consumption(movement=movement, item=item, remaining=remaining)


def record_movement(
    db: Session,
    *,
    kind: str,
    sku: str,
    quantity: int,
    from_location_id: int | None = None,
    to_location_id: int | None = None,
    reason: str | None = None,
    serials: Sequence[str] = (),
    created_by: int | None = None,
) -> StockMovement:
    """A receipt, transfer or adjustment, checked and applied with its ledger line.

    - ``receipt``: into ``to_location_id`` from outside;
    - ``transfer``: from ``from_location_id`` to ``to_location_id``;
    - ``adjustment``: a stocktake correction, out of ``from_location_id`` or into
      ``to_location_id`` (exactly one), with a ``reason``.

    Consumption goes through :func:`consume`, which ties it to a job.
    """
    if quantity <= 0:
        raise ValidationFailed("body.quantity: must be greater than 0")
    if kind == "receipt":
        if to_location_id is None:
            raise ValidationFailed("body.to_location_id: a receipt needs a destination")
        if from_location_id is not None:
            raise ValidationFailed("body.from_location_id: a receipt comes from outside")
    elif kind == "transfer":
        if from_location_id is None:
            raise ValidationFailed("body.from_location_id: a transfer needs a source")
        if to_location_id is None:
            raise ValidationFailed("body.to_location_id: a transfer needs a destination")
        if from_location_id == to_location_id:
            raise ValidationFailed("body.to_location_id: must differ from from_location_id")
    elif kind == "adjustment":
        if (from_location_id is None) == (to_location_id is None):
            raise ValidationFailed(
                "body.from_location_id: an adjustment sets exactly one of from_location_id "
                "(count lower) or to_location_id (count higher)"
            )
        if not (reason and reason.strip()):
            raise ValidationFailed("body.reason: an adjustment needs a reason")
    elif kind == "consumption":
        raise ValidationFailed("body.kind: record consumption as used items on the job")
    else:
        raise ValidationFailed("body.kind: must be one of receipt, transfer, adjustment")

    item = require_item(db, sku=sku)
    if from_location_id is not None:
        require_location(db, location_id=from_location_id, field="body.from_location_id")
    if to_location_id is not None:
        require_location(db, location_id=to_location_id, field="body.to_location_id")
    cleaned = [s.strip() for s in serials if s.strip()]
    if cleaned and not item.serialized:
        raise ValidationFailed(f"body.serial_numbers: {item.sku} is not tracked by serial number")

    if from_location_id is not None:
        _decrement(db, location_id=from_location_id, item=item, quantity=quantity)
    if to_location_id is not None:
        _increment(db, location_id=to_location_id, item=item, quantity=quantity)
    movement = StockMovement(
        kind=kind,
        item_id=item.id,
        quantity=quantity,
        from_location_id=from_location_id,
        to_location_id=to_location_id,
        serial_numbers=cleaned,
        reason=reason,
        created_by=created_by,
    )
    db.add(movement)
    db.flush()
    return movement


def list_movements(
    db: Session,
    *,
    location_id: int | None = None,
    job_id: int | None = None,
    limit: int,
    offset: int,
) -> tuple[list[StockMovement], int]:
    """The ledger, newest first, optionally for one location (either side) or one job."""
    query = select(StockMovement)
    if location_id is not None:
        query = query.where(
            or_(
                StockMovement.from_location_id == location_id,
                StockMovement.to_location_id == location_id,
            )
        )
    if job_id is not None:
        query = query.where(StockMovement.job_id == job_id)
    return page(db, query, StockMovement.id.desc(), limit=limit, offset=offset)


def ledger_balance(db: Session, *, location_id: int, item_id: int) -> int:
    """What the ledger says a location should hold: inflows minus outflows.

    Used to audit that levels and ledger agree (they always should).
    """
    inflow = db.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
            StockMovement.to_location_id == location_id, StockMovement.item_id == item_id
        )
    )
    outflow = db.scalar(
        select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
            StockMovement.from_location_id == location_id, StockMovement.item_id == item_id
        )
    )
    return int(inflow or 0) - int(outflow or 0)


# -- demo data --------------------------------------------------------------------------
# The demo catalogue: what a telecom field technician carries. Demo jobs may ask for these.
DEMO_ITEMS: tuple[tuple[str, str, bool], ...] = (
    ("ONT-G2", "GPON ONT (optical network terminal)", True),
    ("RTR-WIFI6", "Wi-Fi 6 home gateway", True),
    ("STB-4K", "4K set-top box", True),
    ("SPL-1x8", "Optical splitter 1x8", False),
    ("PATCH-SCAPC-3M", "SC/APC patch cord 3 m", False),
    ("DROP-50M", "Fibre drop cable 50 m", False),
    ("CONN-RJ45", "RJ45 connector", False),
    ("FILTER-DSL", "DSL microfilter", False),
    ("PTO-BOX", "Optical termination outlet", False),
    ("CABLE-TIE", "Cable ties (bag of 100)", False),
)


def seed_demo_stock(
    db: Session,
    technician_ids: Iterable[int],
    rng: random.Random,
    *,
    depot_names: Sequence[str] = (),
) -> dict[int, int]:
    """Seed the demo catalogue, a central warehouse, depots and a stocked van per technician.

    Every quantity is booked as a receipt into the warehouse followed by transfers, so the
    ledger explains every level. Idempotent for the catalogue and locations; returns
    ``{technician_id: van_location_id}``.
    """
    items: list[StockItem] = []
    for sku, name, serialized in DEMO_ITEMS:
        item = get_item_by_sku(db, sku=sku)
        if item is None:
            item = StockItem(sku=sku, name=name, serialized=serialized)
            db.add(item)
        items.append(item)
    db.flush()

    warehouse = db.scalars(
        select(StockLocation).where(StockLocation.kind == "warehouse").order_by(StockLocation.id)
    ).first()
    if warehouse is None:
        warehouse = create_location(db, name="Central warehouse", kind="warehouse")
    for depot_name in depot_names:
        exists = db.scalars(
            select(StockLocation).where(
                StockLocation.kind == "depot", StockLocation.name == depot_name
            )
        ).first()
        if exists is None:
            create_location(db, name=depot_name, kind="depot")

    vans: dict[int, int] = {}
    tids = list(technician_ids)
    plan: list[tuple[int, StockItem, int]] = []
    for tid in tids:
        van = ensure_van(db, technician_id=tid)
        vans[tid] = van.id
        for item in items:
            low, high = (1, 4) if item.serialized else (2, 20)
            plan.append((van.id, item, rng.randint(low, high)))
    for item in items:
        needed = sum(q for _, it, q in plan if it is item)
        record_movement(
            db,
            kind="receipt",
            sku=item.sku,
            quantity=needed + 50,
            to_location_id=warehouse.id,
            reason="demo opening stock",
        )
    for van_id, item, quantity in plan:
        record_movement(
            db,
            kind="transfer",
            sku=item.sku,
            quantity=quantity,
            from_location_id=warehouse.id,
            to_location_id=van_id,
            reason="demo van loading",
        )
    return vans

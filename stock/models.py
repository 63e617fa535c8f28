"""Stock: items, where they are kept, how many, and an append-only ledger of every move."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

LOCATION_KINDS = ("warehouse", "depot", "van")
MOVEMENT_KINDS = ("receipt", "transfer", "consumption", "adjustment")


class StockItem(Base):
    """A kind of material: an ONT, a splitter, a metre of drop cable."""

    __tablename__ = "stock_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Serialized items (modems, ONTs) are tracked by serial number when consumed.
    serialized: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    unit: Mapped[str] = mapped_column(String(20), nullable=False, default="pcs")


class StockLocation(Base):
    """A place that holds stock; a van belongs to exactly one technician."""

    __tablename__ = "stock_locations"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('warehouse', 'depot', 'van')",
            name="kind",
        ),
        CheckConstraint("technician_id IS NULL OR kind = 'van'", name="van_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("technicians.id", ondelete="SET NULL"), unique=True
    )


class StockLevel(Base):
    """How many of an item a location holds; never negative (service and database agree)."""

    __tablename__ = "stock_levels"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_non_negative"),)

    location_id: Mapped[int] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("stock_items.id", ondelete="RESTRICT"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    item: Mapped[StockItem] = relationship(lazy="joined")


class StockMovement(Base):
    """One line of the ledger; rows are only ever inserted.

    ``receipt`` brings stock in from outside (``to_location_id``), ``consumption`` takes it
    out at a job (``from_location_id``), ``transfer`` moves it between two locations and
    ``adjustment`` corrects a count (either side set, after a stocktake).
    """

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "kind IN ('receipt', 'transfer', 'consumption', 'adjustment')", name="kind"
        ),
        CheckConstraint(
            "from_location_id IS NOT NULL OR to_location_id IS NOT NULL", name="has_location"
        ),
        Index("ix_stock_movements_from_location", "from_location_id", "id"),
        Index("ix_stock_movements_to_location", "to_location_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    item_id: Mapped[int] = mapped_column(ForeignKey("stock_items.id"), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    from_location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_locations.id"))
    to_location_id: Mapped[int | None] = mapped_column(ForeignKey("stock_locations.id"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    serial_numbers: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    item: Mapped[StockItem] = relationship(lazy="joined")


class SerialNumberUsed(Base):
    """A serial number consumed at a job: the same unit cannot be fitted twice."""

    __tablename__ = "stock_serials_used"
    __table_args__ = (UniqueConstraint("item_id", "serial", name="uq_stock_serials_used_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("stock_items.id"), nullable=False)
    serial: Mapped[str] = mapped_column(String(100), nullable=False)
    movement_id: Mapped[int] = mapped_column(ForeignKey("stock_movements.id"), nullable=False)


class LedgerIsAppendOnly(Exception):
    """Raised when code tries to change or delete a ledger line."""


@event.listens_for(StockMovement, "before_update")
def _refuse_update(_mapper: Any, _conn: Any, target: StockMovement) -> None:
    raise LedgerIsAppendOnly(f"stock movement {target.id} cannot be changed; add a correction")


@event.listens_for(StockMovement, "before_delete")
def _refuse_delete(_mapper: Any, _conn: Any, target: StockMovement) -> None:
    raise LedgerIsAppendOnly(f"stock movement {target.id} cannot be deleted; add a correction")


# The database refuses ledger edits too, whoever the client is.
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER stock_movements_no_update BEFORE UPDATE ON stock_movements "
    "BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only'); END",
    "CREATE TRIGGER stock_movements_no_delete BEFORE DELETE ON stock_movements "
    "BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only'); END",
)
_PG_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION stock_movements_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'stock_movements is append-only'; END $$",
    "CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements "
    "FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only()",
)
PG_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS stock_movements_append_only ON stock_movements",
    "DROP FUNCTION IF EXISTS stock_movements_append_only()",
)


def append_only_ddl(dialect_name: str) -> tuple[str, ...]:
    """The trigger statements for a dialect (used by create_all and the migration)."""
    if dialect_name == "sqlite":
        return _SQLITE_TRIGGERS
    if dialect_name == "postgresql":
        return _PG_TRIGGERS
    return ()


@event.listens_for(StockMovement.__table__, "after_create")
def _create_triggers(target: Any, connection: Any, **_kw: Any) -> None:
    for statement in append_only_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)

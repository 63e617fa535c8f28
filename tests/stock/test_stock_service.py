"""Stock service: levels and the ledger move together and never below zero."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.errors import ValidationFailed
from stock import service
from stock.models import LedgerIsAppendOnly, StockLevel, StockLocation, StockMovement


@pytest.fixture
def stocked(session, make_technician):
    tech = make_technician(name="Van owner")
    service.create_item(session, sku="ONT-G2", name="ONT", serialized=True)
    service.create_item(session, sku="DROP-50M", name="Drop cable", serialized=False)
    warehouse = service.create_location(session, name="Central", kind="warehouse")
    van = service.ensure_van(session, technician_id=tech.id)
    service.record_movement(
        session, kind="receipt", sku="DROP-50M", quantity=10, to_location_id=warehouse.id
    )
    session.commit()
    return tech, warehouse, van


def test_transfer_consume_and_ledger_agree(session, stocked, make_technician) -> None:
    tech, warehouse, van = stocked
    service.record_movement(
        session,
        kind="transfer",
        sku="DROP-50M",
        quantity=4,
        from_location_id=warehouse.id,
        to_location_id=van.id,
    )
    result = service.consume(
        session, technician_id=tech.id, sku="DROP-50M", quantity=3, job_id=None
    )
    session.commit()
    assert result.remaining == 1
    assert service.van_stock(session, tech.id) == {"DROP-50M": 1}
    empty = make_technician()
    service.ensure_van(session, technician_id=empty.id)
    stock = service.vans_stock(session, [tech.id, empty.id, 999])
    assert stock == {tech.id: {"DROP-50M": 1}, empty.id: {}}  # 999 has no van
    item = service.get_item_by_sku(session, sku="DROP-50M")
    for loc, expected in ((warehouse.id, 6), (van.id, 1)):
        assert service.quantity_at(session, location_id=loc, item_id=item.id) == expected
        assert service.ledger_balance(session, location_id=loc, item_id=item.id) == expected
    kinds = [
        m.kind for m in service.list_movements(session, location_id=van.id, limit=10, offset=0)[0]
    ]
    assert kinds == ["consumption", "transfer"]


def test_never_below_zero(session, stocked) -> None:
    tech, warehouse, van = stocked
    with pytest.raises(service.InsufficientStock) as exc:
        service.consume(session, technician_id=tech.id, sku="DROP-50M", quantity=1, job_id=None)
    assert exc.value.extra["available"] == 0 and exc.value.code == "insufficient_stock"
    session.rollback()
    with pytest.raises(service.InsufficientStock):
        service.record_movement(
            session,
            kind="transfer",
            sku="DROP-50M",
            quantity=11,
            from_location_id=warehouse.id,
            to_location_id=van.id,
        )
    session.rollback()
    with pytest.raises(service.InsufficientStock):
        service.record_movement(
            session,
            kind="adjustment",
            sku="DROP-50M",
            quantity=11,
            from_location_id=warehouse.id,
            reason="stocktake",
        )
    session.rollback()
    item = service.get_item_by_sku(session, sku="DROP-50M")
    assert service.quantity_at(session, location_id=warehouse.id, item_id=item.id) == 10
    # The database refuses a negative level on its own, whoever writes it.
    with pytest.raises(IntegrityError):
        session.execute(
            update(StockLevel).where(StockLevel.location_id == warehouse.id).values(quantity=-1)
        )
        session.flush()
    session.rollback()


def test_the_ledger_is_append_only(session, stocked) -> None:
    movement = session.scalars(select(StockMovement)).first()
    movement.reason = "rewritten"
    with pytest.raises(LedgerIsAppendOnly):
        session.flush()
    session.rollback()
    session.delete(session.scalars(select(StockMovement)).first())
    with pytest.raises(LedgerIsAppendOnly):
        session.flush()
    session.rollback()
    # Raw SQL is stopped by a trigger.
    with pytest.raises(DBAPIError):
        session.execute(text("UPDATE stock_movements SET quantity = 99"))
    session.rollback()
    with pytest.raises(DBAPIError):
        session.execute(text("DELETE FROM stock_movements"))
    session.rollback()


def test_movement_rules_name_the_field(session, stocked) -> None:
    _, warehouse, van = stocked
    cases = [
        (dict(kind="receipt", to_location_id=None), "body.to_location_id"),
        (
            dict(kind="receipt", to_location_id=van.id, from_location_id=warehouse.id),
            "body.from_location_id",
        ),
        (
            dict(kind="transfer", from_location_id=van.id, to_location_id=van.id),
            "body.to_location_id",
        ),
        (dict(kind="transfer", to_location_id=van.id), "body.from_location_id"),
        (dict(kind="adjustment", to_location_id=van.id), "body.reason"),
        (
            dict(
                kind="adjustment", to_location_id=van.id, from_location_id=warehouse.id, reason="x"
            ),
            "body.from_location_id",
        ),
        (dict(kind="consumption", from_location_id=van.id), "body.kind"),
        (dict(kind="receipt", to_location_id=424242), "body.to_location_id"),
        (dict(kind="receipt", to_location_id=van.id, sku="NOPE"), "body.sku"),
        (dict(kind="receipt", to_location_id=van.id, serials=["S1"]), "body.serial_numbers"),
    ]
    for kwargs, field in cases:
        args = {"sku": "DROP-50M", "quantity": 1, **kwargs}
        with pytest.raises(ValidationFailed) as exc:
            service.record_movement(session, **args)
        assert exc.value.detail.startswith(field), (kwargs, exc.value.detail)
        session.rollback()


def test_serialized_consumption(session, stocked) -> None:
    tech, _, van = stocked
    service.record_movement(
        session, kind="receipt", sku="ONT-G2", quantity=2, to_location_id=van.id
    )
    with pytest.raises(ValidationFailed):
        service.consume(
            session, technician_id=tech.id, sku="ONT-G2", quantity=2, job_id=None, serials=["A"]
        )
    with pytest.raises(ValidationFailed):
        service.consume(
            session,
            technician_id=tech.id,
            sku="ONT-G2",
            quantity=2,
            job_id=None,
            serials=["A", "A"],
        )
    used = service.consume(
        session, technician_id=tech.id, sku="ONT-G2", quantity=2, job_id=None, serials=["A", "B"]
    )
    session.commit()
    assert used.movement.serial_numbers == ["A", "B"] and used.remaining == 0


def test_a_technician_without_a_van_has_nothing(session, make_technician) -> None:
    service.create_item(session, sku="X", name="x", serialized=False)
    tech = make_technician()
    assert service.van_stock(session, tech.id) == {}
    with pytest.raises(service.InsufficientStock):
        service.consume(session, technician_id=tech.id, sku="X", quantity=1, job_id=None)


def test_seed_demo_stock_is_explained_by_the_ledger(session, make_technician) -> None:
    techs = [make_technician().id for _ in range(3)]
    vans = service.seed_demo_stock(session, techs, random.Random(0), depot_names=["Depot Nord"])
    session.commit()
    assert set(vans) == set(techs)
    stock = service.vans_stock(session, techs)
    assert all(len(stock[t]) == len(service.DEMO_ITEMS) for t in techs)
    assert all(q > 0 for t in techs for q in stock[t].values())
    again = service.seed_demo_stock(session, techs, random.Random(0))
    assert again == vans
    session.commit()
    kinds = {loc.kind for loc in session.scalars(select(StockLocation))}
    assert kinds == {"warehouse", "depot", "van"}
    for level in service.levels(session):
        assert level.quantity == service.ledger_balance(
            session, location_id=level.location_id, item_id=level.item_id
        )

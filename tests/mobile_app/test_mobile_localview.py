"""The device-side rules: optimistic status, van stock checks, what a refusal tells the user."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mobile_app.localview import (
    advice_for,
    allowed_actions,
    available_stock,
    check_used_item,
    local_job,
    sla_left,
)
from mobile_app.outbox import Outbox

STOCK = [
    {"sku": "ONT-G2", "name": "ONT", "quantity": 3, "serialized": True},
    {"sku": "CABLE-5M", "name": "Patch cable", "quantity": 10, "serialized": False},
]


@pytest.fixture()
def outbox(tmp_path):
    box = Outbox(str(tmp_path / "o.db"))
    yield box
    box.close()


def test_only_the_contracts_next_steps_are_offered():
    assert allowed_actions("dispatched") == ("en_route", "cancelled")
    assert allowed_actions("on_site") == ("completed", "incomplete", "cancelled")
    assert allowed_actions("completed") == () and allowed_actions("open") == ()


def test_pending_actions_show_at_once_and_refusals_are_listed(outbox):
    job = {"id": 7, "status": "dispatched"}
    outbox.enqueue("event", {"type": "en_route", "at": "t"}, job_id=7)
    outbox.enqueue("note", {"text": "gate code 1234"}, job_id=7)
    refused = outbox.enqueue("event", {"type": "on_site", "at": "t"}, job_id=7)

    class Refusal(Exception):
        status, code, detail = 404, "not_found", "Job 7 not found."
        body: dict = {}

    outbox.mark_failed(refused.id, Refusal())
    view = local_job(job, outbox.for_job(7), notes=[{"id": 1, "text": "old"}])
    assert view.status == "en_route" and view.server_status == "dispatched"
    assert view.actions == ("on_site", "cancelled")
    assert view.pending == 2
    assert [(n["text"], n["pending"]) for n in view.notes] == [
        ("old", False),
        ("gate code 1234", True),
    ]
    (rejection,) = view.rejections
    assert rejection.detail == "Job 7 not found."
    assert "no longer assigned to you" in rejection.advice and not rejection.can_retry


def test_used_items_are_checked_against_the_van_minus_the_queue(outbox):
    payload = check_used_item(STOCK, [], "ONT-G2", "2", "SN1\nSN2")
    assert payload == {"sku": "ONT-G2", "quantity": 2, "serial_numbers": ["SN1", "SN2"]}
    outbox.enqueue("used_item", payload, job_id=1)
    assert available_stock(STOCK, outbox.pending())["ONT-G2"] == 1
    with pytest.raises(ValueError, match="quantity: the van holds only 1 of ONT-G2"):
        check_used_item(STOCK, outbox.pending(), "ONT-G2", "2", "SN3, SN4")
    with pytest.raises(ValueError, match="serial numbers: ONT-G2 is tracked by serial"):
        check_used_item(STOCK, outbox.pending(), "ONT-G2", "1", "")
    with pytest.raises(ValueError, match="serial numbers: a serial number is entered twice"):
        check_used_item(STOCK, [], "ONT-G2", "2", "A A")
    with pytest.raises(ValueError, match="quantity: enter a whole number"):
        check_used_item(STOCK, [], "CABLE-5M", "two", "")
    with pytest.raises(ValueError, match="quantity: must be at least 1"):
        check_used_item(STOCK, [], "CABLE-5M", "0", "")
    with pytest.raises(ValueError, match="item: pick an item"):
        check_used_item(STOCK, [], "NOPE", "1", "")
    assert check_used_item(STOCK, [], "CABLE-5M", " 4 ", "")["quantity"] == 4


def test_refusal_advice_names_what_to_do(outbox):
    class Short(Exception):
        status, code, detail = 409, "insufficient_stock", "Only 0 left."
        body = {"sku": "ONT-G2", "available": 0}

    action = outbox.enqueue("used_item", {"sku": "ONT-G2", "quantity": 1}, job_id=1)
    outbox.mark_failed(action.id, Short())
    advice, can_retry = advice_for(outbox.get(action.id))
    assert "only 0 of ONT-G2" in advice and can_retry

    class Bad(Exception):
        status, code, detail = 409, "invalid_transition", "No."
        body = {"current_status": "cancelled", "allowed": []}

    action = outbox.enqueue("event", {"type": "on_site"}, job_id=1)
    outbox.mark_failed(action.id, Bad())
    advice, can_retry = advice_for(outbox.get(action.id))
    assert "Cancelled" in advice and "allowed next: none" in advice and not can_retry


def test_sla_countdown():
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert sla_left({"sla_due": "2026-11-27T12:15:00+00:00"}, now) == "SLA 2h15m"
    assert sla_left({"sla_due": "2026-11-27T09:20:00+00:00"}, now) == "SLA late 40m"
    assert sla_left({"sla_due": None}, now) == ""


def test_equipment_is_recorded_only_once_on_site():
    with pytest.raises(ValueError, match="status: equipment is recorded on site"):
        check_used_item(STOCK, [], "CABLE-5M", "1", "", status="en_route")
    assert check_used_item(STOCK, [], "CABLE-5M", "1", "", status="on_site")["quantity"] == 1

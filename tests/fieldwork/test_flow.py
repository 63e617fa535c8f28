"""End-to-end technician flows through the HTTP API (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from stock import service as stock_service
from stock.models import StockMovement

DEVICE_TIME = "2026-11-27T09:00:00+00:00"


def test_a_day_in_the_field(field) -> None:
    day = field.job.date.isoformat()
    r = field.get(f"/me/jobs?date={day}")
    assert r.status_code == 200, r.text
    jobs = r.json()
    # Route order, only the technician's own jobs.
    assert [j["id"] for j in jobs] == [field.job.id, field.job2.id]
    assert jobs[0]["status"] == "dispatched"
    assert jobs[0]["assignment"]["technician_id"] == field.tech.id
    assert jobs[0]["assignment"]["technician_name"] == "Ana Costa"
    assert jobs[0]["items"] == [{"sku": "ONT-G2", "quantity": 1}]

    r = field.get("/me/stock")
    assert r.status_code == 200
    assert {s["sku"]: (s["quantity"], s["serialized"]) for s in r.json()} == {
        "DROP-50M": (5, False),
        "ONT-G2": (3, True),
    }

    r = field.event(field.job.id, "en_route", position={"lat": 48.85, "lon": 2.35, "accuracy_m": 8})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["type"] == "en_route" and body["job_id"] == field.job.id
    assert body["at"].startswith("2026-11-27T09:00:00")
    assert body["position"] == {"lat": 48.85, "lon": 2.35, "accuracy_m": 8.0}
    assert body["job"]["status"] == "en_route"
    version = body["job"]["version"]

    r = field.event(field.job.id, "on_site")
    assert r.status_code == 201 and r.json()["job"]["version"] == version + 1

    r = field.post(f"/jobs/{field.job.id}/notes", {"text": "  Customer asked for a call back  "})
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "Customer asked for a call back"
    assert r.json()["author"]

    r = field.post(
        f"/jobs/{field.job.id}/used-items",
        {"sku": "ONT-G2", "quantity": 1, "serial_numbers": ["SN-0001"]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["remaining"] == 2 and r.json()["serial_numbers"] == ["SN-0001"]
    r = field.post(f"/jobs/{field.job.id}/used-items", {"sku": "DROP-50M", "quantity": 2})
    assert r.status_code == 201 and r.json()["remaining"] == 3

    r = field.event(field.job.id, "completed")
    assert r.status_code == 201 and r.json()["job"]["status"] == "completed"

    # The van, the ledger and the job agree.
    assert field.van() == {"ONT-G2": 2, "DROP-50M": 3}
    r = field.get(f"/jobs/{field.job.id}/used-items")
    assert [(u["sku"], u["quantity"]) for u in r.json()] == [("ONT-G2", 1), ("DROP-50M", 2)]
    moves = field.read(
        lambda s: [
            (m.kind, m.item.sku, m.quantity, m.from_location_id)
            for m in s.scalars(select(StockMovement).where(StockMovement.job_id == field.job.id))
        ]
    )
    assert sorted(moves) == [
        ("consumption", "DROP-50M", 2, field.van_id),
        ("consumption", "ONT-G2", 1, field.van_id),
    ]

    def ledger(s, sku):
        item = stock_service.get_item_by_sku(s, sku=sku)
        return stock_service.ledger_balance(s, location_id=field.van_id, item_id=item.id)

    for sku in ("ONT-G2", "DROP-50M"):
        assert field.read(lambda s, sku=sku: ledger(s, sku)) == field.van()[sku]

    history = field.get(f"/jobs/{field.job.id}/events").json()
    assert [(e["from_status"], e["type"]) for e in history] == [
        ("dispatched", "en_route"),
        ("en_route", "on_site"),
        ("on_site", "completed"),
    ]
    assert [n["text"] for n in field.get(f"/jobs/{field.job.id}/notes").json()] == [
        "Customer asked for a call back"
    ]
    # Dispatchers see the same history.
    disp = field.auth_headers("dispatcher")
    assert len(field.get(f"/jobs/{field.job.id}/events", headers=disp).json()) == 3


def test_invalid_transitions_list_the_allowed_states(field) -> None:
    r = field.event(field.job.id, "on_site")
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "invalid_transition"
    assert body["current_status"] == "dispatched"
    assert body["allowed"] == ["en_route", "cancelled"]
    assert isinstance(body["detail"], str) and "en_route" in body["detail"]

    field.to_on_site(field.job.id)
    r = field.event(field.job.id, "en_route")
    assert r.status_code == 409
    assert r.json()["allowed"] == ["completed", "incomplete", "cancelled"]

    assert field.event(field.job.id, "cancelled").status_code == 201
    r = field.event(field.job.id, "completed")
    assert r.status_code == 409 and r.json()["allowed"] == []


def test_incomplete_needs_a_reason(field) -> None:
    field.to_on_site(field.job.id)
    r = field.event(field.job.id, "incomplete")
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert r.json()["detail"].startswith("body.reason")
    r = field.event(field.job.id, "incomplete", reason="   ")
    assert r.status_code == 422 and "body.reason" in r.json()["detail"]

    r = field.event(field.job.id, "incomplete", reason="Customer not at home")
    assert r.status_code == 201
    assert r.json()["job"]["status"] == "incomplete"
    assert r.json()["job"]["incomplete_reason"] == "Customer not at home"


def test_cancel_from_dispatched_and_en_route(field) -> None:
    assert field.event(field.job.id, "cancelled").status_code == 201
    assert field.event(field.job2.id, "en_route").status_code == 201
    r = field.event(field.job2.id, "cancelled")
    assert r.status_code == 201 and r.json()["job"]["status"] == "cancelled"


def test_a_technician_cannot_touch_another_technicians_job(field) -> None:
    jid = field.other_job.id
    for method, path, body in [
        ("post", f"/jobs/{jid}/events", {"type": "en_route", "at": DEVICE_TIME}),
        ("post", f"/jobs/{jid}/notes", {"text": "hello"}),
        ("post", f"/jobs/{jid}/used-items", {"sku": "DROP-50M", "quantity": 1}),
        ("get", f"/jobs/{jid}/events", None),
        ("get", f"/jobs/{jid}/notes", None),
        ("get", f"/jobs/{jid}/photos", None),
        ("get", f"/jobs/{jid}/used-items", None),
    ]:
        r = field.post(path, body) if method == "post" else field.get(path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "not_found"
    r = field.post(f"/jobs/{jid}/photos", files={"file": ("a.png", b"x", "image/png")})
    assert r.status_code == 404
    # Nothing changed, and the colleague's day does not show up in mine.
    assert field.get(f"/jobs/{jid}/events", headers=field.other_headers).json() == []
    mine = field.get(f"/me/jobs?date={field.job.date.isoformat()}").json()
    assert jid not in [j["id"] for j in mine]
    assert field.post("/jobs/999999/notes", {"text": "x"}).status_code == 404


def test_used_items_are_refused_before_arrival_and_when_short(field) -> None:
    r = field.post(f"/jobs/{field.job.id}/used-items", {"sku": "DROP-50M", "quantity": 1})
    assert r.status_code == 409 and r.json()["current_status"] == "dispatched"
    field.to_on_site(field.job.id)

    r = field.post(f"/jobs/{field.job.id}/used-items", {"sku": "DROP-50M", "quantity": 6})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "insufficient_stock"
    assert body["sku"] == "DROP-50M" and body["available"] == 5
    assert field.van()["DROP-50M"] == 5

    # Serialized items need one serial number per unit, each used only once.
    r = field.post(f"/jobs/{field.job.id}/used-items", {"sku": "ONT-G2", "quantity": 1})
    assert r.status_code == 422 and r.json()["detail"].startswith("body.serial_numbers")
    ok = {"sku": "ONT-G2", "quantity": 1, "serial_numbers": ["SN-1"]}
    assert field.post(f"/jobs/{field.job.id}/used-items", ok).status_code == 201
    r = field.post(f"/jobs/{field.job.id}/used-items", ok)
    assert r.status_code == 409 and "SN-1" in r.json()["detail"]
    r = field.post(f"/jobs/{field.job.id}/used-items", {"sku": "NOPE", "quantity": 1})
    assert r.status_code == 422 and r.json()["detail"].startswith("body.sku")
    assert field.van() == {"ONT-G2": 2, "DROP-50M": 5}


def test_location_batches(field) -> None:
    now = dt.datetime.now(dt.UTC)
    fixes = [
        {
            "lat": 48.85 + i / 1000,
            "lon": 2.35,
            "accuracy_m": 5,
            "at": (now + dt.timedelta(seconds=i)).isoformat(),
        }
        for i in range(3)
    ]
    r = field.post("/me/location", {"positions": fixes})
    assert r.status_code == 202 and r.json() == {"accepted": 3}
    from fieldwork.service import last_position

    last = field.read(lambda s: last_position(s, technician_id=field.tech.id))
    assert last is not None and abs(last.lat - 48.852) < 1e-9


def test_bad_payloads_name_the_field(field) -> None:
    jid = field.job.id
    cases = [
        (f"/jobs/{jid}/events", {"type": "teleported", "at": DEVICE_TIME}, "body.type"),
        (f"/jobs/{jid}/events", {"type": "en_route"}, "body.at"),
        (f"/jobs/{jid}/events", {"type": "en_route", "at": "2026-11-27T09:00:00"}, "body.at"),
        (f"/jobs/{jid}/events", {"type": "en_route", "at": "yesterday"}, "body.at"),
        (
            f"/jobs/{jid}/events",
            {"type": "en_route", "at": DEVICE_TIME, "position": {"lat": 91, "lon": 0}},
            "body.position.lat",
        ),
        (
            f"/jobs/{jid}/events",
            {"type": "en_route", "at": DEVICE_TIME, "colour": 1},
            "body.colour",
        ),
        (f"/jobs/{jid}/notes", {"text": ""}, "body.text"),
        (f"/jobs/{jid}/notes", {}, "body.text"),
        (f"/jobs/{jid}/used-items", {"sku": "DROP-50M", "quantity": 0}, "body.quantity"),
        (f"/jobs/{jid}/used-items", {"sku": "DROP-50M", "quantity": "many"}, "body.quantity"),
        (f"/jobs/{jid}/used-items", {"quantity": 1}, "body.sku"),
        ("/me/location", {"positions": []}, "body.positions"),
        (
            "/me/location",
            {"positions": [{"lat": 1, "lon": 500, "at": DEVICE_TIME}]},
            "body.positions.0.lon",
        ),
    ]
    cases += [
        (f"/jobs/{jid}/notes", {"text": "a\x00b"}, "body.text"),
        (f"/jobs/{jid}/used-items", {"sku": "DROP\x00", "quantity": 1}, "body.sku"),
        (f"/jobs/{2**40}/notes", {"text": "x"}, "path.job_id"),
    ]
    for path, body, fieldname in cases:
        r = field.post(path, body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["code"] == "validation_error"
        assert r.json()["detail"].startswith(fieldname), (body, r.json()["detail"])
    r = field.client.post(
        f"/api/v1/jobs/{jid}/events",
        content=b"{not json",
        headers={**field.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert field.get("/jobs/abc/notes").status_code == 422
    assert field.get("/me/jobs?date=2026-13-01").json()["detail"].startswith("query.date")
    r = field.post(f"/jobs/{jid}/notes", {"text": "x"}, key="x" * 300)
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]

"""Each dispatch rule bites (422 naming it) and stays quiet when respected; force overrides."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from stock import service as stock_service
from workforce.models import AuditEntry

DAY = dt.date.today() + dt.timedelta(days=1)


def _at(hour: int, minute: int = 0, day: dt.date = DAY) -> str:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC).isoformat()


def _assign(client: TestClient, h: dict, job_id: int, **body) -> object:
    """Patch the assignment; ``technician_id`` defaults to None (unassign)."""
    return _pin(client, h, job_id, {"technician_id": None, **body})


def test_each_rule_refuses_and_force_records_an_override(
    client: TestClient, auth_headers, make_technician, make_job, session
) -> None:
    h = auth_headers("dispatcher")
    tech = make_technician(
        skills={"fiber": 3},
        absences=[
            {
                "start": (DAY + dt.timedelta(days=1)).isoformat(),
                "end": (DAY + dt.timedelta(days=1)).isoformat(),
                "reason": "training",
            }
        ],
    )
    van = stock_service.ensure_van(session, technician_id=tech.id)
    if stock_service.get_item_by_sku(session, sku="ONT-G2") is None:
        stock_service.create_item(session, sku="ONT-G2", name="ONT", serialized=False)
    stock_service.record_movement(
        session, kind="receipt", sku="ONT-G2", quantity=1, to_location_id=van.id, reason="test"
    )
    session.commit()

    ok = make_job(
        skills={"fiber": 2},
        time_windows=[{"start": _at(8), "end": _at(12)}],
        items=[{"sku": "ONT-G2", "quantity": 1}],
    )
    r = _assign(client, h, ok.id, technician_id=tech.id, start=_at(9))
    assert r.status_code == 200, r.text
    a = r.json()["assignment"]
    assert r.json()["status"] == "dispatched" and a["technician_id"] == tech.id
    assert a["planned_start"] == _at(9) and a["planned_end"] == _at(10) and not a["override"]

    cases = {
        "skill": (make_job(skills={"fiber": 4}), _at(14)),
        "time_window": (make_job(time_windows=[{"start": _at(13), "end": _at(14)}]), _at(15)),
        "shift": (make_job(), _at(16, 30)),
        "overlap": (make_job(), _at(9, 30)),
        "stock": (make_job(items=[{"sku": "ONT-G2", "quantity": 2}]), _at(14)),
        "absence": (
            make_job(date=DAY + dt.timedelta(days=1)),
            _at(9, day=DAY + dt.timedelta(days=1)),
        ),
    }
    for rule, (job, start) in cases.items():
        r = _assign(client, h, job.id, technician_id=tech.id, start=start)
        assert r.status_code == 422, (rule, r.text)
        assert r.json()["code"] == "rule_violation" and r.json()["rule"] == rule, r.json()
        assert client.get(f"/api/v1/jobs/{job.id}", headers=h).json()["assignment"] is None

    # The one ONT in the van is already promised to `ok`: a second ONT job is short.
    second_ont = make_job(items=[{"sku": "ONT-G2", "quantity": 1}])
    r = _assign(client, h, second_ont.id, technician_id=tech.id, start=_at(14))
    assert r.status_code == 422 and r.json()["rule"] == "stock"
    assert "kept for other visits" in r.json()["detail"]

    # Breaking the break: visits around the lunch window leave no room for 30 minutes.
    brk = make_job(duration_min=150)
    r = _assign(client, h, brk.id, technician_id=tech.id, start=_at(11, 30))
    assert r.status_code == 422 and r.json()["rule"] == "shift" and "break" in r.json()["detail"]

    skill_job = cases["skill"][0]
    r = _assign(
        client, h, skill_job.id, technician_id=tech.id, start=_at(14), force=True, pinned=True
    )
    assert r.status_code == 200
    a = r.json()["assignment"]
    assert a["override"] is True and a["pinned"] is True
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == skill_job.id)).one()
    assert entry.action == "override" and entry.detail["violations"][0]["rule"] == "skill"

    # Sequence follows start times; unassigning returns the job to open.
    r = client.get(f"/api/v1/jobs?technician_id={tech.id}&date={DAY}", headers=h)
    seq = {j["id"]: j["assignment"]["sequence"] for j in r.json()}
    assert seq == {ok.id: 1, skill_job.id: 2}
    r = _assign(client, h, ok.id, technician_id=None)
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["assignment"] is None
    r = client.get(f"/api/v1/jobs/{skill_job.id}", headers=h)
    assert r.json()["assignment"]["sequence"] == 1


def test_default_start_and_schedule(
    client: TestClient, auth_headers, make_technician, make_job
) -> None:
    h = auth_headers("dispatcher")
    tech = make_technician(skills={"fiber": 3})
    first = make_job()
    second = make_job(time_windows=[{"start": _at(13), "end": _at(15)}], sla_due=_at(13, 30))
    open_job = make_job(priority=90)
    assert _assign(client, h, first.id, technician_id=tech.id).status_code == 200
    r = _assign(client, h, second.id, technician_id=tech.id)
    assert r.status_code == 200
    assert r.json()["assignment"]["planned_start"] == _at(13)  # first fit inside its window

    r = client.get(f"/api/v1/schedules/{DAY}", headers=h)
    assert r.status_code == 200
    s = r.json()
    route = next(rt for rt in s["routes"] if rt["technician"]["id"] == tech.id)
    assert [v["job_id"] for v in route["visits"]] == [first.id, second.id]
    first_visit = route["visits"][0]
    assert first_visit["start"] >= route["shift"]["start"]
    assert first_visit["job"]["reference"] == first.reference
    assert route["visits"][1]["job"]["sla_at_risk"] is True  # ends 14:00, after the SLA (13:30)
    assert len(route["breaks"]) == 1 and route["travel_min"] > 0  # home is ~1 km away
    assert [u["job"]["id"] for u in s["unassigned"]] == [open_job.id]
    assert s["unassigned"][0]["reason"] == "not_planned"
    assert s["kpis"]["jobs_assigned"] == 2 and s["kpis"]["jobs_unassigned"] == 1

    moved = _assign(client, h, first.id, technician_id=tech.id, start=_at(8, 30))
    assert moved.status_code == 200
    assert moved.json()["version"] > first.version


def test_pin_without_moving_and_missing_technician(
    client: TestClient, auth_headers, make_technician, make_job
) -> None:
    h = auth_headers("dispatcher")
    tech = make_technician()
    job = make_job()
    r = _pin(client, h, job.id, {"pinned": True})
    assert r.status_code == 422 and r.json()["detail"].startswith("body.technician_id")
    assert _assign(client, h, job.id, technician_id=tech.id, start=_at(9)).status_code == 200
    r = _pin(client, h, job.id, {"pinned": True})
    assert r.status_code == 200
    a = r.json()["assignment"]
    assert a["pinned"] is True and a["technician_id"] == tech.id and a["planned_start"] == _at(9)
    r = _pin(client, h, job.id, {"start": _at(10)})
    assert r.json()["assignment"]["planned_start"] == _at(10)
    assert r.json()["assignment"]["pinned"] is True


def _pin(client: TestClient, h: dict, job_id: int, body: dict) -> object:
    etag = client.get(f"/api/v1/jobs/{job_id}", headers=h).headers["ETag"]
    return client.patch(
        f"/api/v1/jobs/{job_id}/assignment", json=body, headers={**h, "If-Match": etag}
    )

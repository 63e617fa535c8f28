"""Technicians and jobs through HTTP: CRUD, filters, paging, ETag / If-Match, bad input."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

DAY = dt.date.today() + dt.timedelta(days=1)


def _at(hour: int, minute: int = 0) -> str:
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=dt.UTC).isoformat()


def test_technician_crud_with_etags(client: TestClient, auth_headers) -> None:
    h = auth_headers("admin")
    body = {
        "name": "Ana Costa",
        "username": "ana",
        "password": "ana-pw",
        "skills": {"fiber": 3, "copper": 2},
        "home_base": {"lat": 48.85, "lon": 2.35, "address": "Depot Nord"},
        "depot": "Depot Nord",
        "territory": "north",
        "shift_start": "08:00",
        "shift_end": "17:00",
        "break": {"duration_min": 30, "earliest": "12:00", "latest": "13:30"},
        "max_work_min": 480,
        "working_days": [0, 1, 2, 3, 4],
        "absences": [{"start": "2026-11-30", "end": "2026-12-01", "reason": "training"}],
        "cost_per_hour": 45.0,
    }
    r = client.post("/api/v1/technicians", json=body, headers=h)
    assert r.status_code == 201, r.text
    tech = r.json()
    assert tech["username"] == "ana" and tech["skills"] == {"copper": 2, "fiber": 3}
    assert tech["break"] == {"duration_min": 30, "earliest": "12:00", "latest": "13:30"}
    assert tech["shift_start"] == "08:00" and tech["version"] == 1
    assert tech["absences"][0]["reason"] == "training"
    r = client.get(f"/api/v1/technicians/{tech['id']}", headers=h)
    assert r.headers["ETag"] == '"1"'
    url = f"/api/v1/technicians/{tech['id']}"
    assert client.patch(url, json={"depot": "Sud"}, headers=h).status_code == 428
    r = client.patch(
        url, json={"depot": "Sud", "skills": {"fiber": 4}}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["skills"] == {"fiber": 4}
    assert r.headers["ETag"] == '"2"' and r.json()["depot"] == "Sud"
    r = client.patch(url, json={"depot": "Est"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 412 and r.json()["code"] == "precondition_failed"
    # The new login works and is linked.
    tok = client.post("/api/v1/auth/token", data={"username": "ana", "password": "ana-pw"}).json()
    assert tok["technician_id"] == tech["id"]
    # Filters and paging.
    client.post(
        "/api/v1/technicians",
        json={**body, "username": None, "password": None, "name": "Bo", "territory": "south"},
        headers=h,
    )
    r = client.get("/api/v1/technicians?territory=south", headers=h)
    assert [t["name"] for t in r.json()] == ["Bo"] and r.headers["X-Total-Count"] == "1"
    r = client.get("/api/v1/technicians?skill=copper&limit=1", headers=h)
    assert len(r.json()) == 1 and r.headers["X-Total-Count"] == "1"
    # Duplicate username: conflict, not a 500.
    r = client.post("/api/v1/technicians", json=body, headers=h)
    assert r.status_code == 409


def test_job_crud_filters_paging_and_concurrency(client: TestClient, auth_headers) -> None:
    h = auth_headers("dispatcher")
    body = {
        "source": "ticket",
        "kind": "repair",
        "title": "No sync on DSL line",
        "customer": {"name": "Marie Dubois", "phone": "+33 6 12 34 56 78"},
        "address": "12 Rue de la Paix",
        "location": {"lat": 48.869, "lon": 2.331},
        "territory": "north",
        "duration_min": 60,
        "skills": {"dsl": 2},
        "time_windows": [{"start": _at(8), "end": _at(12)}],
        "sla_due": _at(16),
        "priority": 80,
        "items": [{"sku": "ONT-G2", "quantity": 1}],
    }
    r = client.post("/api/v1/jobs", json=body, headers=h)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["date"] == DAY.isoformat() and job["status"] == "open"
    assert job["reference"].startswith(f"TT-{DAY:%Y%m%d}-") and job["assignment"] is None
    assert job["time_windows"][0]["start"] == _at(8)  # ISO with +00:00
    assert job["customer"]["name"] == "Marie Dubois" and job["skills"] == {"dsl": 2}
    assert r.headers["ETag"] == f'"{job["version"]}"'
    second = client.post(
        "/api/v1/jobs",
        json={**body, "territory": "south", "source": "order", "predecessor_ids": [job["id"]]},
        headers=h,
    ).json()
    assert second["predecessor_ids"] == [job["id"]]
    for _ in range(3):
        client.post("/api/v1/jobs", json={**body, "territory": "east"}, headers=h)

    def ids(query: str) -> tuple[list[int], str]:
        r = client.get(f"/api/v1/jobs?{query}", headers=h)
        assert r.status_code == 200, r.text
        return [j["id"] for j in r.json()], r.headers["X-Total-Count"]

    assert ids("territory=south") == ([second["id"]], "1")
    assert ids("source=order")[1] == "1"
    assert ids(f"date={DAY}&status=open")[1] == "5"
    assert ids("status=dispatched&status=completed") == ([], "0")
    assert ids(f"date={DAY + dt.timedelta(days=3)}")[1] == "0"
    page, total = ids("limit=2&offset=1")
    assert len(page) == 2 and total == "5"

    url = f"/api/v1/jobs/{job['id']}"
    r = client.patch(url, json={"priority": 90}, headers=h)
    assert r.status_code == 428 and r.json()["code"] == "precondition_required"
    etag = client.get(url, headers=h).headers["ETag"]
    r = client.patch(
        url, json={"priority": 90, "skills": {"dsl": 3}}, headers={**h, "If-Match": etag}
    )
    assert r.status_code == 200 and r.json()["priority"] == 90
    assert r.json()["version"] == job["version"] + 1 and r.headers["ETag"] != etag
    r = client.patch(url, json={"priority": 10}, headers={**h, "If-Match": etag})
    assert r.status_code == 412 and r.json()["current_version"] == job["version"] + 1
    assert client.get(url, headers=h).json()["priority"] == 90


def test_bad_payloads_are_422_naming_the_field(client: TestClient, auth_headers, make_job) -> None:
    h = auth_headers("dispatcher")
    ok = {"location": {"lat": 48.8, "lon": 2.3}, "duration_min": 30, "date": DAY.isoformat()}
    cases = [
        ({**ok, "duration_min": 0}, "body.duration_min"),
        ({**ok, "duration_min": "long"}, "body.duration_min"),
        ({**ok, "location": {"lat": 91, "lon": 2}}, "body.location.lat"),
        ({**ok, "priority": 101}, "body.priority"),
        ({**ok, "skills": {"fiber": 9}}, "body.skills.fiber"),
        ({**ok, "time_windows": [{"start": _at(12), "end": _at(8)}]}, "body.time_windows.0"),
        (
            {**ok, "time_windows": [{"start": "2026-11-27T08:00:00", "end": _at(8)}]},
            "body.time_windows.0.start",
        ),
        ({**ok, "items": [{"sku": "A", "quantity": -1}]}, "body.items.0.quantity"),
        ({**ok, "predecessor_ids": [987654]}, "body.predecessor_ids"),
        ({**ok, "surprise": 1}, "body.surprise"),
        ({k: v for k, v in ok.items() if k != "date"}, "body.date"),
        ({**ok, "source": "carrier-pigeon"}, "body.source"),
    ]
    for payload, field in cases:
        r = client.post("/api/v1/jobs", json=payload, headers=h)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["code"] == "validation_error"
        assert r.json()["detail"].startswith(field), (field, r.json()["detail"])
    r = client.post(
        "/api/v1/jobs", content=b"[1,2", headers={**h, "content-type": "application/json"}
    )
    assert r.status_code == 422
    job = make_job()
    bad_patch = client.patch(
        f"/api/v1/jobs/{job.id}/assignment",
        json={"technician_id": "x"},
        headers={**h, "If-Match": f'"{job.version}"'},
    )
    assert bad_patch.status_code == 422 and "technician_id" in bad_patch.json()["detail"]
    r = client.patch(
        f"/api/v1/jobs/{job.id}/assignment",
        json={"technician_id": 424242},
        headers={**h, "If-Match": f'"{job.version}"'},
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("body.technician_id")
    huge = 10**20
    for url in (
        f"/api/v1/jobs/{huge}",
        f"/api/v1/jobs?technician_id={huge}",
        f"/api/v1/jobs?offset={huge}",
        "/api/v1/schedules/9999-12-31",
        f"/api/v1/optimization-runs/{huge}",
        f"/api/v1/technicians/{huge}",
    ):
        r = client.get(url, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", url
    r = client.post("/api/v1/jobs", json={**ok, "predecessor_ids": [huge]}, headers=h)
    assert r.status_code == 422 and r.json()["detail"].startswith("body.predecessor_ids.0")
    r = client.post("/api/v1/optimization-runs", json={"date_from": "9999-12-31"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"].startswith("body.date_from")
    # Text the database refuses (PostgreSQL has no NUL in text) is a 422 too, never a 500.
    r = client.post("/api/v1/jobs", json={**ok, "title": "a\u0000b"}, headers=h)
    assert r.status_code in (201, 422)
    for query in ("limit=0", "limit=501", "offset=-1", "date=tomorrow", "status=lost"):
        r = client.get(f"/api/v1/jobs?{query}", headers=h)
        assert r.status_code == 422 and r.json()["detail"].startswith("query."), query
    assert client.get("/api/v1/jobs/abc", headers=h).json()["detail"].startswith("path.job_id")
    assert client.get("/api/v1/jobs/999999", headers=h).status_code == 404
    r = client.post(
        "/api/v1/technicians",
        json={
            "name": "X",
            "home_base": {"lat": 1, "lon": 1},
            "shift_start": "18:00",
            "shift_end": "08:00",
        },
        headers=h,
    )
    assert r.status_code == 422 and "shift_end" in r.json()["detail"]
    r = client.post(
        "/api/v1/optimization-runs",
        json={"date_from": "2026-12-02", "date_to": "2026-12-01"},
        headers=h,
    )
    assert r.status_code == 422 and "date_to" in r.json()["detail"]


def test_editing_an_assigned_job_keeps_the_assignment_consistent(
    client: TestClient, auth_headers, make_technician, make_job
) -> None:
    h = auth_headers("dispatcher")
    tech = make_technician()
    job = make_job()
    url = f"/api/v1/jobs/{job.id}"

    def write(path: str, body: dict) -> dict:
        etag = client.get(url, headers=h).headers["ETag"]
        r = client.patch(path, json=body, headers={**h, "If-Match": etag})
        assert r.status_code == 200, r.text
        return r.json()

    write(f"{url}/assignment", {"technician_id": tech.id, "start": _at(9)})
    body = write(url, {"duration_min": 90})
    assert body["assignment"]["planned_end"] == _at(10, 30)
    body = write(url, {"date": (DAY + dt.timedelta(days=1)).isoformat()})
    assert body["status"] == "open" and body["assignment"] is None

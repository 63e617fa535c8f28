"""Login, /me and the authorisation matrix: each role x each endpoint of the dispatch API."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

DAY = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def test_login_me_and_bad_credentials(client: TestClient, make_user, make_technician) -> None:
    make_user("dispatcher", username="disp", password="pw-disp")
    tech = make_technician(username="tech01")
    r = client.post("/api/v1/auth/token", data={"username": "disp", "password": "pw-disp"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["role"] == "dispatcher"
    assert body["technician_id"] is None
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["username"] == "disp" and me.json()["role"] == "dispatcher"

    r = client.post("/api/v1/auth/token", data={"username": "tech01", "password": "tech01"})
    assert r.json()["technician_id"] == tech.id and r.json()["role"] == "technician"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json() == {
        "id": tech.user_id,
        "username": "tech01",
        "role": "technician",
        "technician_id": tech.id,
        "name": tech.name,
    }

    r = client.post("/api/v1/auth/token", data={"username": "disp", "password": "wrong"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert r.status_code == 401
    r = client.post("/api/v1/auth/token", data={"username": "disp"})
    assert r.status_code == 422 and "password" in r.json()["detail"]
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_authorisation_matrix(
    client: TestClient, auth_headers, make_job, make_technician, session
) -> None:
    """Every endpoint of this module, for every role and for anonymous callers."""
    roles = {r: auth_headers(r) for r in ("admin", "dispatcher", "technician")}
    tech = make_technician()
    job = make_job()
    other = make_job()
    # Give the technician of `roles["technician"]` one job so "own job" reads succeed.
    own = client.patch(
        f"/api/v1/jobs/{other.id}/assignment",
        headers={**roles["dispatcher"], "If-Match": f'"{other.version}"'},
        json={
            "technician_id": client.get("/api/v1/me", headers=roles["technician"]).json()[
                "technician_id"
            ],
            "force": True,
        },
    )
    assert own.status_code == 200, own.text
    tech_body = {"name": "New Tech", "home_base": {"lat": 48.8, "lon": 2.3}}
    job_body = {"location": {"lat": 48.8, "lon": 2.3}, "duration_min": 30, "date": DAY}
    run_body = {"date_from": "2030-01-07", "time_limit_s": 1}
    ticket_body = {"title": "Fault", "location": {"lat": 48.8, "lon": 2.3}, "date": DAY}
    dispatch = {"admin", "dispatcher"}
    everyone = {"admin", "dispatcher", "technician"}
    matrix = [
        ("GET", "/api/v1/me", None, everyone),
        ("GET", "/api/v1/technicians", None, dispatch),
        ("POST", "/api/v1/technicians", tech_body, dispatch),
        ("GET", f"/api/v1/technicians/{tech.id}", None, dispatch),
        ("PATCH", f"/api/v1/technicians/{tech.id}", {"depot": "X"}, dispatch),
        ("GET", "/api/v1/jobs", None, everyone),
        ("POST", "/api/v1/jobs", job_body, dispatch),
        ("GET", f"/api/v1/jobs/{other.id}", None, everyone),
        ("PATCH", f"/api/v1/jobs/{job.id}", {"priority": 70}, dispatch),
        ("PATCH", f"/api/v1/jobs/{job.id}/assignment", {"technician_id": None}, dispatch),
        ("GET", f"/api/v1/schedules/{DAY}", None, dispatch),
        ("POST", "/api/v1/optimization-runs", run_body, dispatch),
        ("GET", "/api/v1/optimization-runs", None, dispatch),
        ("GET", "/api/v1/optimization-runs/999", None, dispatch),
        ("GET", "/api/v1/plan-versions/999", None, dispatch),
        ("GET", "/api/v1/plan-versions/999/diff", None, dispatch),
        ("POST", "/api/v1/plan-versions/999/publish", None, dispatch),
        ("POST", "/api/v1/plan-versions/999/discard", None, dispatch),
        ("GET", "/api/v1/territories", None, dispatch),
        ("PUT", "/api/v1/territories/north", {"name": "north"}, dispatch),
        ("GET", "/api/v1/audit-entries", None, {"admin"}),
        (
            "POST",
            "/api/v1/users",
            {"username": "u9", "password": "pw-9", "role": "dispatcher"},
            {"admin"},
        ),
        ("GET", "/api/v1/customers", None, dispatch),
        ("POST", "/api/v1/customers", {"name": "C", "lat": 48.8, "lon": 2.3}, dispatch),
        ("GET", "/api/v1/customers/1", None, dispatch),
        ("GET", "/api/v1/tickets", None, dispatch),
        ("POST", "/api/v1/tickets", ticket_body, dispatch),
        ("GET", "/api/v1/tickets/999", None, dispatch),
        ("GET", "/api/v1/orders", None, dispatch),
        ("POST", "/api/v1/orders", {"customer_id": 1, "lines": [{"product": "Fibre"}]}, dispatch),
        ("GET", "/api/v1/orders/999", None, dispatch),
        ("GET", "/api/v1/events/stream?access_token=bad", None, set()),
    ]
    failures = []
    for method, path, body, allowed in matrix:
        r = client.request(method, path, json=body)
        if r.status_code != 401:
            failures.append(f"anonymous {method} {path} -> {r.status_code}")
        if "stream" in path:
            continue
        for role, headers in roles.items():
            h = dict(headers)
            if method == "PATCH":
                h["If-Match"] = client.get(
                    path.removesuffix("/assignment"), headers=roles["admin"]
                ).headers["ETag"]
            r = client.request(method, path, json=body, headers=h)
            if role in allowed:
                if r.status_code in (401, 403) or r.status_code >= 500:
                    failures.append(f"{role} {method} {path} -> {r.status_code} {r.text[:120]}")
            elif r.status_code != 403:
                failures.append(f"{role} {method} {path} -> {r.status_code}, expected 403")
            if method == "POST" and "users" in path and r.status_code == 201:
                body = {**body, "username": body["username"] + "x"}
            if method == "POST" and "optimization-runs" in path and r.status_code == 202:
                run_body["date_from"] = "2030-02-04"  # a different scope for the next role
    assert failures == []


def test_technician_sees_only_own_jobs(client: TestClient, auth_headers, make_job) -> None:
    tech_h, disp_h = auth_headers("technician"), auth_headers("dispatcher")
    tech_id = client.get("/api/v1/me", headers=tech_h).json()["technician_id"]
    mine, foreign = make_job(), make_job()
    r = client.patch(
        f"/api/v1/jobs/{mine.id}/assignment",
        headers={**disp_h, "If-Match": f'"{mine.version}"'},
        json={"technician_id": tech_id, "force": True},
    )
    assert r.status_code == 200
    listed = client.get("/api/v1/jobs", headers=tech_h)
    assert [j["id"] for j in listed.json()] == [mine.id]
    assert listed.headers["X-Total-Count"] == "1"
    assert client.get(f"/api/v1/jobs/{mine.id}", headers=tech_h).status_code == 200
    r = client.get(f"/api/v1/jobs/{foreign.id}", headers=tech_h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.get("/api/v1/jobs", headers=disp_h).headers["X-Total-Count"] == "2"

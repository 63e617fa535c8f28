"""Who may call which field and stock endpoint: each role against each endpoint."""

from __future__ import annotations

import uuid

DEVICE_TIME = "2026-11-27T09:00:00+00:00"
ROLES = ("admin", "dispatcher", "technician", "other_technician", "anonymous")


def test_authorisation_matrix(field, make_job, assign_job, make_image) -> None:
    headers = {
        "admin": field.auth_headers("admin"),
        "dispatcher": field.auth_headers("dispatcher"),
        "technician": field.headers,
        "other_technician": field.other_headers,
        "anonymous": {},
    }
    field.to_on_site(field.job.id)
    jid = field.job.id
    photo = field.client.post(
        f"/api/v1/jobs/{jid}/photos",
        files={"file": ("p.png", make_image("PNG"), "image/png")},
        headers=field.headers,
    ).json()
    # A fresh dispatched job per role, so that each status event is a valid one.
    event_jobs = {role: assign_job(make_job(), field.tech, sequence=9).id for role in ROLES}

    def expect(admin, dispatcher, tech, other, anon):
        return dict(zip(ROLES, (admin, dispatcher, tech, other, anon), strict=True))

    me = expect(403, 403, 200, 200, 401)
    job_read = expect(200, 200, 200, 404, 401)
    job_write = expect(201, 201, 201, 404, 401)
    stock_read = expect(200, 200, 403, 403, 401)
    stock_write = expect(201, 201, 403, 403, 401)
    position = {"positions": [{"lat": 48.8, "lon": 2.3, "at": DEVICE_TIME}]}

    matrix = [
        ("GET", lambda r: "/me/jobs", None, me),
        ("GET", lambda r: "/me/stock", None, me),
        (
            "POST",
            lambda r: "/me/location",
            position,
            {**me, "technician": 202, "other_technician": 202},
        ),
        ("GET", lambda r: f"/jobs/{jid}/events", None, job_read),
        ("GET", lambda r: f"/jobs/{jid}/notes", None, job_read),
        ("GET", lambda r: f"/jobs/{jid}/photos", None, job_read),
        ("GET", lambda r: f"/jobs/{jid}/used-items", None, job_read),
        ("GET", lambda r: photo["url"].removeprefix("/api/v1"), None, job_read),
        (
            "POST",
            lambda r: f"/jobs/{event_jobs[r]}/events",
            {"type": "en_route", "at": DEVICE_TIME},
            job_write,
        ),
        ("POST", lambda r: f"/jobs/{jid}/notes", {"text": "note"}, job_write),
        (
            "POST",
            lambda r: f"/jobs/{jid}/used-items",
            {"sku": "DROP-50M", "quantity": 1},
            job_write,
        ),
        ("PHOTO", lambda r: f"/jobs/{jid}/photos", None, job_write),
        ("GET", lambda r: "/stock/items", None, stock_read),
        ("GET", lambda r: "/stock/locations", None, stock_read),
        ("GET", lambda r: f"/stock/levels?location_id={field.van_id}", None, stock_read),
        ("GET", lambda r: f"/stock/movements?location_id={field.van_id}", None, stock_read),
        (
            "POST",
            lambda r: "/stock/movements",
            {"kind": "receipt", "sku": "DROP-50M", "quantity": 1, "to_location_id": field.van_id},
            stock_write,
        ),
        (
            "POST",
            lambda r: "/stock/items",
            {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "name": "Thing"},
            stock_write,
        ),
    ]
    failures = []
    for method, path_of, body, expected in matrix:
        for role in ROLES:
            path = "/api/v1" + path_of(role)
            h = headers[role]
            if method == "GET":
                r = field.client.get(path, headers=h)
            elif method == "PHOTO":
                files = {"file": ("p.png", make_image("PNG"), "image/png")}
                r = field.client.post(path, files=files, headers=h)
            else:
                if path.endswith("/stock/items"):
                    body = {**body, "sku": f"SKU-{uuid.uuid4().hex[:8]}"}
                r = field.client.post(path, json=body, headers=h)
            if r.status_code != expected[role]:
                failures.append((method, path, role, expected[role], r.status_code, r.text[:200]))
            elif r.status_code >= 400:
                assert r.json()["code"] in {"unauthorized", "forbidden", "not_found"}
    assert failures == []
    # Three successful used-item posts (admin, dispatcher, technician) and three receipts.
    assert field.van()["DROP-50M"] == 5 - 3 + 2

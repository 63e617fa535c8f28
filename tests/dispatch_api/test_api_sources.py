"""Work sources: customers, tickets and orders create jobs; a closed job closes the loop."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from core.events import emit
from workforce.models import Job
from workforce.service import job_event_data

DAY = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def test_ticket_and_order_create_jobs_and_completion_closes_them(
    client: TestClient, auth_headers, session
) -> None:
    h = auth_headers("dispatcher")
    r = client.post(
        "/api/v1/customers",
        json={
            "name": "Marie Dubois",
            "phone": "+33 6",
            "address": "12 Rue de la Paix",
            "lat": 48.87,
            "lon": 2.33,
        },
        headers=h,
    )
    assert r.status_code == 201
    customer = r.json()
    r = client.post(
        "/api/v1/tickets",
        json={
            "title": "No sync on DSL line",
            "customer_id": customer["id"],
            "priority": 80,
            "location": {"lat": 48.87, "lon": 2.33},
            "skills": {"dsl": 2},
            "date": DAY,
            "sla_due": f"{DAY}T16:00:00+00:00",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["status"] == "scheduled" and ticket["job_id"]
    job = client.get(f"/api/v1/jobs/{ticket['job_id']}", headers=h).json()
    assert job["source"] == "ticket" and job["source_id"] == ticket["id"]
    assert job["reference"] == ticket["reference"] and job["customer"]["name"] == "Marie Dubois"

    r = client.post(
        "/api/v1/orders",
        json={
            "customer_id": customer["id"],
            "date": DAY,
            "lines": [
                {"product": "Fibre 1G", "sku": "ONT-G2"},
                {"product": "TV", "sku": "STB-4K", "quantity": 2},
                {"product": "Router rental", "install": False},
            ],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    order = r.json()
    job2 = client.get(f"/api/v1/jobs/{order['job_id']}", headers=h).json()
    assert job2["source"] == "order" and job2["kind"] == "install"
    assert job2["items"] == [{"sku": "ONT-G2", "quantity": 1}, {"sku": "STB-4K", "quantity": 2}]
    assert job2["location"] == {"lat": 48.87, "lon": 2.33}  # the customer's place

    # The technician flow emits job.updated; in the same transaction the sources follow.
    for job_id in (ticket["job_id"], order["job_id"]):
        row = session.get(Job, job_id)
        row.status = "completed"
        session.flush()
        emit(session, "job.updated", job_event_data(row))
    session.commit()
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=h).json()["status"] == "resolved"
    order = client.get(f"/api/v1/orders/{order['id']}", headers=h).json()
    assert order["status"] == "fulfilled"
    assert [ln["status"] for ln in order["lines"]] == ["fulfilled", "fulfilled", "pending"]

    assert client.get("/api/v1/tickets?status=resolved", headers=h).headers["X-Total-Count"] == "1"
    r = client.post(
        "/api/v1/orders", json={"customer_id": 999, "lines": [{"product": "x"}]}, headers=h
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("body.customer_id")
    r = client.post("/api/v1/orders", json={"customer_id": customer["id"], "lines": []}, headers=h)
    assert r.status_code == 422 and r.json()["detail"].startswith("body.lines")
    r = client.post(
        "/api/v1/tickets",
        json={
            "title": "x",
            "location": {"lat": 1, "lon": 1},
            "reference": ticket["reference"],
            "date": DAY,
        },
        headers=h,
    )
    assert r.status_code == 409

"""Retried technician writes with the same Idempotency-Key have exactly one effect."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from core.idempotency import fingerprint
from fieldwork.models import JobEvent, JobNote, JobPhoto, TechnicianPosition, UsedItem

DEVICE_TIME = "2026-11-27T09:00:00+00:00"


def _count(field, model) -> int:
    return field.read(lambda s: s.scalar(select(func.count()).select_from(model)))


def _replayed(first, second) -> None:
    assert second.status_code == first.status_code
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replay") == "true"
    assert "Idempotent-Replay" not in first.headers


def test_event_retry_has_one_effect(field) -> None:
    key = str(uuid.uuid4())
    first = field.event(field.job.id, "en_route", key=key)
    assert first.status_code == 201
    second = field.event(field.job.id, "en_route", key=key)
    _replayed(first, second)
    assert _count(field, JobEvent) == 1
    # Without a key the same event is a new request, and now an invalid one.
    assert field.event(field.job.id, "en_route").status_code == 409
    # The same key with another payload is refused and changes nothing.
    r = field.event(field.job.id, "on_site", key=key)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert _count(field, JobEvent) == 1
    # Keys are per user: a colleague's identical key is theirs alone.
    r = field.post(
        f"/jobs/{field.other_job.id}/events",
        {"type": "en_route", "at": DEVICE_TIME},
        key=key,
        headers=field.other_headers,
    )
    assert r.status_code == 201 and "Idempotent-Replay" not in r.headers


def test_note_retry_has_one_effect(field) -> None:
    key = str(uuid.uuid4())
    body = {"text": "Gate code 1234"}
    first = field.post(f"/jobs/{field.job.id}/notes", body, key=key)
    second = field.post(f"/jobs/{field.job.id}/notes", body, key=key)
    assert first.status_code == 201
    _replayed(first, second)
    assert _count(field, JobNote) == 1
    r = field.post(f"/jobs/{field.job.id}/notes", {"text": "Gate code 9999"}, key=key)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    # Same body on another job's path is another request too.
    r = field.post(f"/jobs/{field.job2.id}/notes", body, key=key)
    assert r.status_code == 422
    assert _count(field, JobNote) == 1


def test_used_item_retry_decrements_once(field) -> None:
    field.to_on_site(field.job.id)
    key = str(uuid.uuid4())
    body = {"sku": "DROP-50M", "quantity": 2}
    first = field.post(f"/jobs/{field.job.id}/used-items", body, key=key)
    assert first.status_code == 201 and first.json()["remaining"] == 3
    for _ in range(3):
        _replayed(first, field.post(f"/jobs/{field.job.id}/used-items", body, key=key))
    assert field.van()["DROP-50M"] == 3
    assert _count(field, UsedItem) == 1
    r = field.post(f"/jobs/{field.job.id}/used-items", {**body, "quantity": 1}, key=key)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert field.van()["DROP-50M"] == 3


def test_failed_request_is_not_stored(field) -> None:
    """A refusal changed nothing, so the same key may run again once it can succeed."""
    key = str(uuid.uuid4())
    body = {"sku": "DROP-50M", "quantity": 1}
    r = field.post(f"/jobs/{field.job.id}/used-items", body, key=key)
    assert r.status_code == 409  # not on site yet
    field.to_on_site(field.job.id)
    r = field.post(f"/jobs/{field.job.id}/used-items", body, key=key)
    assert r.status_code == 201 and "Idempotent-Replay" not in r.headers
    assert field.van()["DROP-50M"] == 4


def test_location_retry_has_one_effect(field) -> None:
    key = str(uuid.uuid4())
    body = {"positions": [{"lat": 48.8, "lon": 2.3, "accuracy_m": 3, "at": DEVICE_TIME}]}
    first = field.post("/me/location", body, key=key)
    assert first.status_code == 202
    _replayed(first, field.post("/me/location", body, key=key))
    assert _count(field, TechnicianPosition) == 1
    other = {"positions": [{"lat": 48.9, "lon": 2.3, "accuracy_m": 3, "at": DEVICE_TIME}]}
    assert field.post("/me/location", other, key=key).status_code == 422


def test_photo_retry_has_one_effect(field, make_image) -> None:
    key = str(uuid.uuid4())
    data = make_image("PNG")

    def upload(payload: bytes, caption: str = "meter"):
        return field.client.post(
            f"/api/v1/jobs/{field.job.id}/photos",
            files={"file": ("meter.png", payload, "image/png")},
            data={"caption": caption},
            headers={**field.headers, "Idempotency-Key": key},
        )

    first = upload(data)
    assert first.status_code == 201, first.text
    # A retry is a new multipart body (new boundary) with the same content.
    _replayed(first, upload(data))
    assert _count(field, JobPhoto) == 1
    assert upload(make_image("PNG", color=(1, 2, 3))).status_code == 422
    assert upload(data, caption="other").status_code == 422
    assert _count(field, JobPhoto) == 1
    stored = list((field.client.app.state.settings.data_dir / "photos").rglob("*.png"))
    assert len(stored) == 1


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    a = fingerprint("POST", "/x", {"a": 1, "b": [1, 2]})
    assert a == fingerprint("post", "/x", {"b": [1, 2], "a": 1})
    assert a != fingerprint("POST", "/x", {"a": 1, "b": [2, 1]})
    assert a != fingerprint("POST", "/y", {"a": 1, "b": [1, 2]})

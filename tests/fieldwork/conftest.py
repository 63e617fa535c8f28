"""Fixtures for the technician endpoints: a technician with a dispatched job and a stocked van."""

from __future__ import annotations

import datetime as dt
import functools
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from core.security import hash_password
from stock import service as stock_service
from workforce.models import Assignment, Job, Technician, User

DEVICE_TIME = "2026-11-27T09:00:00+00:00"


def assign(session: Session, job: Job, tech: Technician, *, sequence: int = 1) -> Job:
    """Give ``job`` to ``tech`` (status dispatched), as a published plan would."""
    job = session.merge(job)
    start = dt.datetime.combine(job.date, dt.time(8), tzinfo=dt.UTC) + dt.timedelta(hours=sequence)
    session.add(
        Assignment(
            job_id=job.id,
            technician_id=tech.id,
            planned_start=start,
            planned_end=start + dt.timedelta(minutes=job.duration_min),
            sequence=sequence,
        )
    )
    job.status = "dispatched"
    session.commit()
    return job


def image_bytes(
    fmt: str, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 90)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """``make_image("PNG")`` / ``make_image("JPEG", size=(w, h), color=(r, g, b))``."""
    return image_bytes


@dataclass
class Field:
    """One technician's day: two jobs assigned to them, one to a colleague, a stocked van."""

    client: TestClient
    session: Session
    tech: Technician
    other: Technician
    job: Job
    job2: Job
    other_job: Job
    van_id: int
    headers: dict[str, str]
    other_headers: dict[str, str]
    auth_headers: Callable[..., dict[str, str]]

    def post(self, path: str, body: Any = None, key: str | None = None, headers=None, **kw):
        h = dict(headers if headers is not None else self.headers)
        if key is not None:
            h["Idempotency-Key"] = key
        return self.client.post(f"/api/v1{path}", json=body, headers=h, **kw)

    def get(self, path: str, headers=None, **kw):
        h = headers if headers is not None else self.headers
        return self.client.get(f"/api/v1{path}", headers=h, **kw)

    def event(self, job_id: int, type_: str, key: str | None = None, **extra: Any):
        body = {"type": type_, "at": DEVICE_TIME, **extra}
        return self.post(f"/jobs/{job_id}/events", body, key=key)

    def to_on_site(self, job_id: int) -> None:
        for step in ("en_route", "on_site"):
            r = self.event(job_id, step)
            assert r.status_code == 201, r.text

    def read(self, fn: Callable[[Session], Any]) -> Any:
        """Run a query on the test session and end its transaction at once (on SQLite an
        open transaction holds the write lock the server needs). Nothing is expired, so
        later attribute reads on the fixture's objects do not open a transaction again."""
        try:
            return fn(self.session)
        finally:
            self.session.commit()

    def van(self) -> dict[str, int]:
        return self.read(lambda s: stock_service.van_stock(s, self.tech.id))


@functools.cache
def _password_hash() -> str:
    """One argon2 hash for every test login: hashing is slow on purpose, and logins are
    not what these tests are about (tokens are minted directly)."""
    return hash_password("pw-123")


def quick_user(session: Session, role: str, name: str = "") -> User:
    user = User(
        username=f"{role}-{uuid.uuid4().hex[:8]}",
        password_hash=_password_hash(),
        role=role,
        name=name or f"Test {role}",
    )
    session.add(user)
    session.flush()
    return user


def _technician_with_login(session: Session, make_technician, name: str) -> tuple[Technician, User]:
    tech = make_technician(name=name)
    user = quick_user(session, "technician", name)
    tech.user_id = user.id
    session.commit()
    return tech, user


@pytest.fixture
def role_headers(session: Session, auth_headers) -> Callable[[str], dict[str, str]]:
    """``role_headers("admin")``: a bearer header for a new user of that role (cached)."""
    cache: dict[str, dict[str, str]] = {}

    def _headers(role: str) -> dict[str, str]:
        if role not in cache:
            user = quick_user(session, role)
            session.commit()
            cache[role] = auth_headers(user)
        return cache[role]

    return _headers


@pytest.fixture
def field(client, session, make_technician, make_job, auth_headers, role_headers) -> Field:
    tech, tech_user = _technician_with_login(session, make_technician, "Ana Costa")
    other, other_user = _technician_with_login(session, make_technician, "Bruno Lima")
    job = assign(
        session, make_job(title="Install fibre", items=[{"sku": "ONT-G2", "quantity": 1}]), tech
    )
    job2 = assign(session, make_job(title="Repair DSL"), tech, sequence=2)
    other_job = assign(session, make_job(title="Someone else's"), other)

    stock_service.create_item(session, sku="ONT-G2", name="GPON ONT", serialized=True)
    stock_service.create_item(session, sku="DROP-50M", name="Drop cable 50 m", serialized=False)
    van = stock_service.ensure_van(session, technician_id=tech.id, name="Van Ana")
    stock_service.ensure_van(session, technician_id=other.id, name="Van Bruno")
    stock_service.record_movement(
        session, kind="receipt", sku="ONT-G2", quantity=3, to_location_id=van.id
    )
    stock_service.record_movement(
        session, kind="receipt", sku="DROP-50M", quantity=5, to_location_id=van.id
    )
    session.commit()
    return Field(
        client=client,
        session=session,
        tech=tech,
        other=other,
        job=job,
        job2=job2,
        other_job=other_job,
        van_id=van.id,
        headers=auth_headers(tech_user),
        other_headers=auth_headers(other_user),
        auth_headers=role_headers,
    )


@pytest.fixture
def assign_job(session: Session) -> Callable[..., Job]:
    """``assign_job(job, technician, sequence=1)``."""

    def _assign(job: Job, tech: Technician, sequence: int = 1) -> Job:
        return assign(session, job, tech, sequence=sequence)

    return _assign

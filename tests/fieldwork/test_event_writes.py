"""The status-event write in detail: its body, who may send it, and (on PostgreSQL, where
it runs in plain SQL on the event loop) concurrency and lost connections."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from sqlalchemy import create_engine, func, select, text

from core.security import create_token
from fieldwork.models import JobEvent
from workforce.models import Job, User

DEVICE_TIME = "2026-11-27T09:00:00+00:00"


def _count_events(field) -> int:
    return field.read(lambda s: s.scalar(select(func.count()).select_from(JobEvent)))


def _column(field, column):
    """A column of the fixture's first job as stored now (not the session's copy)."""
    return field.read(lambda s: s.scalar(select(column).where(Job.id == field.job.id)))


def test_the_event_carries_the_same_job_body_as_a_read(field, make_job, assign_job) -> None:
    day = field.job.date
    first = make_job(title="Splice cabinet")
    job = make_job(
        title="Connect customer",
        skills={"fiber": 2, "copper": 1},
        items=[{"sku": "SPL-1x8", "quantity": 2}, {"sku": "DROP-50M", "quantity": 1}],
        time_windows=[
            {"start": f"{day}T13:00:00+00:00", "end": f"{day}T17:00:00+00:00"},
            {"start": f"{day}T08:00:00+01:00", "end": f"{day}T10:30:00+01:00"},
        ],
        sla_due=f"{day}T18:00:00+00:00",
        predecessor_ids=[first.id],
        customer={"name": "Marie Dubois", "phone": "+33 6 12"},
    )
    assign_job(job, field.tech, sequence=3)

    r = field.event(
        job.id,
        "en_route",
        at="2026-11-27T09:00:00.5+02:00",
        position={"lat": 48.85, "lon": 2.35, "accuracy_m": 8},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    read = field.get(f"/jobs/{job.id}")
    assert read.status_code == 200
    assert body["job"] == read.json()
    assert body["job"]["time_windows"][0]["start"] == f"{day}T07:00:00+00:00"
    assert body["job"]["skills"] == {"copper": 1, "fiber": 2}
    assert body["job"]["predecessor_ids"] == [first.id]
    assert body["job"]["assignment"]["technician_name"] == "Ana Costa"
    # The device's time as sent (its offset kept); the server's time in UTC.
    assert body["at"] == "2026-11-27T09:00:00.500000+02:00"
    assert body["received_at"].endswith("Z")
    assert (body["type"], body["from_status"], body["reason"]) == ("en_route", "dispatched", None)
    assert body["position"] == {"lat": 48.85, "lon": 2.35, "accuracy_m": 8.0}
    history = field.get(f"/jobs/{job.id}/events").json()
    assert [e["id"] for e in history] == [body["id"]]
    assert history[0]["at"] == "2026-11-27T07:00:00.500000Z"


def test_a_disabled_login_is_refused_before_anything_changes(field) -> None:
    def disable(s) -> None:
        s.execute(User.__table__.update().where(User.id == field.tech.user_id).values(active=False))

    field.read(disable)
    r = field.event(field.job.id, "en_route")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert _count_events(field) == 0
    assert _column(field, Job.status) == "dispatched"


def test_a_dispatcher_reports_for_any_job(field, make_job) -> None:
    disp = field.auth_headers("dispatcher")
    r = field.post(
        f"/jobs/{field.other_job.id}/events", {"type": "en_route", "at": DEVICE_TIME}, headers=disp
    )
    assert r.status_code == 201, r.text
    assert r.json()["job"]["assignment"]["technician_name"] == "Bruno Lima"
    unassigned = make_job(title="Nobody's yet")
    r = field.post(
        f"/jobs/{unassigned.id}/events", {"type": "en_route", "at": DEVICE_TIME}, headers=disp
    )
    assert r.status_code == 409 and r.json()["current_status"] == "open"
    r = field.post("/jobs/999999/events", {"type": "en_route", "at": DEVICE_TIME}, headers=disp)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_completed_job_resolves_its_ticket(field, assign_job) -> None:
    disp = field.auth_headers("dispatcher")
    r = field.post(
        "/customers",
        {"name": "Marie Dubois", "phone": "+33 6", "address": "x", "lat": 48.87, "lon": 2.33},
        headers=disp,
    )
    assert r.status_code == 201, r.text
    r = field.post(
        "/tickets",
        {
            "title": "No sync",
            "customer_id": r.json()["id"],
            "location": {"lat": 48.87, "lon": 2.33},
            "skills": {"fiber": 1},
            "date": field.job.date.isoformat(),
        },
        headers=disp,
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    assign_job(field.read(lambda s: s.get(Job, ticket["job_id"])), field.tech, sequence=3)
    for step in ("en_route", "on_site"):
        assert field.event(ticket["job_id"], step).status_code == 201
        assert field.get(f"/tickets/{ticket['id']}", headers=disp).json()["status"] == "scheduled"
    assert field.event(ticket["job_id"], "completed").status_code == 201
    assert field.get(f"/tickets/{ticket['id']}", headers=disp).json()["status"] == "resolved"


def test_expired_tokens_are_refused_even_after_a_first_use(field, settings) -> None:
    # Whole seconds, as the claim is stored: the first use has at least 3 s to spare on a
    # slow machine, and the second comes a full second after expiry.
    expires = int(time.time()) + 4
    token = create_token(
        subject=str(field.tech.user_id),
        secret=settings.secret_key,
        ttl_min=1,
        claims={"exp": expires},
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert field.get("/me/jobs", headers=headers).status_code == 200  # verified, remembered
    time.sleep(max(0.0, expires + 1 - time.time()))
    body = {"type": "en_route", "at": DEVICE_TIME}
    r = field.post(f"/jobs/{field.job.id}/events", body, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert _count_events(field) == 0


# -- PostgreSQL: concurrency and lost connections -------------------------------------------
@pytest.fixture
def pg_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks and the asyncio pool are PostgreSQL's")


@pytest.mark.postgres
def test_concurrent_copies_of_one_event_apply_once(pg_only, field) -> None:
    key = str(uuid.uuid4())

    def post(_i: int):
        r = field.event(field.job.id, "en_route", key=key)
        return r.status_code, r.json(), r.headers.get("Idempotent-Replay")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, range(8)))
    assert {code for code, _, _ in results} == {201}
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sum(1 for _, _, replay in results if replay != "true") == 1
    assert _count_events(field) == 1


@pytest.mark.postgres
def test_concurrent_different_events_one_wins(pg_only, field) -> None:
    def post(_i: int) -> int:
        return field.event(field.job.id, "en_route", key=str(uuid.uuid4())).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(post, range(8)))
    assert sorted(codes) == [201] + [409] * 7
    assert _count_events(field) == 1
    assert _column(field, Job.version) == field.job.version + 1


@pytest.mark.postgres
def test_connections_lost_under_the_pool_are_replaced(pg_only, field, db_url) -> None:
    assert field.event(field.job.id, "en_route").status_code == 201
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # as if the database had restarted
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    r = field.event(field.job.id, "on_site")
    assert r.status_code == 201, r.text
    assert _count_events(field) == 2


@pytest.mark.postgres
def test_a_status_event_reaches_live_listeners_in_other_processes(pg_only, field, bus) -> None:
    """The event is announced after its commit; a board attached to another server process
    (here: a bus of its own, listening on PostgreSQL) sees the job's new status."""

    async def scenario() -> list[dict]:
        sub = bus.subscribe()
        assert await asyncio.to_thread(bus.wait_listening, 10)
        loop = asyncio.get_running_loop()
        for step in ("en_route", "on_site"):
            r = await loop.run_in_executor(None, lambda s=step: field.event(field.job.id, s))
            assert r.status_code == 201, r.text
        seen = []
        while len(seen) < 2 and (ev := await sub.get(timeout=10)) is not None:
            if ev.type == "job.updated" and ev.data["job_id"] == field.job.id:
                seen.append(ev.data)
        sub.close()
        return seen

    seen = asyncio.run(scenario())
    assert [(d["status"], d["version"]) for d in seen] == [
        ("en_route", field.job.version + 1),
        ("on_site", field.job.version + 2),
    ]


@pytest.mark.postgres
def test_the_fast_lane_answers_like_the_route(pg_only, field, monkeypatch) -> None:
    """The common event is answered in front of the framework; a browser's (with an
    Origin) goes through the route. Both answers have the same shape and job body, and
    a body the lane cannot take still reaches the route whole, for its 422."""
    from fieldwork import service

    taken: list[bytes | None] = []
    fast = service.record_events_fast

    async def spy(*args, **kwargs):
        answers = await fast(*args, **kwargs)
        taken.extend(answers)
        return answers

    monkeypatch.setattr(service, "record_events_fast", spy)
    lane = field.event(field.job.id, "en_route", key=str(uuid.uuid4()))
    assert lane.status_code == 201, lane.text
    assert len(taken) == 1 and taken[0] is not None
    assert lane.headers["content-type"] == "application/json"

    browser = {**field.headers, "Origin": "https://board.example"}
    body = {"type": "en_route", "at": DEVICE_TIME}
    route = field.post(f"/jobs/{field.job2.id}/events", body, headers=browser)
    assert route.status_code == 201, route.text
    assert len(taken) == 1  # not through the lane
    a, b = lane.json(), route.json()
    assert a.keys() == b.keys() and a["job"].keys() == b["job"].keys()
    assert a["job"] == field.get(f"/jobs/{field.job.id}").json()
    assert b["job"] == field.get(f"/jobs/{field.job2.id}").json()

    r = field.event(field.job.id, "on_site", position={"lat": 91, "lon": 0})
    assert r.status_code == 422
    assert "position.lat" in r.text
    assert _column(field, Job.status) == "en_route"


@pytest.mark.postgres
def test_one_batch_answers_each_event_as_if_alone(pg_only, field, database, bus) -> None:
    """Events written together each get their own answer: a valid move is stored (with its
    key), while a refused move and someone else's job are left to the route, unwritten."""
    from core.idempotency import IdempotencyRecord
    from fieldwork import service
    from fieldwork.schemas import EventCreate

    def fast(user_id: int, job_id: int, type_: str, key: str | None = None):
        body = EventCreate.model_validate({"type": type_, "at": DEVICE_TIME})
        path = f"/api/v1/jobs/{job_id}/events"
        payload = body.model_dump(mode="json")
        return service.FastEvent(user_id, job_id, body, payload, path, key)

    mine, theirs = field.tech.user_id, field.other.user_id
    batch = [
        fast(mine, field.job.id, "en_route", key="k-1"),
        fast(mine, field.job2.id, "completed"),  # not yet on site: the route's 409
        fast(mine, field.other_job.id, "en_route"),  # not theirs: the route's 404
        fast(theirs, field.other_job.id, "en_route"),
    ]

    async def write() -> list[bytes | None]:
        try:
            return await service.record_events_fast(database, bus, batch)
        finally:
            await bus.flush()
            await database.dispose_async()

    answers = asyncio.run(write())
    assert [a is not None for a in answers] == [True, False, False, True]
    first = orjson.loads(answers[0])
    assert (first["type"], first["job"]["status"]) == ("en_route", "en_route")
    assert orjson.loads(answers[3])["job"]["id"] == field.other_job.id
    stored = field.read(
        lambda s: s.execute(select(JobEvent.job_id, JobEvent.user_id).order_by(JobEvent.id)).all()
    )
    assert [tuple(r) for r in stored] == [(field.job.id, mine), (field.other_job.id, theirs)]
    statuses = field.read(
        lambda s: dict(
            s.execute(
                select(Job.id, Job.status).where(
                    Job.id.in_([field.job.id, field.job2.id, field.other_job.id])
                )
            ).all()
        )
    )
    assert statuses == {
        field.job.id: "en_route",
        field.job2.id: field.job2.status,
        field.other_job.id: "en_route",
    }
    record = field.read(lambda s: s.scalars(select(IdempotencyRecord)).one())
    assert (record.user_id, record.key, record.response_body) == (mine, "k-1", first)
    replay = field.event(field.job.id, "en_route", key="k-1")
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replay") == "true"
    assert replay.json() == first


@pytest.mark.postgres
def test_a_locked_job_is_left_to_the_route_and_does_not_hold_up_its_batch(
    pg_only, field, database, bus, db_url
) -> None:
    """While a plan is being published (the job's row locked), that job's event goes to the
    route, which waits for the lock; the others in its batch are written at once."""
    from fieldwork import service
    from fieldwork.schemas import EventCreate

    body = EventCreate.model_validate({"type": "en_route", "at": DEVICE_TIME})
    batch = [
        service.FastEvent(
            field.tech.user_id, job.id, body, body.model_dump(mode="json"), "/x", None
        )
        for job in (field.job, field.job2)
    ]
    locker = create_engine(db_url)
    with locker.connect() as conn:
        conn.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": field.job.id})

        async def write() -> list[bytes | None]:
            try:
                return await asyncio.wait_for(
                    service.record_events_fast(database, bus, batch), timeout=10
                )
            finally:
                await bus.flush()
                await database.dispose_async()

        answers = asyncio.run(write())
        conn.rollback()
    locker.dispose()
    assert [a is not None for a in answers] == [False, True]
    assert field.event(field.job.id, "en_route").status_code == 201  # the route, once free
    assert _count_events(field) == 2

"""The demo city: 25 technicians, 3 depots, 250 open jobs for tomorrow, one optimised plan.

Built from :func:`scheduler.demo.demo_scenario` (Lyon), written through the same
services the API uses (orders and tickets create their jobs). Idempotent: running it
again on the same database adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core.db import Database
from core.settings import Settings
from crm import schemas as crm_schemas
from crm import service as crm_service
from orders import schemas as order_schemas
from orders import service as order_service
from scheduler.demo import demo_scenario
from stock import service as stock_service
from tickets import schemas as ticket_schemas
from tickets import service as ticket_service
from workforce import bridge, runs, schemas, service
from workforce.models import Job, OptimizationRun, PlanVersion, Technician, User

LOGINS = (("admin", "admin", "admin"), ("dispatcher", "dispatcher", "dispatcher"))
# The scheduler's demo SKUs, as the stock catalogue names them.
SKU_MAP = {
    "ont": "ONT-G2",
    "router": "RTR-WIFI6",
    "stb": "STB-4K",
    "drop_cable_20m": "DROP-50M",
    "splice_kit": "SPL-1x8",
}
TERRITORIES = ("centre", "east", "west", "north", "south")


def demo_date(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.timezone)).date() + dt.timedelta(days=1)


def _hhmm(seconds: int) -> dt.time:
    seconds %= 86_400
    return dt.time(seconds // 3600, (seconds % 3600) // 60)


def seed(settings: Settings, *, size: str = "medium") -> dict[str, int]:
    """Load users, technicians with vans, and tomorrow's jobs unless already there."""
    database = Database(settings.database_url)
    try:
        with database.session() as db:
            counts = _seed(db, settings, size)
            db.commit()
            return counts
    finally:
        database.dispose()


def _seed(db: Any, settings: Settings, size: str) -> dict[str, int]:
    problem, desc = demo_scenario(size, seed=0, days=1)
    rng = random.Random(0)
    counts = {"users": 0, "technicians": 0, "jobs": 0}
    for username, password, role in LOGINS:
        if service.get_user_by_username(db=db, username=username) is None:
            service.create_user(
                db=db, username=username, password=password, role=role, name=username.capitalize()
            )
            counts["users"] += 1

    depots = desc["depots"]
    depot_area = {d["name"]: TERRITORIES[k % len(TERRITORIES)] for k, d in enumerate(depots)}
    techs_by_sid: dict[str, Technician] = {}
    for k, (st, td) in enumerate(zip(problem.technicians, desc["technicians"], strict=True)):
        username = f"tech{k + 1:02d}"
        user = service.get_user_by_username(db=db, username=username)
        if user is not None and user.technician is not None:
            techs_by_sid[st.id] = user.technician
            continue
        shift = st.shifts[0]
        home = problem.points[shift.start_location]
        brk = shift.breaks[0] if shift.breaks else None
        data = schemas.TechnicianCreate(
            name=td["name"],
            username=username,
            password=username,
            skills=dict(st.skills),
            home_base=schemas.Place(lat=home.lat, lon=home.lon, address=td["depot"]),
            depot=td["depot"],
            territory=depot_area[td["depot"]],
            shift_start=_hhmm(shift.start),
            shift_end=_hhmm(shift.end),
            break_=schemas.BreakSpec(
                duration_min=brk.duration // 60,
                earliest=_hhmm(brk.earliest),
                latest=_hhmm(brk.latest),
            )
            if brk
            else None,
            max_work_min=shift.max_work // 60 if shift.max_work else None,
            working_days=[0, 1, 2, 3, 4, 5, 6],
            cost_per_hour=st.cost_per_hour,
        )
        tech = service.create_technician(db=db, data=data)
        techs_by_sid[st.id] = tech
        counts["technicians"] += 1
    db.flush()
    if counts["technicians"]:
        stock_service.seed_demo_stock(
            db,
            [t.id for t in techs_by_sid.values()],
            rng,
            depot_names=[d["name"] for d in depots],
        )

    day = demo_date(settings)
    origin = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(settings.timezone))
    first_ref = f"{day:%Y%m%d}-{problem.jobs[0].id}"
    if db.scalar(select(Job.id).where(Job.reference.endswith(first_ref))) is not None:
        return counts

    def at(seconds: int) -> dt.datetime:
        return origin + dt.timedelta(seconds=seconds)

    depot_points = [(d["name"], d["point"]) for d in depots]
    job_ids: dict[str, int] = {}
    for sj, jd in zip(problem.jobs, desc["jobs"], strict=True):
        lon, lat = jd["point"]
        nearest = min(depot_points, key=lambda d: (d[1][0] - lon) ** 2 + (d[1][1] - lat) ** 2)
        territory = depot_area[nearest[0]]
        windows = [schemas.TimeWindowIn(start=at(w.start), end=at(w.end)) for w in sj.time_windows]
        items = [schemas.ItemIn(sku=SKU_MAP.get(s, s), quantity=q) for s, q in sj.items.items()]
        location = schemas.LatLon(lat=lat, lon=lon)
        phone = (
            f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
            f"{rng.randint(10, 99)}"
        )
        reference_tail = f"{day:%Y%m%d}-{sj.id}"
        customer_id = None
        if sj.kind in ("install", "repair"):
            customer_id = crm_service.create_customer(
                db=db,
                data=crm_schemas.CustomerCreate(
                    name=jd["customer"], phone=phone, address=jd["address"], lat=lat, lon=lon
                ),
            ).id
        if sj.kind == "install":
            order = order_service.create_order(
                db=db,
                tz=settings.timezone,
                data=order_schemas.OrderCreate(
                    reference=f"OR-{reference_tail}",
                    customer_id=customer_id,
                    lines=[
                        order_schemas.OrderLineIn(
                            product=jd["description"], sku=i.sku, quantity=i.quantity
                        )
                        for i in items
                    ]
                    or [order_schemas.OrderLineIn(product=jd["description"])],
                    address=jd["address"],
                    location=location,
                    territory=territory,
                    duration_min=sj.duration // 60,
                    skills=dict(sj.skills),
                    time_windows=windows,
                    priority=sj.priority,
                    date=day,
                ),
            )
            job_ids[sj.id] = order.lines[0].job_id
        else:
            ticket = ticket_service.create_ticket(
                db=db,
                tz=settings.timezone,
                data=ticket_schemas.TicketCreate(
                    kind=sj.kind,
                    reference=f"{ticket_service.PREFIX[sj.kind]}-{reference_tail}",
                    customer_id=customer_id,
                    title=jd["description"],
                    description=jd["description"],
                    address=jd["address"],
                    location=location,
                    territory=territory,
                    priority=sj.priority,
                    sla_due=at(sj.sla_due) if sj.sla_due is not None else None,
                    duration_min=sj.duration // 60,
                    skills=dict(sj.skills),
                    time_windows=windows,
                    items=items,
                    predecessor_job_ids=[job_ids[p] for p in sj.predecessors],
                    date=day,
                ),
            )
            job_ids[sj.id] = ticket.job_id
        counts["jobs"] += 1
    return counts


def optimise_and_publish(settings: Settings, *, time_limit: float = 20.0) -> dict[str, Any] | None:
    """Run the optimiser for tomorrow and publish the plan, unless a plan is published."""
    database = Database(settings.database_url)
    day = demo_date(settings)
    try:
        # A run left behind by a killed demo must not block this one.
        runs.recover_runs(database, settings.run_stale_after_s)
        with database.session() as db:
            if service.latest_published_plan(db=db, day=day) is not None:
                print(f"A plan for {day} is already published; skipping the optimisation.")
                return None
            busy = db.scalar(
                select(OptimizationRun.id).where(
                    OptimizationRun.status.in_(("queued", "running")),
                    OptimizationRun.date_from <= day,
                    OptimizationRun.date_to >= day,
                )
            )
            if busy is not None:
                print(f"Run {busy} for {day} is still queued or running; skipping.")
                return None
            admin = service.get_user_by_username(db=db, username="dispatcher")
            run = runs.create_run(
                db=db,
                date_from=day,
                date_to=day,
                territory=None,
                technician_ids=None,
                time_limit_s=time_limit,
                user_id=admin.id if admin else None,
            )
            db.commit()
            run_id = run.id
        print(f"Optimising {day} (run {run_id}, {time_limit:.0f} s)...", flush=True)
        status = runs.execute_run(database, settings, run_id)
        with database.session() as db:
            run = db.get(OptimizationRun, run_id)
            if status != "succeeded" or run is None or run.plan_version_id is None:
                print(f"The optimisation {status}: {run.error if run else ''}")
                return None
            version = db.get(PlanVersion, run.plan_version_id)
            user = service.get_user_by_username(db=db, username="dispatcher")
            result = bridge.publish(db, version=version, user=user)
            db.commit()
            k = run.kpis or {}
            print(
                f"Published plan version {version.id}: {k.get('jobs_assigned')} jobs assigned, "
                f"{k.get('jobs_unassigned')} unassigned, travel {k.get('travel_min')} min, "
                f"utilisation {k.get('utilisation')}."
            )
            return result
    finally:
        database.dispose()


def print_logins(settings: Settings, host: str, port: int) -> None:
    database = Database(settings.database_url)
    try:
        with database.session() as db:
            n_tech = db.scalar(select(func.count()).select_from(Technician))
            n_jobs = db.scalar(
                select(func.count()).select_from(Job).where(Job.date == demo_date(settings))
            )
            n_users = db.scalar(select(func.count()).select_from(User))
    finally:
        database.dispose()
    base = f"http://{host}:{port}"
    print(
        "\n".join(
            [
                "",
                f"Demo city ready: {n_tech} technicians, {n_jobs} jobs on {demo_date(settings)}, "
                f"{n_users} logins.",
                f"  API docs:    {base}/docs",
                f"  Board:       {base}/board",
                "  Logins (username / password):",
                "    dispatcher  dispatcher / dispatcher",
                "    technician  tech01 / tech01   (tech01 .. tech25)",
                "    admin       admin / admin",
                "",
            ]
        ),
        flush=True,
    )

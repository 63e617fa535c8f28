"""Rows -> scheduler Problem: shifts minus absences, breaks, vans, territories, pins, precedence."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.settings import Settings
from stock import service as stock_service
from workforce import bridge
from workforce.models import Assignment, Job, OptimizationRun, Territory

MONDAY = dt.date(2030, 1, 7)  # a Monday, far from today


def test_build_problem_from_rows(session, settings: Settings, make_technician, make_job) -> None:
    a = make_technician(
        skills={"fiber": 3},
        territory="north",
        working_days=[0, 1, 2, 3, 4],
        absences=[{"start": "2030-01-08", "end": "2030-01-08"}],
        max_work_min=420,
    )
    b = make_technician(skills={"copper": 2}, territory="south", **{"break": None})
    off = make_technician(active=False)
    van = stock_service.ensure_van(session, technician_id=a.id)
    if stock_service.get_item_by_sku(session, sku="ONT-G2") is None:
        stock_service.create_item(session, sku="ONT-G2", name="ONT", serialized=False)
    stock_service.record_movement(
        session, kind="receipt", sku="ONT-G2", quantity=3, to_location_id=van.id, reason="test"
    )
    session.add(Territory(name="north", polygon=[[2.0, 48.0], [3.0, 48.0], [3.0, 49.5]]))
    session.commit()

    first = make_job(
        date=MONDAY,
        items=[{"sku": "ONT-G2", "quantity": 1}],
        time_windows=[{"start": "2030-01-07T08:00:00+00:00", "end": "2030-01-07T12:00:00+00:00"}],
        sla_due="2030-01-07T16:00:00+00:00",
    )
    second = make_job(date=MONDAY, predecessor_ids=[first.id])
    in_progress = make_job(date=MONDAY)
    session.add(
        Assignment(
            job_id=in_progress.id,
            technician_id=a.id,
            planned_start=dt.datetime(2030, 1, 7, 9, tzinfo=dt.UTC),
            planned_end=dt.datetime(2030, 1, 7, 10, tzinfo=dt.UTC),
        )
    )
    session.get(Job, in_progress.id).status = "on_site"
    done = make_job(date=MONDAY)
    session.get(Job, done.id).status = "completed"
    make_job(date=MONDAY + dt.timedelta(days=7))  # out of scope
    session.commit()

    run = OptimizationRun(status="running", date_from=MONDAY, date_to=MONDAY + dt.timedelta(1))
    session.add(run)
    session.commit()
    built = bridge.build_problem(session, run=run, settings=settings)
    p = built.problem
    techs = {t.id: t for t in p.technicians}
    assert set(techs) == {f"T{a.id}", f"T{b.id}"} and f"T{off.id}" not in techs
    ta, tb = techs[f"T{a.id}"], techs[f"T{b.id}"]
    assert [s.day for s in ta.shifts] == [0]  # Tuesday is an absence
    assert [s.day for s in tb.shifts] == [0, 1]
    shift = ta.shifts[0]
    assert (shift.start, shift.end) == (8 * 3600, 17 * 3600) and shift.max_work == 420 * 60
    assert shift.breaks[0].duration == 1800 and shift.breaks[0].earliest == 12 * 3600
    assert tb.shifts[0].breaks == ()
    assert ta.stock == {"ONT-G2": 3} and tb.stock is None  # b has no van: not tracked
    assert ta.territory is not None and len(ta.territory) == 3 and tb.territory is None
    assert dict(ta.skills) == {"fiber": 3}

    jobs = {j.id: j for j in p.jobs}
    assert set(jobs) == {f"J{first.id}", f"J{second.id}", f"J{in_progress.id}"}
    j1 = jobs[f"J{first.id}"]
    assert j1.time_windows[0].start == 8 * 3600 and j1.sla_due == 16 * 3600
    assert dict(j1.items) == {"ONT-G2": 1} and j1.duration == 3600
    assert jobs[f"J{second.id}"].predecessors == (f"J{first.id}",)
    pinned = jobs[f"J{in_progress.id}"]
    assert pinned.pinned_technician == f"T{a.id}" and pinned.pinned_start == 9 * 3600
    assert p.durations.shape == (5, 5) and p.durations[0, 3] > 0
    assert built.job_versions[first.id] == session.get(Job, first.id).version

    # Territory and technician scopes narrow both sides.
    run.territory = "south"
    built = bridge.build_problem(session, run=run, settings=settings)
    assert [t.id for t in built.problem.technicians] == [f"T{b.id}"]
    assert built.problem.jobs == ()
    run.territory, run.technician_ids = None, [b.id]
    built = bridge.build_problem(session, run=run, settings=settings)
    # The in-progress job of a (out of scope) stays with a; open jobs are in.
    assert {j.id for j in built.problem.jobs} == {f"J{first.id}", f"J{second.id}"}
    assert session.scalar(select(Job.status).where(Job.id == done.id)) == "completed"


def test_timezone_offsets_apply(session, settings: Settings, make_technician, make_job) -> None:
    paris = settings.model_copy(update={"timezone": "Europe/Paris"})
    make_technician()
    make_job(
        date=MONDAY,
        time_windows=[{"start": "2030-01-07T08:00:00+01:00", "end": "2030-01-07T10:00:00+01:00"}],
    )
    run = OptimizationRun(status="running", date_from=MONDAY, date_to=MONDAY)
    session.add(run)
    session.commit()
    built = bridge.build_problem(session, run=run, settings=paris)
    assert built.origin == dt.datetime(2030, 1, 6, 23, tzinfo=dt.UTC)
    assert built.problem.jobs[0].time_windows[0].start == 8 * 3600
    assert built.problem.technicians[0].shifts[0].start == 8 * 3600

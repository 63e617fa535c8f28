"""The verifier catches hand-broken plans, one rule at a time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sched_helpers import H, M, problem, run, shift, tech

from scheduler import Break, Job, Plan, PlannedBreak, Point, Route, TimeWindow, Unassigned, verify
from scheduler.model import Reason

WEST = ((4.70, 45.70), (4.90, 45.70), (4.90, 45.80), (4.70, 45.80))


@pytest.fixture(scope="module")
def solved():
    """Two technicians, four jobs, lunch, stock, territory, a pin and a precedence."""
    lunch = Break(30 * M, 12 * H, 13 * H)
    a = tech(
        "A",
        0,
        {"fiber": 3},
        shifts=(shift(loc=0, breaks=(lunch,), max_work=8 * H),),
        stock={"ont": 2},
        territory=WEST,
    )
    b = tech("B", 5, {"fiber": 1, "copper": 2}, shifts=(shift(loc=5, breaks=(lunch,)),))
    jobs = [
        Job("f1", 1, 2 * H, skills={"fiber": 3}, items={"ont": 1}),
        Job("f2", 2, 2 * H, skills={"fiber": 2}, predecessors=("f1",)),
        Job("c1", 3, H, skills={"copper": 2}, time_windows=(TimeWindow(9 * H, 11 * H),)),
        Job("c2", 4, H, skills={"copper": 1}, pinned_technician="B", pinned_start=14 * H),
    ]
    pts = [Point(4.80 + 0.01 * k, 45.75) for k in range(6)]
    p = problem([a, b], jobs, [0, 5, 10, 40, 45, 50], points=pts)
    plan = run(p, time_limit=1.0)
    assert plan.kpis.jobs_assigned == 4
    return p, plan


def _route(plan: Plan, tid: str) -> tuple[int, Route]:
    for k, r in enumerate(plan.routes):
        if r.technician_id == tid:
            return k, r
    raise AssertionError(tid)


def _swap_route(plan: Plan, k: int, route: Route) -> Plan:
    routes = list(plan.routes)
    routes[k] = route
    return replace(plan, routes=tuple(routes))


def _with_visit(plan: Plan, job_id: str, **changes) -> Plan:
    for k, r in enumerate(plan.routes):
        vs = list(r.visits)
        for i, v in enumerate(vs):
            if v.job_id == job_id:
                vs[i] = replace(v, **changes)
                return _swap_route(plan, k, replace(r, visits=tuple(vs)))
    raise AssertionError(job_id)


def _rules(p, plan) -> set[str]:
    return {v.rule for v in verify(p, plan)}


def test_clean_plan_passes(solved):
    p, plan = solved
    assert verify(p, plan) == []


def test_start_before_arrival(solved):
    p, plan = solved
    v = next(v for r in plan.routes for v in r.visits if v.job_id == "c1")
    bad = _with_visit(plan, "c1", start=v.start - 3 * H, end=v.end - 3 * H)
    assert "time" in _rules(p, bad) or "time_window" in _rules(p, bad)


def test_time_window(solved):
    p, plan = solved
    # c1 must start by 11:00; move its visit to 11:30 (nothing else on B is then).
    bad = _with_visit(
        plan, "c1", arrival=11 * H + 30 * M, wait=0, start=11 * H + 30 * M, end=12 * H + 30 * M
    )
    assert "time_window" in _rules(p, bad)


def test_shift_end(solved):
    p, plan = solved
    k, r = _route(plan, "A")
    assert "shift" in _rules(p, _swap_route(plan, k, replace(r, end=18 * H)))


def test_missing_break(solved):
    p, plan = solved
    k, r = _route(plan, "A")
    assert "break" in _rules(p, _swap_route(plan, k, replace(r, breaks=())))


def test_break_outside_window(solved):
    p, plan = solved
    k, r = _route(plan, "A")
    late = (PlannedBreak(15 * H, 15 * H + 30 * M),)
    assert "break" in _rules(p, _swap_route(plan, k, replace(r, breaks=late)))


def test_break_overlapping_a_visit(solved):
    p, plan = solved
    k, r = _route(plan, "A")
    v = r.visits[0]
    inside = (PlannedBreak(v.start + 60, v.start + 60 + 30 * M),)
    assert "break" in _rules(p, _swap_route(plan, k, replace(r, breaks=inside)))


def test_max_work(solved):
    p, plan = solved
    tight = replace(p.technicians[0].shifts[0], max_work=H)
    p2 = replace(p, technicians=(replace(p.technicians[0], shifts=(tight,)), p.technicians[1]))
    assert "max_work" in _rules(p2, plan)


def test_skill(solved):
    p, plan = solved
    jobs = tuple(replace(j, skills={"radio": 1}) if j.id == "c1" else j for j in p.jobs)
    assert "skill" in _rules(replace(p, jobs=jobs), plan)


def test_skill_level(solved):
    p, plan = solved
    jobs = tuple(replace(j, skills={"copper": 5}) if j.id == "c1" else j for j in p.jobs)
    assert "skill_level" in _rules(replace(p, jobs=jobs), plan)


def test_stock(solved):
    p, plan = solved
    jobs = tuple(replace(j, items={"ont": 3}) if j.id == "f1" else j for j in p.jobs)
    assert "stock" in _rules(replace(p, jobs=jobs), plan)


def test_territory(solved):
    p, plan = solved
    pts = list(p.points)
    pts[1] = Point(5.2, 45.75)  # f1 moves east, out of A's territory
    assert "territory" in _rules(replace(p, points=tuple(pts)), plan)


def test_pinned(solved):
    p, plan = solved
    bad = _with_visit(plan, "c2", start=14 * H + 60, end=15 * H + 60)
    assert "pinned" in _rules(p, bad)


def test_precedence(solved):
    p, plan = solved
    jobs = tuple(replace(j, predecessors=("f2",)) if j.id == "f1" else j for j in p.jobs)
    jobs = tuple(replace(j, predecessors=()) if j.id == "f2" else j for j in jobs)
    assert "precedence" in _rules(replace(p, jobs=jobs), plan)


def test_job_twice(solved):
    p, plan = solved
    k, r = _route(plan, "A")
    twice = replace(r, visits=(*r.visits, r.visits[0]))
    assert "once" in _rules(p, _swap_route(plan, k, twice))


def test_job_missing_and_unknown(solved):
    p, plan = solved
    k, r = _route(plan, "A")
    dropped = _swap_route(plan, k, replace(r, visits=r.visits[1:]))
    assert "missing" in _rules(p, dropped)
    ghost = replace(plan, unassigned=(Unassigned("nope", Reason.CAPACITY, "x"),))
    assert "unknown" in _rules(p, ghost)


def test_wrong_travel(solved):
    p, plan = solved
    k, r = _route(plan, "B")
    assert "time" in _rules(p, _swap_route(plan, k, replace(r, travel=r.travel + 1)))

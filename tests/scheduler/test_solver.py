"""solve() as a whole: input errors, progress, search paths, multi-day, workers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sched_helpers import H, M, problem, run, tech

from scheduler import Job, Objective, Problem, SolveParams, demo_problem, solve, verify
from scheduler import search as search_mod


def test_bad_input_names_the_field():
    good = problem([tech("A")], [Job("j", 1, H)], [0, 1])
    with pytest.raises(ValueError, match="job j: duration"):
        solve(replace(good, jobs=(Job("j", 1, -5),)), SolveParams(time_limit=0.5))
    with pytest.raises(ValueError, match="job j location"):
        solve(replace(good, jobs=(Job("j", 7, H),)), SolveParams(time_limit=0.5))
    with pytest.raises(ValueError, match="time_limit"):
        solve(good, SolveParams(time_limit=0))
    with pytest.raises(ValueError, match="durations must be a square"):
        solve(Problem(good.technicians, good.jobs, np.zeros((2, 3))), SolveParams(time_limit=1))
    with pytest.raises(ValueError, match="appears twice"):
        solve(replace(good, jobs=(Job("j", 1, H), Job("j", 1, H))), SolveParams(time_limit=1))
    with pytest.raises(ValueError, match="first_solution"):
        solve(good, SolveParams(time_limit=1, first_solution="magic"))


def test_empty_problem():
    plan = run(problem([tech("A")], [], [0]))
    assert plan.routes == ()
    assert plan.kpis.jobs_assigned == 0


def test_progress_is_reported():
    calls: list[tuple[float, float | None]] = []
    p = demo_problem("small", seed=1)
    plan = solve(p, SolveParams(time_limit=1.5), progress=lambda f, c: calls.append((f, c)))
    assert verify(p, plan) == []
    assert len(calls) >= 2
    assert all(0.0 <= f <= 1.0 for f, _ in calls)
    assert calls[-1][0] == 1.0
    assert plan.stats["wall_time"] < 5
    assert {"objective", "seed", "solutions", "jobs_to_solver"} <= set(plan.stats)


@pytest.mark.parametrize("first", ["construct", "ortools"])
def test_first_solution_kinds_give_valid_plans(first):
    p = demo_problem("small", seed=2)
    plan = solve(p, SolveParams(time_limit=1.5, first_solution=first))
    assert verify(p, plan) == []
    assert plan.stats["first_solution"] == first
    assert plan.kpis.jobs_assigned > 25


def test_python_only_path_is_valid(monkeypatch):
    # The path used on very large days (no OR-Tools model) on a small one.
    monkeypatch.setattr(search_mod, "PYTHON_ONLY_SIZE", 0)
    p = demo_problem("small", seed=3, days=2)
    plan = solve(p, SolveParams(time_limit=1.5))
    assert verify(p, plan) == []
    assert plan.stats.get("build_time") is None  # the model was never built
    assert plan.kpis.jobs_assigned > 40


def test_two_days_with_construction_phases():
    p = demo_problem("small", seed=4, days=2)
    plan = solve(p, SolveParams(time_limit=2.5))
    assert verify(p, plan) == []
    assert {r.day for r in plan.routes} == {0, 1}
    served = {v.job_id for r in plan.routes for v in r.visits}
    assert any(j.predecessors and j.id in served for j in p.jobs)


def test_two_workers():
    p = demo_problem("small", seed=5)
    plan = solve(p, SolveParams(time_limit=1.5, workers=2))
    assert verify(p, plan) == []
    assert plan.stats["workers"] == 2
    assert len(plan.stats["worker_objectives"]) == 2


def test_same_seed_same_plan_when_search_is_short():
    # Tiny problem, OR-Tools only: deterministic for a seed.
    jobs = [Job(f"j{k}", 1 + k, 30 * M, priority=10 * k) for k in range(4)]
    p = problem([tech("A"), tech("B", 5)], jobs, [0, 3, 6, 9, 12, 15])
    a, b = run(p, time_limit=0.3), run(p, time_limit=0.3)
    assert [[v.job_id for v in r.visits] for r in a.routes] == [
        [v.job_id for v in r.visits] for r in b.routes
    ]


def test_fleet_search_empties_routes():
    # Six 2 h jobs near the depot, 9 h shifts: two routes can hold them all. The fleet
    # search of a second worker starts from one job per technician and must get there.
    from scheduler.adapter import Instance, make_slots
    from scheduler.construct import fast_feasible
    from scheduler.lns import Lns

    jobs = [Job(f"j{k}", 1 + k % 2, 2 * H) for k in range(6)]
    p = problem([tech(t) for t in "ABCDEF"], jobs, [0, 1, 2])
    slots = make_slots(p)
    params = SolveParams(objective=Objective.DISTANCE, seed=3)
    lns = Lns(Instance(p, params, slots, jobs, [list(range(6))] * 6), fleet=True)
    start = [[k] for k in range(6)]
    routes, counters = lns.run(start, 1.0)
    assert sorted(k for r in routes for k in r) == list(range(6))
    assert counters["fleet_routes"] == sum(1 for r in routes if r) == 2
    assert all(
        fast_feasible([jobs[k] for k in r], slots[v], p.durations) for v, r in enumerate(routes)
    )
    assert not lns.closed.any() and lns.fail is None  # as before, for the next caller

"""Each soft objective bites, and the unpenalised contrast does not."""

from __future__ import annotations

import numpy as np
import pytest
from sched_helpers import H, M, problem, run, shift, tech, visit, where

from scheduler import Job, Objective, Problem, TimeWindow, Weights


def _one_slot_two_jobs(prio_far: int, prio_near: int):
    # A 2 h shift: only one of the two 90 min jobs fits. The near one is cheaper.
    a = tech("A", shifts=(shift(start=8 * H, end=10 * H),))
    jobs = [Job("near", 1, 90 * M, priority=prio_near), Job("far", 2, 90 * M, priority=prio_far)]
    return problem([a], jobs, [0, 2, 10])


def test_priority_drops_the_least_important_job():
    plan = run(_one_slot_two_jobs(prio_far=90, prio_near=10))
    assert where(plan, "far") == "A"
    assert where(plan, "near") is None


def test_equal_priority_keeps_the_cheaper_job():
    plan = run(_one_slot_two_jobs(prio_far=50, prio_near=50))
    assert where(plan, "near") == "A"


def _sla_problem():
    # One-way streets: easy -> urgent is quick, urgent -> easy is slow. The cheapest
    # order (easy first) reaches "urgent" (due 9:00) late; the SLA pulls it to the front.
    jobs = [
        Job("easy", 1, 60 * M, priority=50),
        Job("urgent", 2, 30 * M, priority=90, sla_due=9 * H),
    ]
    minutes = np.array([[0, 5, 20], [5, 0, 15], [20, 40, 0]]) * M
    return Problem((tech("A"),), tuple(jobs), minutes)


def test_sla_lateness_is_avoided():
    plan = run(_sla_problem())
    assert visit(plan, "urgent").late == 0
    assert plan.kpis.sla_late_count == 0


def test_without_sla_weight_the_job_is_late():
    plan = run(_sla_problem(), weights=Weights(sla_late_per_minute=0.0))
    assert visit(plan, "urgent").late > 0
    assert plan.kpis.sla_late_count == 1


def test_sla_penalty_grows_with_priority():
    # Both due at 9:00, only one can make it: the higher priority one is on time.
    jobs = [
        Job("low", 1, 50 * M, priority=10, sla_due=9 * H),
        Job("high", 2, 50 * M, priority=95, sla_due=9 * H),
    ]
    plan = run(problem([tech("A")], jobs, [0, 5, 6]))
    assert visit(plan, "high").late == 0
    assert visit(plan, "low").late > 0


def test_travel_is_minimised():
    jobs = [Job(k, i, 20 * M) for i, k in ((1, "a"), (2, "b"), (3, "c"))]
    plan = run(problem([tech("A")], jobs, [0, 10, 20, 30]))
    assert plan.kpis.travel_time == 60 * M  # out along the line and back


def _preferred(weight: float):
    # The job is a little closer to A but prefers B.
    a, b = tech("A", 0), tech("B", 2)
    job = Job("j", 1, 30 * M, preferred_technicians=("B",))
    return run(problem([a, b], [job], [0, 6, 15]), weights=Weights(preferred_technician=weight))


def test_preferred_technician_bites():
    assert where(_preferred(600.0), "j") == "B"


def test_preferred_technician_ignored_without_weight():
    assert where(_preferred(0.0), "j") == "A"


def _balance(weight: float):
    # Four jobs in a far cluster: one technician doing all is the least travel.
    techs = [tech("A"), tech("B")]
    jobs = [Job(f"j{k}", 1 + k, 60 * M) for k in range(4)]
    plan = run(problem(techs, jobs, [0, 60, 61, 62, 63]), weights=Weights(balance=weight))
    return sorted(len(r.visits) for r in plan.routes)


def test_balance_splits_the_work():
    assert _balance(5.0) == [2, 2]


def test_without_balance_one_technician_takes_all():
    assert _balance(0.0) == [4]


def test_vroom_objective_prefers_priority_then_count():
    # Either the 80-priority job alone or the two 30s: 80 > 60 wins in VROOM mode.
    a = tech("A", shifts=(shift(start=8 * H, end=10 * H),))
    jobs = [
        Job("big", 1, 100 * M, priority=80),
        Job("s1", 2, 50 * M, priority=30),
        Job("s2", 2, 50 * M, priority=30),
    ]
    plan = run(problem([a], jobs, [0, 1, 2]), objective=Objective.VROOM)
    assert where(plan, "big") == "A"
    assert plan.kpis.priority_assigned == 80


def test_distance_objective_serves_everything_even_if_far():
    jobs = [
        Job("near", 1, 10 * M),
        Job("far", 2, 10 * M, time_windows=(TimeWindow(8 * H, 16 * H),)),
    ]
    plan = run(problem([tech("A")], jobs, [0, 1, 200]), objective=Objective.DISTANCE)
    assert plan.kpis.jobs_assigned == 2


@pytest.mark.parametrize(("weight", "expected"), [(600.0, "B"), (0.0, "A")])
def test_preferred_technician_in_the_large_neighbourhood_search(weight, expected):
    # Ten jobs (enough for the LNS path); "p" is cheaper for A (+6 min) than for B
    # (8 min round trip) but prefers B.
    jobs = [Job(f"j{k}", 1 + k % 3, 20 * M) for k in range(9)]
    jobs.append(Job("p", 4, 20 * M, preferred_technicians=("B",)))
    p = problem([tech("A", 0), tech("B", 5)], jobs, [0, 1, 2, 3, 6, 10])
    plan = run(p, time_limit=1.0, weights=Weights(preferred_technician=weight))
    assert plan.stats["first_solution"] == "construct"
    assert where(plan, "p") == expected

"""``solve(problem, params) -> Plan``: pre-check, search, read back, explain.

The steps: validate the input; test every job alone (:mod:`scheduler.reasons`);
hand the servable jobs to the OR-Tools model (:mod:`scheduler.adapter`) and the
search (:mod:`scheduler.search`); turn the best assignment into routes with
arrival, wait, start, end, travel and breaks; explain every job left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .adapter import Instance, RawRoute, Slot, make_slots
from .model import (
    Job,
    KPIs,
    Objective,
    Plan,
    PlannedBreak,
    Problem,
    Reason,
    Route,
    SolveParams,
    Unassigned,
    Visit,
    validate_problem,
)
from .reasons import capacity_reasons, precheck

Progress = Callable[[float, float | None], None]

# Share of the time limit kept back for reading the plan and explaining left-out jobs
# (the search gets the rest), and its cap in seconds.
POST_SHARE = 0.08
POST_CAP_S = 5.0


def solve(
    problem: Problem, params: SolveParams | None = None, progress: Progress | None = None
) -> Plan:
    """Plan ``problem`` within ``params.time_limit`` seconds (see the module docstring)."""
    params = params or SolveParams()
    if not params.time_limit > 0:
        raise ValueError(f"time_limit must be > 0, got {params.time_limit}")
    if params.first_solution not in ("auto", "construct", "ortools"):
        raise ValueError(
            f"first_solution must be auto, construct or ortools, got {params.first_solution!r}"
        )
    if params.workers < 1:
        raise ValueError(f"workers must be >= 1, got {params.workers}")
    validate_problem(problem)
    t0 = time.monotonic()
    slots = make_slots(problem)
    pre = precheck(problem, slots)
    jobs = [j for j in problem.jobs if j.id in pre.allowed]
    pos = {j.id: k for k, j in enumerate(jobs)}
    preds = [(pos[p], pos[j.id]) for j in jobs for p in j.predecessors if p in pos]
    allowed = [pre.allowed[j.id] for j in jobs]
    post = min(POST_CAP_S, params.time_limit * POST_SHARE)
    budget = max(0.2, params.time_limit - (time.monotonic() - t0) - post)

    stats: dict[str, Any] = {
        "seed": params.seed,
        "objective_kind": params.objective.value,
        "jobs_to_solver": len(jobs),
        "vehicles": len(slots),
        "precheck_time": round(time.monotonic() - t0, 3),
    }
    raw: list[RawRoute] = []
    status = "optimal"
    if jobs and slots:
        from .search import run_search

        inst = Instance(problem, params, slots, jobs, allowed, preds)
        result = run_search(inst, budget, progress)
        raw, status = result.routes, result.status
        stats.update(result.stats)
    explain = max(0.05, min(POST_CAP_S, params.time_limit - (time.monotonic() - t0)))
    plan = build_plan(
        problem, params, slots, jobs, raw, pre.unassigned, pre.allowed, status, explain
    )
    wall = time.monotonic() - t0
    plan_stats = dict(plan.stats)
    plan_stats.update(stats)
    plan_stats["wall_time"] = round(wall, 3)
    if progress is not None:
        progress(1.0, plan_stats.get("objective"))
    return Plan(plan.routes, plan.unassigned, plan.kpis, plan.status, plan_stats)


def _gap_arrival(depart: int, travel: int, breaks: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(arrival, time ready) driving ``travel`` from ``depart`` with fixed ``breaks`` on the way."""
    cur, rem, arrival = depart, travel, None
    for bs, be in breaks:
        if arrival is None and bs >= cur + rem:
            arrival = cur + rem
            rem = 0
        elif arrival is None:
            rem -= max(0, bs - cur)
        cur = max(cur, be)
    if arrival is None:
        arrival = cur + rem
        return arrival, arrival
    return arrival, max(cur, arrival)


def build_plan(
    problem: Problem,
    params: SolveParams,
    slots: Sequence[Slot],
    jobs: Sequence[Job],
    raw: Sequence[RawRoute],
    pre_unassigned: dict[str, Unassigned],
    allowed: dict[str, list[int]],
    status: str,
    explain_s: float = POST_CAP_S,
) -> Plan:
    """Routes with every time derived from the solver's starts and breaks; KPIs; reasons."""
    dur = problem.durations
    costs = np.asarray(problem.costs if problem.costs is not None else problem.durations)
    routes: list[Route] = []
    served: set[str] = set()
    per_slot: list[list[Job]] = [[] for _ in slots]
    travel_cost = 0.0
    late_count, late_s, service, travel_total, avail = 0, 0, 0, 0, 0
    for rr in raw:
        if not rr.jobs:
            continue
        slot = slots[rr.vehicle]
        sh = slot.shift
        seq = [jobs[k] for k in rr.jobs]
        per_slot[rr.vehicle] = seq
        brs = sorted(rr.breaks)
        visits: list[Visit] = []
        prev_loc, prev_end = sh.start_location, rr.start
        # Leave as late as the first stop allows (no idle time at the first door) unless a
        # break comes first.
        first_leg = int(dur[prev_loc, seq[0].location])
        if not brs or brs[0][0] >= rr.starts[0]:
            prev_end = max(rr.start, min(rr.starts[0] - first_leg, sh.end))
        route_start = prev_end
        total_travel = 0
        for job, start in zip(seq, rr.starts, strict=True):
            leg = int(dur[prev_loc, job.location])
            gap = [b for b in brs if b[0] >= prev_end and b[1] <= start]
            arrival, ready = _gap_arrival(prev_end, leg, gap)
            wait = max(0, start - arrival - sum(be - bs for bs, be in gap if bs >= arrival))
            end = start + job.duration
            late = max(0, end - job.sla_due) if job.sla_due is not None else 0
            visits.append(Visit(job.id, arrival, wait, start, end, leg, late))
            travel_cost += float(costs[prev_loc, job.location])
            total_travel += leg
            served.add(job.id)
            service += job.duration
            if late:
                late_count += 1
                late_s += late
            prev_loc, prev_end = job.location, end
        leg = int(dur[prev_loc, sh.end_location])
        gap = [b for b in brs if b[0] >= prev_end]
        arrival, ready = _gap_arrival(prev_end, leg, gap)
        travel_cost += float(costs[prev_loc, sh.end_location])
        total_travel += leg
        travel_total += total_travel
        avail += (sh.end - sh.start) - sum(b.duration for b in sh.breaks)
        routes.append(
            Route(
                slot.tech.id,
                sh.day,
                tuple(visits),
                tuple(PlannedBreak(a, b) for a, b in brs),
                route_start,
                ready,
                total_travel,
            )
        )
    unassigned = [pre_unassigned[j.id] for j in problem.jobs if j.id in pre_unassigned]
    left = [j for j in jobs if j.id not in served]
    # Successors of a predecessor left out are PRECEDENCE, the rest CAPACITY.
    left_ids = {j.id for j in left} | set(pre_unassigned)
    cap_jobs = []
    for j in left:
        blocked = [p for p in j.predecessors if p in left_ids]
        if blocked:
            unassigned.append(
                Unassigned(j.id, Reason.PRECEDENCE, f"predecessor {blocked[0]} is not in the plan")
            )
        else:
            cap_jobs.append(j)
    unassigned += capacity_reasons(problem, slots, per_slot, cap_jobs, allowed, explain_s)
    order = {j.id: k for k, j in enumerate(problem.jobs)}
    unassigned.sort(key=lambda u: order[u.job_id])
    assigned = [j for j in problem.jobs if j.id in served]
    kpis = KPIs(
        jobs_assigned=len(assigned),
        jobs_unassigned=len(unassigned),
        priority_assigned=sum(j.priority for j in assigned),
        priority_total=sum(j.priority for j in problem.jobs),
        travel_time=travel_total,
        service_time=service,
        utilisation=round((service + travel_total) / avail, 4) if avail else 0.0,
        sla_late_count=late_count,
        sla_late_minutes=round(late_s / 60, 2),
        travel_cost=round(travel_cost, 3),
    )
    if not problem.jobs:
        status = "optimal"
    return Plan(
        tuple(routes), tuple(unassigned), kpis, status, {"objective_kind": params.objective.value}
    )


def vroom_score(plan: Plan) -> tuple[int, int, float]:
    """VROOM's lexicographic score: (priority sum, jobs, -travel cost); higher is better."""
    k = plan.kpis
    return (k.priority_assigned, k.jobs_assigned, -k.travel_cost)


__all__ = ["Objective", "build_plan", "solve", "vroom_score"]

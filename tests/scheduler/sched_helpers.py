"""Small hand-made problems for the scheduler tests.

Places are points on a line of minutes: ``xs[i]`` is place i's position, travel
between places takes ``|xs[i] - xs[j]|`` minutes. Times are seconds from midnight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scheduler import (
    Break,
    Job,
    Objective,
    Plan,
    Point,
    Problem,
    Shift,
    SolveParams,
    Technician,
    Weights,
    solve,
    verify,
)

H = 3600
M = 60


def line(xs: Sequence[float]) -> np.ndarray:
    x = np.asarray(xs, dtype=float)
    return np.rint(np.abs(x[:, None] - x[None, :]) * M).astype(np.int64)


def shift(
    day: int = 0,
    start: int = 8 * H,
    end: int = 17 * H,
    loc: int = 0,
    breaks: Sequence[Break] = (),
    max_work: int | None = None,
) -> Shift:
    o = day * 86_400
    return Shift(day, o + start, o + end, loc, loc, tuple(breaks), max_work)


def tech(
    tid: str,
    loc: int = 0,
    skills: dict[str, int] | None = None,
    **kw,
) -> Technician:
    shifts = kw.pop("shifts", None) or (shift(loc=loc),)
    return Technician(id=tid, shifts=tuple(shifts), skills=skills or {}, **kw)


def problem(
    techs: Sequence[Technician],
    jobs: Sequence[Job],
    xs: Sequence[float],
    points: Sequence[Point] | None = None,
) -> Problem:
    return Problem(tuple(techs), tuple(jobs), line(xs), points=tuple(points) if points else None)


def run(
    p: Problem,
    time_limit: float = 0.6,
    objective: Objective = Objective.FIELD,
    weights: Weights | None = None,
) -> Plan:
    """Solve and insist the verifier finds nothing wrong."""
    params = SolveParams(
        time_limit=time_limit, objective=objective, weights=weights or Weights(), seed=1
    )
    plan = solve(p, params)
    problems = verify(p, plan)
    assert problems == [], problems
    return plan


def where(plan: Plan, job_id: str) -> str | None:
    """Technician serving ``job_id``, or None."""
    for r in plan.routes:
        if any(v.job_id == job_id for v in r.visits):
            return r.technician_id
    return None


def visit(plan: Plan, job_id: str):
    for r in plan.routes:
        for v in r.visits:
            if v.job_id == job_id:
                return v
    raise AssertionError(f"{job_id} not planned")


def reason(plan: Plan, job_id: str):
    for u in plan.unassigned:
        if u.job_id == job_id:
            return u
    raise AssertionError(f"{job_id} is planned")

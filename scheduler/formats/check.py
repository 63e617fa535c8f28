"""Score a solution from its routes alone, recomputing every time from scratch.

A solution is, per route, a vehicle and the order of its job and break ids. The
rules are those of the field-service benchmark's checker (and VROOM's):

- a route leaves at its shift start; a job starts at max(arrival, window start) and
  must not arrive after its window end (with several windows, the first one whose
  end is not passed);
- a break has no place and starts within its window; while waiting for that window
  to open the vehicle may already drive towards the next stop;
- the vehicle is back at its end place by the shift end (an open route ends after
  its last step);
- the vehicle has every skill the job needs; a route's summed delivery fits the
  capacity; each job is done at most once; a used vehicle takes all its breaks.

The score is ``[priority_sum_assigned, assigned, -total_travel]``, compared
lexicographically (VROOM's own objective).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import FormatError
from .instance import BreakSpec, Id, Instance, JobSpec, Number, VehicleSpec, Window


@dataclass(frozen=True)
class Step:
    """One timed step of a recomputed route."""

    type: str  # start, job, break, end
    id: Id | None
    location: int | None
    arrival: Number
    waiting: Number
    start: Number  # when service (or the break) begins
    service: Number
    travel_before: Number  # cumulative travel up to this step
    load: tuple[int, ...]


@dataclass(frozen=True)
class RouteReport:
    vehicle: Id
    steps: tuple[Step, ...]
    travel: Number
    cost: Number
    distance: Number | None
    service: Number  # jobs and breaks
    waiting: Number
    priority: int
    delivery: tuple[int, ...]
    job_ids: tuple[Id, ...]


@dataclass
class Report:
    """The checker's verdict on a whole solution."""

    routes: list[RouteReport] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    assigned: int = 0
    unassigned: int = 0
    priority_sum: int = 0
    travel: Number = 0
    service: Number = 0  # jobs only
    waiting: Number = 0
    cost: Number = 0
    distance: Number | None = None

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def score(self) -> list[Number]:
        return [self.priority_sum, self.assigned, -self.travel]

    def as_dict(self) -> dict[str, Any]:
        """Same shape as the benchmark checker's report (``*.vroom.check.json``)."""
        out: dict[str, Any] = {
            "feasible": self.feasible,
            "n_violations": len(self.violations),
            "violations": list(self.violations),
            "assigned": self.assigned,
            "unassigned": self.unassigned,
            "priority_sum_assigned": self.priority_sum,
            "total_travel_s": self.travel,
            "total_service_s": self.service,
            "total_waiting_s": self.waiting,
            "vehicles_used": len(self.routes),
            "score": self.score,
        }
        if self.distance is not None:
            out["distance"] = self.distance
        return out


RouteOrder = tuple[Id, Sequence[tuple[str, Id]]]  # (vehicle id, [("job"|"break", id), ...])


def _window_for(t: Number, windows: Sequence[Window], tol: float) -> Window | None:
    """The first window whose end is not passed at ``t``, or None."""
    for w in windows:
        if t <= w[1] + tol:
            return w
    return None


def simulate(
    inst: Instance,
    vehicle: VehicleSpec,
    order: Sequence[tuple[str, Id]],
    jobs: Mapping[Id, JobSpec] | None = None,
) -> tuple[RouteReport, list[str]]:
    """Time one route; returns its report and the rule violations found on it.

    ``jobs`` (id -> job) saves rebuilding the index for every route of a large plan.
    """
    tol = inst.tolerance
    if jobs is None:
        jobs = {j.id: j for j in inst.jobs}
    breaks = {b.id: b for b in vehicle.breaks}
    name = f"vehicle {vehicle.id}"
    problems: list[str] = []
    dims = len(vehicle.capacity) if vehicle.capacity is not None else 0
    route_jobs: list[JobSpec] = []
    for kind, ident in order:
        if kind == "job" and ident in jobs:
            route_jobs.append(jobs[ident])
    dims = max([dims, *(len(j.delivery) for j in route_jobs)])
    load = [0] * dims
    for j in route_jobs:
        for k, q in enumerate(j.delivery):
            load[k] += q

    t: Number = vehicle.window[0] if vehicle.window is not None else 0
    loc = vehicle.start
    travel: Number = 0
    cost: Number = 0
    dist: Number | None = 0 if inst.distances is not None else None
    service: Number = 0
    waiting: Number = 0
    priority = 0
    steps: list[Step] = []
    if vehicle.start is not None:
        steps.append(Step("start", None, loc, t, 0, t, 0, 0, tuple(load)))
    pending: list[BreakSpec] = []
    seen_breaks: set[Id] = set()

    def leg(dest: int | None) -> Number:
        nonlocal cost, dist
        if loc is None or dest is None:
            return 0
        cost += inst.costs[loc, dest].item()
        if dist is not None and inst.distances is not None:
            dist += inst.distances[loc, dest].item()
        return inst.durations[loc, dest].item()

    def drive(d: Number) -> Number:
        """Take the pending breaks on the way; returns the arrival time at the next stop."""
        nonlocal t, service, waiting
        remaining = d
        for b in pending:
            w = _window_for(t, b.windows, tol) if b.windows else (t, t)
            if w is None:
                last = b.windows[-1][1]
                problems.append(f"{name}: break {b.id} starts at {t} after its window end {last}")
                w = (t, t)
            begin = max(t, w[0])
            drove = min(remaining, begin - t)
            remaining -= drove
            arrival = t + drove
            steps.append(
                Step(
                    "break",
                    b.id,
                    None,
                    arrival,
                    begin - arrival,
                    begin,
                    b.service,
                    travel_done + drove,
                    tuple(load),
                )
            )
            service += b.service
            t = begin + b.service
        pending.clear()
        return t + remaining

    travel_done: Number = 0
    for kind, ident in order:
        if kind == "break":
            if ident not in breaks:
                problems.append(f"{name}: unknown break id {ident}")
                continue
            if ident in seen_breaks:
                problems.append(f"{name}: break {ident} taken twice")
                continue
            seen_breaks.add(ident)
            pending.append(breaks[ident])
            continue
        if kind != "job":
            problems.append(f"{name}: unsupported step type {kind!r}")
            continue
        job = jobs.get(ident)
        if job is None:
            problems.append(f"{name}: unknown job id {ident}")
            continue
        d = leg(job.location)
        arrival = drive(d)
        travel += d
        travel_done = travel
        if job.windows:
            w = _window_for(arrival, job.windows, tol)
            if w is None:
                problems.append(
                    f"{name}: job {job.id} arrives at {arrival} after its window end "
                    f"{job.windows[-1][1]}"
                )
                w = (arrival, arrival)
        else:
            w = (arrival, arrival)
        begin = max(arrival, w[0])
        missing = job.skills - vehicle.skills
        if missing:
            problems.append(
                f"{name}: job {job.id} needs skills {sorted(missing, key=str)} the vehicle lacks"
            )
        for k, q in enumerate(job.delivery):
            load[k] -= q
        steps.append(
            Step(
                "job",
                job.id,
                job.location,
                arrival,
                begin - arrival,
                begin,
                job.service,
                travel,
                tuple(load),
            )
        )
        waiting += begin - arrival
        service += job.service
        priority += job.priority
        t = begin + job.service
        loc = job.location

    missing_breaks = [b.id for b in vehicle.breaks if b.id not in seen_breaks]
    if route_jobs and missing_breaks:
        problems.append(f"{name}: breaks {missing_breaks} not taken")
    d = leg(vehicle.end)
    arrival = drive(d)
    travel += d
    travel_done = travel
    if vehicle.end is not None:
        loc = vehicle.end
        steps.append(Step("end", None, loc, arrival, 0, arrival, 0, travel, tuple(load)))
    if vehicle.window is not None and arrival > vehicle.window[1] + tol:
        problems.append(f"{name}: back at {arrival} after the shift end {vehicle.window[1]}")
    capacity = vehicle.capacity
    delivered = [0] * dims
    for j in route_jobs:
        for k, q in enumerate(j.delivery):
            delivered[k] += q
    if any(delivered):
        cap = list(capacity or ()) + [0] * (dims - len(capacity or ()))
        if any(q > c for q, c in zip(delivered, cap, strict=True)):
            problems.append(f"{name}: delivery {delivered} exceeds capacity {cap}")
    report = RouteReport(
        vehicle=vehicle.id,
        steps=tuple(steps),
        travel=travel,
        cost=cost,
        distance=dist,
        service=service,
        waiting=waiting,
        priority=priority,
        delivery=tuple(delivered),
        job_ids=tuple(j.id for j in route_jobs),
    )
    return report, problems


def check(inst: Instance, routes: Sequence[RouteOrder]) -> Report:
    """Recompute and score ``routes`` on ``inst``; violations are listed, never raised."""
    vehicles = {v.id: v for v in inst.vehicles}
    jobs = {j.id: j for j in inst.jobs}
    report = Report(distance=0 if inst.distances is not None else None)
    used: set[Id] = set()
    done: dict[Id, Id] = {}
    for vehicle_id, order in routes:
        vehicle = vehicles.get(vehicle_id)
        if vehicle is None:
            report.violations.append(f"route for unknown vehicle {vehicle_id}")
            continue
        if vehicle_id in used:
            report.violations.append(f"vehicle {vehicle_id} has more than one route")
            continue
        used.add(vehicle_id)
        route, problems = simulate(inst, vehicle, order, jobs)
        report.violations.extend(problems)
        for jid in route.job_ids:
            if jid in done:
                report.violations.append(
                    f"job {jid} done more than once (vehicles {done[jid]} and {vehicle_id})"
                )
            done.setdefault(jid, vehicle_id)
        if not route.job_ids:
            continue  # an empty route is no route: nothing driven, nothing counted
        report.routes.append(route)
        report.travel += route.travel
        report.cost += route.cost
        if report.distance is not None and route.distance is not None:
            report.distance += route.distance
        report.waiting += route.waiting
    report.assigned = len(done)
    report.unassigned = len(inst.jobs) - len(done)
    report.priority_sum = sum(jobs[j].priority for j in done)
    report.service = sum(jobs[j].service for j in done)
    return report


def routes_from_solution(data: Any) -> list[RouteOrder]:
    """Read only what the checker needs from VROOM's output JSON: vehicle + id order."""
    if not isinstance(data, dict):
        raise FormatError("solution", "must be a JSON object")
    raw = data.get("routes")
    if not isinstance(raw, list):
        raise FormatError("solution.routes", "missing or not a list")
    out: list[RouteOrder] = []
    for r, route in enumerate(raw):
        path = f"solution.routes[{r}]"
        if not isinstance(route, dict):
            raise FormatError(path, "must be an object")
        if "vehicle" not in route:
            raise FormatError(f"{path}.vehicle", "missing")
        steps = route.get("steps")
        if not isinstance(steps, list):
            raise FormatError(f"{path}.steps", "missing or not a list")
        order: list[tuple[str, Id]] = []
        for s, step in enumerate(steps):
            spath = f"{path}.steps[{s}]"
            if not isinstance(step, dict) or not isinstance(step.get("type"), str):
                raise FormatError(f"{spath}.type", "missing or not a string")
            kind = step["type"]
            if kind in ("start", "end"):
                continue
            if "id" not in step:
                raise FormatError(f"{spath}.id", "missing")
            order.append((kind, step["id"]))
        out.append((route["vehicle"], order))
    return out

"""Immutable inputs and outputs of the scheduler.

Times are integer seconds from the horizon origin (midnight of day 0); a week-long
horizon simply has shifts on days 0..6. Places are indices into ``Problem.durations``
(and ``Problem.points`` when coordinates are known). Nothing here knows OR-Tools.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DAY = 86_400


class FrozenDict(dict):
    """A read-only dict: immutable like ``MappingProxyType`` but picklable, so a Problem can
    be sent to worker processes."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("scheduler inputs are immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


def _freeze(obj: Any, name: str) -> None:
    """Turn dict fields into read-only mappings and lists into tuples, so inputs stay immutable."""
    value = getattr(obj, name)
    if isinstance(value, Mapping) and not isinstance(value, FrozenDict):
        object.__setattr__(obj, name, FrozenDict(value))
    elif isinstance(value, list):
        object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True)
class Point:
    """A WGS84 position."""

    lon: float
    lat: float


@dataclass(frozen=True)
class Break:
    """A break of ``duration`` seconds that must start within [earliest, latest]; no place."""

    duration: int
    earliest: int
    latest: int


@dataclass(frozen=True)
class Shift:
    """One working day of a technician: leaves ``start_location`` at ``start``, back by ``end``."""

    day: int
    start: int
    end: int
    start_location: int
    end_location: int
    breaks: tuple[Break, ...] = ()
    # Upper bound on working time (travel + service + waiting) within the shift, seconds.
    max_work: int | None = None

    def __post_init__(self) -> None:
        _freeze(self, "breaks")


@dataclass(frozen=True)
class Technician:
    """A field technician. ``stock`` is what the van holds at the start of each shift."""

    id: str
    shifts: tuple[Shift, ...]
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> level (1..5)
    stock: Mapping[str, int] | None = None  # SKU -> quantity; None = stock not tracked
    territory: tuple[tuple[float, float], ...] | None = None  # polygon ring of (lon, lat)
    cost_per_hour: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        for name in ("shifts", "skills", "stock", "territory"):
            _freeze(self, name)


@dataclass(frozen=True)
class TimeWindow:
    """Service must *start* within [start, end]."""

    start: int
    end: int


@dataclass(frozen=True)
class Job:
    """A unit of field work: an installation, a repair, a maintenance visit, a build phase."""

    id: str
    location: int
    duration: int
    time_windows: tuple[TimeWindow, ...] = ()  # empty = any time within a shift
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level
    priority: int = 50  # 0..100, higher is more important
    sla_due: int | None = None  # soft: service should end by then
    items: Mapping[str, int] = field(default_factory=dict)  # SKU -> quantity consumed
    pinned_technician: str | None = None
    pinned_start: int | None = None
    predecessors: tuple[str, ...] = ()  # must end before this job starts
    preferred_technicians: tuple[str, ...] = ()
    kind: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("time_windows", "skills", "items", "predecessors", "preferred_technicians"):
            _freeze(self, name)


@dataclass(frozen=True)
class Weights:
    """Soft-objective weights, in cost units (1 unit = 1 second of travel by default).

    The defaults make one priority point worth more than any plausible detour, so the
    solver drops the lowest-priority work first when the day is overloaded.
    """

    priority: float = 3_600.0  # cost of leaving out one priority point (x (priority + 1))
    travel: float = 1.0  # per second of travel
    sla_late_per_minute: float = 60.0  # per minute late, multiplied by (1 + priority / 25)
    preferred_technician: float = 600.0  # bonus for a job done by a preferred technician
    balance: float = 0.0  # per second of the longest route above the mean (0 = off)


class Objective(enum.Enum):
    """What the solver optimises."""

    FIELD = "field"  # weighted soft objectives above
    VROOM = "vroom"  # lexicographic: priority sum, then job count, then cost
    DISTANCE = "distance"  # every job mandatory if possible; minimise total cost (Solomon)


@dataclass(frozen=True)
class SolveParams:
    time_limit: float = 10.0  # seconds of wall time for the whole solve
    seed: int = 0
    weights: Weights = field(default_factory=Weights)
    objective: Objective = Objective.FIELD
    workers: int = 1  # independent searches in parallel (processes)
    # First solution: "construct" (own priority-first insertion, fast on big days),
    # "ortools" (parallel cheapest insertion) or "auto" (construct whenever the LNS runs).
    first_solution: str = "auto"
    lns: bool = True  # our ruin-and-recreate before OR-Tools' guided local search polish


@dataclass(frozen=True)
class Problem:
    """Everything a solve needs. ``durations[i][j]`` is travel time from place i to j.

    ``costs`` (same shape) is what the objective charges for travel; defaults to
    ``durations``. ``distances`` (metres, optional) feeds KPIs only.
    """

    technicians: tuple[Technician, ...]
    jobs: tuple[Job, ...]
    durations: np.ndarray
    costs: np.ndarray | None = None
    distances: np.ndarray | None = None
    points: tuple[Point, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("technicians", "jobs", "points"):
            _freeze(self, name)
        for name in ("durations", "costs", "distances"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)


class Reason(enum.Enum):
    """Why a job is not in the plan; the first rule that blocks it."""

    SKILL = "skill"  # no technician has a required skill
    SKILL_LEVEL = "skill_level"  # skill exists but nobody reaches the level
    STOCK = "stock"  # no qualified van holds the items
    TERRITORY = "territory"  # place outside every qualified technician's territory
    TIME_WINDOW = "time_window"  # no window overlaps a qualified technician's shift
    UNREACHABLE = "unreachable"  # cannot get there and back within any shift
    PRECEDENCE = "precedence"  # a predecessor is not planned or cannot end in time
    PINNED = "pinned"  # pinned technician/start cannot be honoured
    CAPACITY = "capacity"  # feasible alone, left out because the day is full


@dataclass(frozen=True)
class Visit:
    job_id: str
    arrival: int
    wait: int
    start: int
    end: int
    travel: int  # seconds driven from the previous stop
    late: int = 0  # seconds the end is past the SLA due time


@dataclass(frozen=True)
class PlannedBreak:
    start: int
    end: int


@dataclass(frozen=True)
class Route:
    technician_id: str
    day: int
    visits: tuple[Visit, ...]
    breaks: tuple[PlannedBreak, ...]
    start: int  # leaves the start place
    end: int  # back at the end place
    travel: int  # total seconds driven, including the way home


@dataclass(frozen=True)
class Unassigned:
    job_id: str
    reason: Reason
    message: str
    # For CAPACITY: the cheapest feasible insertion and what it would displace.
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KPIs:
    jobs_assigned: int
    jobs_unassigned: int
    priority_assigned: int
    priority_total: int
    travel_time: int
    service_time: int
    utilisation: float  # (service + travel) / available shift time of used shifts
    sla_late_count: int
    sla_late_minutes: float
    travel_cost: float = 0.0


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    kpis: KPIs
    status: str  # "optimal", "feasible", "no_solution", "timeout"
    stats: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """One broken rule found by :func:`scheduler.verify.verify`."""

    rule: str  # e.g. "time_window", "skill", "stock", "break", "precedence"
    message: str
    job_id: str | None = None
    technician_id: str | None = None


def validate_problem(problem: Problem) -> None:
    """Raise ``ValueError`` naming the first malformed field; solve() calls this first.

    Checks what the solver would otherwise trip over: matrix shapes, place indices,
    negative durations, inverted windows, unknown ids, duplicate ids.
    """
    dur = problem.durations
    if dur.ndim != 2 or dur.shape[0] != dur.shape[1]:
        raise ValueError(f"durations must be a square matrix, got shape {dur.shape}")
    n = dur.shape[0]
    if n and (not np.all(np.isfinite(dur)) or dur.min() < 0):
        raise ValueError("durations must hold finite non-negative numbers")
    for name in ("costs", "distances"):
        arr = getattr(problem, name)
        if arr is not None and arr.shape != dur.shape:
            raise ValueError(f"{name} has shape {arr.shape}, durations {dur.shape}")
        if arr is not None and arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
            raise ValueError(f"{name} must hold finite non-negative numbers")
    if problem.points is not None and len(problem.points) != n:
        raise ValueError(f"points has {len(problem.points)} entries for a {n}x{n} matrix")

    def place(value: int, what: str) -> None:
        if not isinstance(value, int | np.integer) or not 0 <= value < n:
            raise ValueError(f"{what} = {value!r} is not a place index in 0..{n - 1}")

    tech_ids: set[str] = set()
    for t in problem.technicians:
        if t.id in tech_ids:
            raise ValueError(f"technician id {t.id!r} appears twice")
        tech_ids.add(t.id)
        for sk, lvl in t.skills.items():
            if lvl < 0:
                raise ValueError(f"technician {t.id}: skill {sk!r} has negative level {lvl}")
        for sku, q in (t.stock or {}).items():
            if q < 0:
                raise ValueError(f"technician {t.id}: stock of {sku!r} is negative ({q})")
        if t.territory is not None and len(t.territory) < 3:
            raise ValueError(f"technician {t.id}: territory needs at least 3 points")
        for k, s in enumerate(t.shifts):
            where = f"technician {t.id} shift {k}"
            place(s.start_location, f"{where} start_location")
            place(s.end_location, f"{where} end_location")
            if s.end < s.start:
                raise ValueError(f"{where}: end {s.end} before start {s.start}")
            if s.max_work is not None and s.max_work < 0:
                raise ValueError(f"{where}: max_work is negative")
            for b in s.breaks:
                if b.duration < 0:
                    raise ValueError(f"{where}: break duration is negative")
                if b.latest < b.earliest:
                    raise ValueError(f"{where}: break latest {b.latest} before earliest")
                if max(b.earliest, s.start) + b.duration > s.end:
                    raise ValueError(f"{where}: break [{b.earliest}, {b.latest}] cannot fit")
    job_ids: set[str] = set()
    for j in problem.jobs:
        if j.id in job_ids:
            raise ValueError(f"job id {j.id!r} appears twice")
        job_ids.add(j.id)
    for j in problem.jobs:
        place(j.location, f"job {j.id} location")
        if j.duration < 0:
            raise ValueError(f"job {j.id}: duration is negative ({j.duration})")
        if not 0 <= j.priority <= 100:
            raise ValueError(f"job {j.id}: priority {j.priority} outside 0..100")
        for w in j.time_windows:
            if w.end < w.start:
                raise ValueError(f"job {j.id}: time window [{w.start}, {w.end}] is inverted")
        for sku, q in j.items.items():
            if q < 0:
                raise ValueError(f"job {j.id}: items of {sku!r} negative ({q})")
        if j.id in j.predecessors:
            raise ValueError(f"job {j.id}: is its own predecessor")

"""A format-neutral picture of a routing instance, and its translation to a Problem.

Both readers (VROOM JSON, Solomon text) produce an :class:`Instance` that keeps the
file's own ids and units. The checker scores solutions on it in those units (real
Euclidean distance for Solomon), and :func:`to_problem` turns it into the engine's
integer :class:`~scheduler.model.Problem` plus the :class:`IdMap` that leads back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..model import (
    DAY,
    Break,
    FrozenDict,
    Job,
    Objective,
    Point,
    Problem,
    Shift,
    Technician,
    TimeWindow,
)

Number = int | float
Id = int | str
Window = tuple[Number, Number]

# Stock is modelled per amount dimension; the SKU name is the dimension's position.
SKILL_LEVEL = 1  # VROOM skills carry no level: every skill is held and required at level 1


@dataclass(frozen=True)
class BreakSpec:
    """A break without a place; ``windows`` bound its start (empty = any time)."""

    id: Id
    service: Number
    windows: tuple[Window, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class VehicleSpec:
    """A vehicle/technician as the file states it; ``end=None`` is an open route."""

    id: Id
    start: int | None
    end: int | None
    window: Window | None = None  # None = unbounded
    skills: frozenset[Id] = frozenset()
    capacity: tuple[int, ...] | None = None
    breaks: tuple[BreakSpec, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class JobSpec:
    """A job; ``windows`` bound the start of service (empty = any time)."""

    id: Id
    location: int
    service: Number
    windows: tuple[Window, ...] = ()
    skills: frozenset[Id] = frozenset()
    delivery: tuple[int, ...] = ()
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class Instance:
    """Jobs and vehicles over places ``0..n-1``; matrices are in the file's units.

    ``scale`` is how many solver units one file unit becomes (1000 for Solomon, whose
    distances are real numbers); ``coords`` holds each place's (x, y) or (lon, lat)
    where known; ``geographic`` says whether they are WGS84 (lon, lat).
    """

    kind: str  # "vroom" or "solomon"
    name: str
    vehicles: tuple[VehicleSpec, ...]
    jobs: tuple[JobSpec, ...]
    durations: np.ndarray
    costs: np.ndarray
    distances: np.ndarray | None = None
    coords: tuple[tuple[float, float] | None, ...] | None = None
    geographic: bool = True
    scale: int = 1
    objective: Objective = Objective.VROOM
    tolerance: float = 0.0  # slack for float arithmetic when checking times

    @property
    def n_places(self) -> int:
        return int(self.durations.shape[0])


@dataclass(frozen=True)
class IdMap:
    """How the Problem built from an Instance leads back to the file's ids."""

    job_ids: Mapping[str, Id]  # Problem job id -> file job id
    vehicle_ids: Mapping[str, Id]  # technician id -> file vehicle id
    job_index: Mapping[Id, int] = field(default_factory=dict)  # file job id -> position
    vehicle_index: Mapping[Id, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("job_ids", "vehicle_ids", "job_index", "vehicle_index"):
            object.__setattr__(self, name, FrozenDict(getattr(self, name)))


def _scaled_time(value: Number, scale: int) -> int:
    """Times and service durations: exact multiples in the files we read; round to be safe."""
    return round(value * scale)


def _solver_matrices(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Integer durations and costs. Real durations are rounded *up*, so that a plan the
    solver finds feasible in integers stays feasible in real arithmetic; costs are
    rounded to nearest, which tracks the real objective more closely."""
    if inst.scale == 1 and inst.durations.dtype.kind in "iu":
        dur = inst.durations.astype(np.int64)
    else:
        dur = np.ceil(inst.durations * inst.scale).astype(np.int64)
    if inst.scale == 1 and inst.costs.dtype.kind in "iu":
        cost = inst.costs.astype(np.int64)
    else:
        cost = np.rint(inst.costs * inst.scale).astype(np.int64)
    return dur, cost


def horizon_end(inst: Instance) -> int:
    """End of the day in file units: a day, or later when the file's times go beyond it."""
    latest: Number = DAY
    for v in inst.vehicles:
        if v.window is not None:
            latest = max(latest, v.window[1])
        for b in v.breaks:
            latest = max(latest, *(w[1] for w in b.windows), 0)
    longest_service: Number = 0
    for j in inst.jobs:
        longest_service = max(longest_service, j.service)
        for w in j.windows:
            latest = max(latest, w[1])
    if latest == DAY:
        return DAY
    # Past a day: leave room to serve the last window and drive home.
    longest_leg = float(inst.durations.max()) if inst.durations.size else 0.0
    return math.ceil(latest + longest_service + longest_leg)


def to_problem(inst: Instance) -> tuple[Problem, IdMap]:
    """Translate to the engine's Problem (integer solver units) and the id map.

    An open route (no start or no end) gets a dummy place whose travel to and from
    every place is zero, so the route really ends (or starts) at its last (first) job.
    """
    scale = inst.scale
    dur, cost = _solver_matrices(inst)
    dist = None if inst.distances is None else np.rint(inst.distances).astype(np.int64)
    n = inst.n_places
    needs_dummy = any(v.start is None or v.end is None for v in inst.vehicles)
    if needs_dummy:
        dur = np.pad(dur, ((0, 1), (0, 1)))
        cost = np.pad(cost, ((0, 1), (0, 1)))
        if dist is not None:
            dist = np.pad(dist, ((0, 1), (0, 1)))
    dummy = n  # only meaningful when needs_dummy
    points: tuple[Point, ...] | None = None
    if inst.geographic and inst.coords is not None and all(c is not None for c in inst.coords):
        pts = [Point(lon=c[0], lat=c[1]) for c in inst.coords if c is not None]
        if needs_dummy:
            pts.append(pts[0])  # the dummy place has no position; any point will do
        points = tuple(pts)

    day_end = horizon_end(inst)
    techs = []
    vehicle_ids: dict[str, Id] = {}
    for v in inst.vehicles:
        start, end = v.window if v.window is not None else (0, day_end)
        shift_start, shift_end = _scaled_time(start, scale), _scaled_time(end, scale)
        breaks = []
        for b in v.breaks:
            if b.windows:
                lo, hi = b.windows[0]
            else:
                lo, hi = start, end
            breaks.append(
                Break(
                    duration=_scaled_time(b.service, scale),
                    earliest=_scaled_time(lo, scale),
                    latest=_scaled_time(hi, scale),
                )
            )
        shift = Shift(
            day=0,
            start=shift_start,
            end=shift_end,
            start_location=dummy if v.start is None else v.start,
            end_location=dummy if v.end is None else v.end,
            breaks=tuple(breaks),
        )
        tid = str(v.id)
        vehicle_ids[tid] = v.id
        stock = None
        if v.capacity is not None:
            stock = {str(k): int(q) for k, q in enumerate(v.capacity)}
        techs.append(
            Technician(
                id=tid,
                shifts=(shift,),
                skills={str(s): SKILL_LEVEL for s in sorted(v.skills, key=str)},
                stock=stock,
                name=v.description,
            )
        )

    jobs = []
    job_ids: dict[str, Id] = {}
    for j in inst.jobs:
        jid = str(j.id)
        job_ids[jid] = j.id
        jobs.append(
            Job(
                id=jid,
                location=j.location,
                duration=_scaled_time(j.service, scale),
                time_windows=tuple(
                    TimeWindow(_scaled_time(a, scale), _scaled_time(b, scale)) for a, b in j.windows
                ),
                skills={str(s): SKILL_LEVEL for s in sorted(j.skills, key=str)},
                priority=j.priority,
                items={str(k): int(q) for k, q in enumerate(j.delivery) if q},
                description=j.description,
            )
        )
    problem = Problem(
        technicians=tuple(techs),
        jobs=tuple(jobs),
        durations=dur,
        costs=cost,
        distances=dist,
        points=points,
    )
    idmap = IdMap(
        job_ids=job_ids,
        vehicle_ids=vehicle_ids,
        job_index={j.id: k for k, j in enumerate(inst.jobs)},
        vehicle_index={v.id: k for k, v in enumerate(inst.vehicles)},
    )
    return problem, idmap

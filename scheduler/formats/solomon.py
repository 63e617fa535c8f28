"""Solomon / Gehring-Homberger VRPTW text files (read with vrplib).

The conventions are the field's: real Euclidean distance, travel time equals
distance, service time at each customer, waiting allowed, back at the depot by its
due date, at most the file's number of vehicles, objective total distance. The
Instance keeps real distances; :func:`~.instance.to_problem` scales them x1000 for
the solver and rounds travel times up.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..model import Objective
from .errors import FormatError
from .instance import Instance, JobSpec, VehicleSpec

SCALE = 1000  # solver units per distance unit: three decimals of a real distance
TOLERANCE = 1e-6  # float slack when re-checking times in real arithmetic


def _customer_numbers(path: Path, count: int) -> list[int]:
    """The CUST NO. column, which vrplib drops; job ids are these numbers."""
    numbers: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise FormatError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    in_table = False
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if fields[0].upper().startswith("CUST"):
            in_table = True
            continue
        if in_table and len(fields) == 7:
            try:
                numbers.append(int(float(fields[0])))
            except ValueError:
                return list(range(count))
    if len(numbers) != count or len(set(numbers)) != count:
        return list(range(count))
    return numbers


def read_solomon(path: str | Path) -> Instance:
    """Read a Solomon-format file; the first customer row is the depot."""
    import vrplib

    p = Path(path)
    if not p.is_file():
        raise FormatError(str(p), "no such file")
    try:
        data = vrplib.read_instance(str(p), instance_format="solomon")
    except Exception as exc:  # vrplib raises many types on bad text; report one line
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise FormatError(str(p), f"malformed Solomon file: {detail}") from exc
    try:
        coords = np.asarray(data["node_coord"], dtype=float)
        demand = np.asarray(data["demand"], dtype=float)
        windows = np.asarray(data["time_window"], dtype=float)
        service = np.asarray(data["service_time"], dtype=float)
        n_vehicles = data["vehicles"]
        capacity = data["capacity"]
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(str(p), f"malformed Solomon file: missing {exc}") from exc

    n = coords.shape[0] if coords.ndim == 2 else 0
    name = str(data.get("name") or p.stem)
    if n < 2:
        raise FormatError(f"{p.name}: CUSTOMER", "needs the depot and at least one customer")
    for label, arr in (
        ("XCOORD/YCOORD", coords),
        ("DEMAND", demand),
        ("TIME", windows),
        ("SERVICE TIME", service),
    ):
        if not np.all(np.isfinite(arr)):
            raise FormatError(f"{p.name}: {label}", "must hold finite numbers")
    if not (isinstance(n_vehicles, int | np.integer) and n_vehicles > 0):
        raise FormatError(
            f"{p.name}: VEHICLE NUMBER", f"must be a positive integer, got {n_vehicles}"
        )
    if not (float(capacity).is_integer() and capacity >= 0):
        raise FormatError(f"{p.name}: VEHICLE CAPACITY", f"must be an integer >= 0, got {capacity}")
    numbers = _customer_numbers(p, n)
    for row in range(n):
        label = f"{p.name}: customer {numbers[row]}"
        if demand[row] < 0 or not float(demand[row]).is_integer():
            raise FormatError(f"{label} DEMAND", f"must be an integer >= 0, got {demand[row]:g}")
        if service[row] < 0:
            raise FormatError(f"{label} SERVICE TIME", f"must be >= 0, got {service[row]:g}")
        if windows[row, 0] < 0 or windows[row, 1] < windows[row, 0]:
            raise FormatError(
                f"{label} READY TIME/DUE DATE",
                f"window [{windows[row, 0]:g}, {windows[row, 1]:g}] is not a valid interval",
            )
    diff = coords[:, None, :] - coords[None, :, :]
    distances = np.sqrt((diff**2).sum(axis=2))
    depot_window = (_plain(windows[0, 0]), _plain(windows[0, 1]))
    vehicles = tuple(
        VehicleSpec(
            id=k + 1,
            start=0,
            end=0,
            window=depot_window,
            capacity=(int(capacity),),
        )
        for k in range(int(n_vehicles))
    )
    jobs = tuple(
        JobSpec(
            id=numbers[row],
            location=row,
            service=_plain(service[row]),
            windows=((_plain(windows[row, 0]), _plain(windows[row, 1])),),
            delivery=(int(demand[row]),),
            priority=0,
        )
        for row in range(1, n)
    )
    return Instance(
        kind="solomon",
        name=name,
        vehicles=vehicles,
        jobs=jobs,
        durations=distances,
        costs=distances,
        distances=distances,
        coords=tuple((float(x), float(y)) for x, y in coords),
        geographic=False,
        scale=SCALE,
        objective=Objective.DISTANCE,
        tolerance=TOLERANCE,
    )


def _plain(value: float) -> int | float:
    """Whole numbers as int, so they print and compare exactly."""
    v = float(value)
    return int(v) if v.is_integer() and math.isfinite(v) else v

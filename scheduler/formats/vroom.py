"""VROOM's JSON problem format in, VROOM's JSON solution format out.

Reading validates every field it uses and raises :class:`FormatError` naming the
field path (``jobs[3].service: must be >= 0``). Features of VROOM that the engine
does not model (shipments, pickups, per-vehicle limits, several break windows) are
rejected with a clear message rather than silently dropped, so a plan is never
"feasible" for a problem it did not see.

Writing takes each route's *order* from the engine's plan and recomputes every time
with the checker (:mod:`.check`, earliest start), so a written file and
``python -m scheduler verify`` on it always agree. Each unassigned job carries the
engine's reason (``reason``, ``reason_text``), which VROOM's own output lacks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..model import Objective, Plan, PlannedBreak, Point
from .check import Report, RouteOrder, check
from .errors import FormatError
from .instance import BreakSpec, Id, IdMap, Instance, JobSpec, Number, VehicleSpec, Window

DEFAULT_PROFILE = "car"  # VROOM's default vehicle profile

# Vehicle fields VROOM knows that would change what is feasible and that we do not model.
_UNSUPPORTED_VEHICLE = ("max_tasks", "max_travel_time", "max_distance", "steps")


# ---------------------------------------------------------------- field readers


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _get(obj: Mapping[str, Any], key: str, path: str, default: Any = ..., /) -> Any:
    if key in obj:
        return obj[key]
    if default is ...:
        raise FormatError(f"{path}.{key}" if path else key, "missing")
    return default


def _int(value: Any, path: str, minimum: int | None = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormatError(path, f"must be an integer, got {_type_name(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise FormatError(path, f"must be an integer, got {value}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise FormatError(path, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise FormatError(path, f"must be <= {maximum}, got {value}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise FormatError(path, f"must be a list, got {_type_name(value)}")
    return value


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(path, f"must be an object, got {_type_name(value)}")
    return value


def _id(value: Any, path: str) -> Id:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FormatError(path, f"must be an integer or a string, got {_type_name(value)}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise FormatError(path, f"must be a string, got {_type_name(value)}")
    return value


def _window(value: Any, path: str) -> Window:
    pair = _list(value, path)
    if len(pair) != 2:
        raise FormatError(path, f"must be [start, end], got {len(pair)} values")
    start = _int(pair[0], f"{path}[0]")
    end = _int(pair[1], f"{path}[1]")
    if end < start:
        raise FormatError(path, f"end {end} is before start {start}")
    return (start, end)


def _windows(value: Any, path: str) -> tuple[Window, ...]:
    windows = tuple(_window(w, f"{path}[{k}]") for k, w in enumerate(_list(value, path)))
    if not windows:
        raise FormatError(path, "must hold at least one window")
    return tuple(sorted(windows))


def _amount(value: Any, path: str) -> tuple[int, ...]:
    return tuple(_int(q, f"{path}[{k}]") for k, q in enumerate(_list(value, path)))


def _skills(value: Any, path: str) -> frozenset[Id]:
    return frozenset(_int(s, f"{path}[{k}]") for k, s in enumerate(_list(value, path)))


def _coord(value: Any, path: str) -> tuple[float, float]:
    pair = _list(value, path)
    if len(pair) != 2:
        raise FormatError(path, f"must be [lon, lat], got {len(pair)} values")
    out = []
    for k, c in enumerate(pair):
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
            raise FormatError(f"{path}[{k}]", f"must be a number, got {_type_name(c)}")
        out.append(float(c))
    lon, lat = out
    if not -180.0 <= lon <= 180.0:
        raise FormatError(f"{path}[0]", f"longitude must be within [-180, 180], got {lon}")
    if not -90.0 <= lat <= 90.0:
        raise FormatError(f"{path}[1]", f"latitude must be within [-90, 90], got {lat}")
    return (lon, lat)


def _matrix(value: Any, path: str) -> np.ndarray:
    rows = _list(value, path)
    n = len(rows)
    if n == 0:
        raise FormatError(path, "must not be empty")
    # Fast path for the common well-formed case (a 2,500-job matrix has ~7 M entries);
    # anything odd falls through to the element-wise check that names the bad entry.
    try:
        arr = np.array(rows)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.shape == (n, n) and arr.dtype.kind in "iuf":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)):
            arr = arr.astype(np.int64)
        if arr.dtype.kind in "iu" and (arr.size == 0 or arr.min() >= 0):
            return arr.astype(np.int64, copy=False)
    out = np.zeros((n, n), dtype=np.int64)
    for i, row in enumerate(_list(r, f"{path}[{i}]") for i, r in enumerate(rows)):
        if len(row) != n:
            raise FormatError(f"{path}[{i}]", f"has {len(row)} values, expected {n} (square)")
        for j, v in enumerate(row):
            out[i, j] = _int(v, f"{path}[{i}][{j}]")
    return out


# ---------------------------------------------------------------- places


class _Places:
    """Collects places: matrix indices when a matrix is given, else distinct coordinates."""

    def __init__(self, size: int | None) -> None:
        self.size = size
        self.coords: dict[int, tuple[float, float]] = {}
        self._by_coord: dict[tuple[float, float], int] = {}

    def place(self, obj: Mapping[str, Any], path: str, key: str, *, required: bool) -> int | None:
        """``key`` is the VROOM field stem: location/start/end (with ``_index``)."""
        index_key = f"{key}_index"
        coord = _coord(obj[key], f"{path}.{key}") if key in obj else None
        if self.size is not None:
            if index_key not in obj:
                if not required and key not in obj:
                    return None
                raise FormatError(f"{path}.{index_key}", "missing (required with matrices)")
            idx = _int(obj[index_key], f"{path}.{index_key}")
            if idx >= self.size:
                raise FormatError(
                    f"{path}.{index_key}",
                    f"{idx} out of range (matrix has {self.size} places, 0..{self.size - 1})",
                )
            if coord is not None:
                self.coords.setdefault(idx, coord)
            return idx
        if coord is None:
            if index_key in obj:
                raise FormatError(f"{path}.{index_key}", "given but the input has no matrices")
            if required:
                raise FormatError(f"{path}.{key}", "missing")
            return None
        if coord not in self._by_coord:
            idx = len(self._by_coord)
            self._by_coord[coord] = idx
            self.coords[idx] = coord
        return self._by_coord[coord]


# ---------------------------------------------------------------- reader


def parse_vroom(data: Any, name: str = "") -> Instance:
    """Validate a decoded VROOM problem and build the format-neutral Instance."""
    root = _obj(data, "input")
    if root.get("shipments"):
        raise FormatError("shipments", "not supported (pickup-and-delivery pairs)")
    raw_vehicles = _list(_get(root, "vehicles", ""), "vehicles")
    raw_jobs = _list(_get(root, "jobs", ""), "jobs")
    if not raw_vehicles:
        raise FormatError("vehicles", "must not be empty")

    profiles = {
        _str(_obj(v, f"vehicles[{k}]").get("profile", DEFAULT_PROFILE), f"vehicles[{k}].profile")
        for k, v in enumerate(raw_vehicles)
    }
    durations = costs = distances = None
    if "matrices" in root:
        matrices = _obj(root["matrices"], "matrices")
        if len(profiles) > 1:
            raise FormatError("vehicles", f"several profiles {sorted(profiles)} not supported")
        profile = next(iter(profiles))
        mpath = f"matrices.{profile}"
        m = _obj(_get(matrices, profile, "matrices"), mpath)
        durations = _matrix(_get(m, "durations", mpath), f"{mpath}.durations")
        if "costs" in m:
            costs = _matrix(m["costs"], f"{mpath}.costs")
        if "distances" in m:
            distances = _matrix(m["distances"], f"{mpath}.distances")
        for key, mat in (("costs", costs), ("distances", distances)):
            if mat is not None and mat.shape != durations.shape:
                raise FormatError(
                    f"{mpath}.{key}",
                    f"is {mat.shape[0]}x{mat.shape[0]}, durations "
                    f"{durations.shape[0]}x{durations.shape[0]}",
                )
    elif "matrix" in root:  # VROOM's older single-matrix form
        durations = _matrix(root["matrix"], "matrix")
    places = _Places(None if durations is None else int(durations.shape[0]))

    vehicles: list[VehicleSpec] = []
    dims: int | None = None
    dims_path = ""
    vehicle_ids: set[str] = set()
    for k, raw in enumerate(raw_vehicles):
        path = f"vehicles[{k}]"
        v = _obj(raw, path)
        vid = _id(_get(v, "id", path), f"{path}.id")
        if str(vid) in vehicle_ids:
            raise FormatError(f"{path}.id", f"duplicate vehicle id {vid}")
        vehicle_ids.add(str(vid))
        for key in _UNSUPPORTED_VEHICLE:
            if key in v:
                raise FormatError(f"{path}.{key}", "not supported")
        if "speed_factor" in v and v["speed_factor"] != 1:
            raise FormatError(f"{path}.speed_factor", "only 1 is supported")
        start = places.place(v, path, "start", required=False)
        end = places.place(v, path, "end", required=False)
        if start is None and end is None:
            raise FormatError(f"{path}.start", "missing (a vehicle needs a start or an end)")
        window = _window(v["time_window"], f"{path}.time_window") if "time_window" in v else None
        capacity = _amount(v["capacity"], f"{path}.capacity") if "capacity" in v else None
        if capacity is not None:
            if dims is not None and len(capacity) != dims:
                raise FormatError(
                    f"{path}.capacity", f"has {len(capacity)} values, {dims_path} has {dims}"
                )
            dims, dims_path = len(capacity), f"{path}.capacity"
        skills = _skills(v.get("skills", []), f"{path}.skills")
        breaks: list[BreakSpec] = []
        break_ids: set[Id] = set()
        for b, raw_break in enumerate(_list(v.get("breaks", []), f"{path}.breaks")):
            bpath = f"{path}.breaks[{b}]"
            br = _obj(raw_break, bpath)
            bid = _id(_get(br, "id", bpath), f"{bpath}.id")
            if bid in break_ids:
                raise FormatError(f"{bpath}.id", f"duplicate break id {bid}")
            break_ids.add(bid)
            bwin: tuple[Window, ...] = ()
            if "time_windows" in br:
                bwin = _windows(br["time_windows"], f"{bpath}.time_windows")
                if len(bwin) > 1:
                    raise FormatError(f"{bpath}.time_windows", "only one window is supported")
            if br.get("max_load") is not None:
                raise FormatError(f"{bpath}.max_load", "not supported")
            breaks.append(
                BreakSpec(
                    id=bid,
                    service=_int(br.get("service", 0), f"{bpath}.service"),
                    windows=bwin,
                    description=_str(br.get("description", ""), f"{bpath}.description"),
                )
            )
        vehicles.append(
            VehicleSpec(
                id=vid,
                start=start,
                end=end,
                window=window,
                skills=skills,
                capacity=capacity,
                breaks=tuple(breaks),
                description=_str(v.get("description", ""), f"{path}.description"),
            )
        )

    jobs: list[JobSpec] = []
    job_ids: set[str] = set()
    for k, raw in enumerate(raw_jobs):
        path = f"jobs[{k}]"
        j = _obj(raw, path)
        jid = _id(_get(j, "id", path), f"{path}.id")
        if str(jid) in job_ids:
            raise FormatError(f"{path}.id", f"duplicate job id {jid}")
        job_ids.add(str(jid))
        location = places.place(j, path, "location", required=True)
        assert location is not None  # required=True raises instead
        service = _int(j.get("service", 0), f"{path}.service")
        setup = _int(j.get("setup", 0), f"{path}.setup")
        if "delivery" in j:
            delivery = _amount(j["delivery"], f"{path}.delivery")
            dkey = "delivery"
        elif "amount" in j:  # older name of delivery
            delivery = _amount(j["amount"], f"{path}.amount")
            dkey = "amount"
        else:
            delivery, dkey = (), ""
        if "pickup" in j and any(_amount(j["pickup"], f"{path}.pickup")):
            raise FormatError(f"{path}.pickup", "not supported (only deliveries)")
        if delivery:
            if dims is None:
                if any(delivery):
                    raise FormatError(f"{path}.{dkey}", "given but no vehicle has a capacity")
            elif len(delivery) != dims:
                raise FormatError(
                    f"{path}.{dkey}", f"has {len(delivery)} values, {dims_path} has {dims}"
                )
        jobs.append(
            JobSpec(
                id=jid,
                location=location,
                service=service + setup,
                windows=(
                    _windows(j["time_windows"], f"{path}.time_windows")
                    if "time_windows" in j
                    else ()
                ),
                skills=_skills(j.get("skills", []), f"{path}.skills"),
                delivery=delivery,
                priority=_int(j.get("priority", 0), f"{path}.priority", 0, 100),
                description=_str(j.get("description", ""), f"{path}.description"),
            )
        )
    if dims is not None:
        for k, v in enumerate(vehicles):
            if v.capacity is None:
                raise FormatError(f"vehicles[{k}].capacity", f"missing ({dims_path} is given)")

    if durations is None:
        n = len(places.coords)
        pts = [Point(*places.coords[i]) for i in range(n)]
        from ..travel import build_matrix  # the engine's default travel model

        durations, distances = build_matrix(pts)
        coords: tuple[tuple[float, float] | None, ...] = tuple(places.coords[i] for i in range(n))
    else:
        n = int(durations.shape[0])
        coords = tuple(places.coords.get(i) for i in range(n))
    return Instance(
        kind="vroom",
        name=name,
        vehicles=tuple(vehicles),
        jobs=tuple(jobs),
        durations=durations,
        costs=durations if costs is None else costs,
        distances=distances,
        coords=coords,
        geographic=True,
        scale=1,
        objective=Objective.VROOM,
    )


def read_json(path: str | Path) -> Any:
    """Decode a JSON file, turning I/O and syntax errors into a FormatError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(str(p), f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FormatError(str(p), "not UTF-8 text") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            str(p), f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def read_vroom(path: str | Path) -> Instance:
    """Read a VROOM JSON problem file."""
    return parse_vroom(read_json(path), name=Path(path).stem)


# ---------------------------------------------------------------- writer


def plan_orders(plan: Plan, inst: Instance, idmap: IdMap) -> list[RouteOrder]:
    """Each route's vehicle and its order of job and break ids, in the file's ids.

    A break goes after the last visit that ends by the break's start: a break taken
    while driving sits between the two stops it interrupts.
    """
    vehicles = {v.id: v for v in inst.vehicles}
    out: list[RouteOrder] = []
    for route in plan.routes:
        if not route.visits:
            continue
        vehicle = vehicles[idmap.vehicle_ids[route.technician_id]]
        events: list[tuple[Number, int, str, Id]] = [
            (v.end, 0, "job", idmap.job_ids[v.job_id]) for v in route.visits
        ]
        for planned, break_id in _match_breaks(inst, vehicle, route.breaks):
            events.append((planned.start, 1, "break", break_id))
        events.sort(key=lambda e: (e[0], e[1]))
        out.append((vehicle.id, [(kind, ident) for _, _, kind, ident in events]))
    return out


def _match_breaks(
    inst: Instance, vehicle: VehicleSpec, planned: Sequence[PlannedBreak]
) -> list[tuple[PlannedBreak, Id]]:
    """Name each planned break (solver units) by the vehicle break it stands for.

    The engine's breaks carry only times: a break is matched to the first unused
    vehicle break of the same length whose window holds its start, else to the next
    unused one in window order (the checker then reports what does not fit).
    """
    scale = inst.scale
    free = sorted(vehicle.breaks, key=lambda b: (b.windows[0][0] if b.windows else 0, str(b.id)))
    out: list[tuple[PlannedBreak, Id]] = []
    for pb in sorted(planned, key=lambda b: b.start):
        if not free:
            break
        chosen = free[0]
        for b in free:
            fits = not b.windows or any(
                round(lo * scale) <= pb.start <= round(hi * scale) for lo, hi in b.windows
            )
            if fits and round(b.service * scale) == pb.end - pb.start:
                chosen = b
                break
        free.remove(chosen)
        out.append((pb, chosen.id))
    return out


def _num(value: Number) -> Number:
    """Integers stay integers; real-valued times (Solomon) keep 6 decimals."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 6)
    return value


def _location(inst: Instance, place: int | None) -> dict[str, Any]:
    if place is None:
        return {}
    out: dict[str, Any] = {"location_index": place}
    if inst.coords is not None and inst.coords[place] is not None:
        out["location"] = list(inst.coords[place])
    return out


def solution_json(
    inst: Instance,
    report: Report,
    reasons: Mapping[Id, tuple[str, str]],
    computing_times: Mapping[str, int] | None = None,
    extra_summary: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """VROOM's output format from a checked solution. ``reasons``: job id -> (rule, text)."""
    dims = max([len(v.capacity or ()) for v in inst.vehicles] + [0])
    jobs = {j.id: j for j in inst.jobs}
    routed = {jid for r in report.routes for jid in r.job_ids}
    descriptions = {v.id: v.description for v in inst.vehicles}
    routes = []
    for r in report.routes:
        steps = []
        for s in r.steps:
            step: dict[str, Any] = {"type": s.type}
            if s.id is not None:
                step["id"] = s.id
            if s.type == "job":
                step["description"] = jobs[s.id].description
            step.update(_location(inst, s.location))
            step.update(
                {
                    "arrival": _num(s.arrival),
                    "duration": _num(s.travel_before),
                    "setup": 0,
                    "service": _num(s.service),
                    "waiting_time": _num(s.waiting),
                }
            )
            if dims:
                step["load"] = list(s.load) + [0] * (dims - len(s.load))
            steps.append(step)
        route: dict[str, Any] = {
            "vehicle": r.vehicle,
            "description": descriptions.get(r.vehicle, ""),
            "cost": _num(r.cost),
            "setup": 0,
            "service": _num(r.service),
            "duration": _num(r.travel),
            "waiting_time": _num(r.waiting),
            "priority": r.priority,
        }
        if dims:
            route["delivery"] = list(r.delivery) + [0] * (dims - len(r.delivery))
        if r.distance is not None:
            route["distance"] = _num(r.distance)
        route["steps"] = steps
        routes.append(route)
    unassigned = []
    for j in inst.jobs:
        if j.id in routed:
            continue
        rule, text = reasons.get(j.id, ("capacity", "not in the plan"))
        item: dict[str, Any] = {"id": j.id, "type": "job"}
        item.update(_location(inst, j.location))
        item.update({"description": j.description, "reason": rule, "reason_text": text})
        unassigned.append(item)
    summary: dict[str, Any] = {
        "cost": _num(report.cost),
        "routes": len(routes),
        "unassigned": len(unassigned),
        "setup": 0,
        "service": _num(sum(r.service for r in report.routes)),
        "duration": _num(report.travel),
        "waiting_time": _num(report.waiting),
        "priority": report.priority_sum,
    }
    if dims:
        total = [0] * dims
        for r in report.routes:
            for k, q in enumerate(r.delivery):
                total[k] += q
        summary["delivery"] = total
    if report.distance is not None:
        summary["distance"] = _num(report.distance)
    if extra_summary:
        summary.update(extra_summary)
    summary["violations"] = list(report.violations)
    summary["computing_times"] = dict(computing_times or {"loading": 0, "solving": 0})
    return {"code": 0, "summary": summary, "unassigned": unassigned, "routes": routes}


def plan_report(inst: Instance, plan: Plan, idmap: IdMap) -> Report:
    """Check the plan's routes (by order only) on the instance, in the file's units."""
    return check(inst, plan_orders(plan, inst, idmap))


def plan_reasons(plan: Plan, idmap: IdMap) -> dict[Id, tuple[str, str]]:
    """The engine's reason for every job it left out, keyed by the file's job id."""
    return {idmap.job_ids[u.job_id]: (u.reason.value, u.message) for u in plan.unassigned}


def _flat(obj: Any) -> bool:
    """Scalars, and containers of scalars or of lists of scalars: printed on one line."""
    if isinstance(obj, dict):
        return all(not isinstance(v, dict | list) or _flat_list(v) for v in obj.values())
    return _flat_list(obj) if isinstance(obj, list) else True


def _flat_list(obj: Any) -> bool:
    return isinstance(obj, list) and all(not isinstance(v, dict | list) for v in obj)


def _dump(obj: Any, indent: int) -> str:
    if not isinstance(obj, dict | list) or not obj or _flat(obj):
        return json.dumps(obj, separators=(", ", ": "))
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {_dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_dump(v, indent + 1)}" for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def write_json(data: Any, out: Any) -> None:
    """Indented JSON with every step, unassigned job and amount on one line of its own:
    readable by people, still short for a thousand-job plan."""
    out.write(_dump(data, 0))
    out.write("\n")


__all__: Sequence[str] = (
    "parse_vroom",
    "plan_orders",
    "plan_reasons",
    "plan_report",
    "read_json",
    "read_vroom",
    "solution_json",
    "write_json",
)

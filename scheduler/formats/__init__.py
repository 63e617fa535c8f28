"""Instance files in, solution files out: VROOM JSON and Solomon / Gehring-Homberger text.

``load(path)`` reads either format into a format-neutral :class:`Instance`;
``to_problem`` turns that into the engine's Problem; ``check`` scores a solution by
its route orders alone, recomputing every time, which is how both our plans and
other engines' solutions are measured.
"""

from __future__ import annotations

from pathlib import Path

from .check import Report, check, routes_from_solution, simulate
from .errors import FormatError
from .instance import BreakSpec, IdMap, Instance, JobSpec, VehicleSpec, to_problem
from .solomon import read_solomon
from .vroom import (
    parse_vroom,
    plan_orders,
    plan_reasons,
    plan_report,
    read_json,
    read_vroom,
    solution_json,
    write_json,
)

FORMATS = ("auto", "vroom", "solomon")


def detect_format(path: str | Path) -> str:
    """By extension (.json -> vroom; .txt/.vrp -> solomon), else by the first character."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return "vroom"
    if suffix in (".txt", ".vrp"):
        return "solomon"
    try:
        with p.open("rb") as fh:
            head = fh.read(512).lstrip()
    except OSError as exc:
        raise FormatError(str(p), f"cannot read: {exc.strerror or exc}") from exc
    return "vroom" if head.startswith(b"{") else "solomon"


def load(path: str | Path, fmt: str = "auto") -> Instance:
    """Read ``path`` as ``fmt`` (auto, vroom, solomon)."""
    if fmt not in FORMATS:
        raise FormatError("--format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "auto":
        fmt = detect_format(path)
    return read_vroom(path) if fmt == "vroom" else read_solomon(path)


__all__ = [
    "FORMATS",
    "BreakSpec",
    "FormatError",
    "IdMap",
    "Instance",
    "JobSpec",
    "Report",
    "VehicleSpec",
    "check",
    "detect_format",
    "load",
    "parse_vroom",
    "plan_orders",
    "plan_reasons",
    "plan_report",
    "read_json",
    "read_solomon",
    "read_vroom",
    "routes_from_solution",
    "simulate",
    "solution_json",
    "to_problem",
    "write_json",
]

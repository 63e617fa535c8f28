"""Benchmark of the scheduler CLI on the shared VRPTW and field-service instances.

Runs ``python -m scheduler solve`` on every instance (a separate process each, as a
user would), then scores every plan with ``python -m scheduler verify``, the same
checker that scores VROOM's reference solutions for the field-service instances.

- ``vrptw/`` (Solomon, Gehring-Homberger 200): total real Euclidean distance, gap to
  ``distance_only_ref`` of ``references.csv`` (ours / ref - 1). A plan that leaves a
  customer out counts as infeasible here.
- ``fsr/`` (VROOM JSON): score ``[priority_sum, assigned, -travel_s]`` against
  VROOM's solution beside the problem; "meets VROOM" means a higher priority sum,
  or equal and more jobs, or both equal and travel within 2 % of VROOM's.

Every solve uses two workers by default (``--workers``), the issue's 2-core machine:
on Solomon the second one is a fleet search (fewest routes first), which is what
reaches the reference on instances like RC103 whose best plan has the fewest routes.

Usage: ``python bench/scheduler_bench.py [--only C1,fsr-S] [--time-limit S] [--workers N]
[--csv OUT]``.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = REPO.parent / "shared" / "bench"
VRPTW_TIME_LIMIT = 30.0  # seconds, the issue's Solomon target
FSR_TIME_LIMIT = 60.0  # seconds, the issue's field-service target
TRAVEL_TOLERANCE = 0.02  # fsr: at equal priority and count, travel within 2 % of VROOM's
WORKERS = 2  # parallel searches per solve: both cores of the target machine


@dataclass
class Row:
    instance: str
    suite: str  # vrptw or fsr
    family: str
    vehicles: int | None = None
    distance: float | None = None  # vrptw: real total distance
    score: list[float] | None = None  # fsr: [priority_sum, assigned, -travel]
    ref: str = ""  # the reference value as shown
    gap: float | None = None  # vrptw: distance gap; fsr: priority-sum gap
    meets: str = ""  # fsr: yes/no against VROOM
    feasible: bool = False
    wall: float = 0.0
    error: str = ""


def _cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def verify(problem: Path, solution: Path) -> dict:
    """The verify subcommand's JSON report (feasible, score, distance, ...)."""
    proc = _cli("verify", str(problem), str(solution), "--quiet", timeout=300)
    if proc.returncode not in (0, 1):
        raise RuntimeError(_last_line(proc.stderr) or f"verify exited {proc.returncode}")
    return json.loads(proc.stdout)


def family_of(name: str) -> tuple[str, str]:
    """(suite, family): C101 -> C1, RC2_2_1 -> RC2-200, fsr-M-1001 -> fsr-M."""
    if name.startswith("fsr-"):
        return "fsr", "-".join(name.split("-")[:2])
    m = re.match(r"^(RC|R|C)(\d)(_(\d+)_)?", name, re.IGNORECASE)
    if not m:
        return "vrptw", "other"
    fam = f"{m.group(1).upper()}{m.group(2)}"
    return "vrptw", fam if not m.group(4) else f"{fam}-{int(m.group(4)) * 100}"


def select(names: list[str], only: str | None) -> list[str]:
    """Comma-separated patterns: globs (``C1*``) or name prefixes (``RC1``), any case."""
    if not only:
        return names
    pats = [p.strip().upper() for p in only.split(",") if p.strip()]
    out = []
    for name in names:
        up = name.upper()
        for pat in pats:
            hit = fnmatch.fnmatchcase(up, pat) if any(c in pat for c in "*?[") else up == pat
            if hit or (not any(c in pat for c in "*?[") and up.startswith(pat)):
                out.append(name)
                break
    return out


def load_references(path: Path) -> dict[str, float]:
    refs: dict[str, float] = {}
    if not path.is_file():
        return refs
    with path.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            value = (rec.get("distance_only_ref") or "").strip()
            if value:
                refs[rec["instance"].strip().upper()] = float(value)
    return refs


def meets_vroom(ours: list[float], vroom: list[float]) -> bool:
    """Lexicographic with a 2 % travel tolerance at equal priority sum and count."""
    if ours[0] != vroom[0]:
        return ours[0] > vroom[0]
    if ours[1] != vroom[1]:
        return ours[1] > vroom[1]
    return -ours[2] <= -vroom[2] * (1 + TRAVEL_TOLERANCE)


def solve_one(
    path: Path, time_limit: float, seed: int, workers: int, workdir: Path
) -> tuple[Row, dict | None]:
    name = path.name.removesuffix(".problem.json").removesuffix(path.suffix)
    suite, family = family_of(name)
    row = Row(instance=name, suite=suite, family=family)
    out = workdir / f"{name}.solution.json"
    args = ["solve", str(path), "--time-limit", f"{time_limit:g}", "--seed", str(seed)]
    args += ["--workers", str(workers), "-o", str(out), "--quiet"]
    t0 = time.monotonic()
    try:
        proc = _cli(*args, timeout=2 * time_limit + 120)
    except subprocess.TimeoutExpired:
        row.wall = time.monotonic() - t0
        row.error = "timeout"
        return row, None
    row.wall = time.monotonic() - t0
    if proc.returncode != 0:
        row.error = _last_line(proc.stderr) or f"exit {proc.returncode}"
        return row, None
    report = verify(path, out)
    row.feasible = bool(report["feasible"])
    row.vehicles = int(report["vehicles_used"])
    if not row.feasible:
        row.error = "; ".join(report["violations"][:2])
    elif suite == "vrptw" and report["unassigned"]:
        # A VRPTW solution serves every customer; fewer would make the distance meaningless.
        row.feasible = False
        row.error = f"{report['unassigned']} customer(s) not served"
    return row, report


def _pct(x: float) -> str:
    """A signed percentage; -0.00% (a reference rounded to 2 decimals) shows as +0.00%."""
    value = round(x * 100, 2)
    return f"{value + 0.0:+.2f}%"


def _fmt_score(score: list[float] | None) -> str:
    return "" if score is None else "[" + ", ".join(f"{x:g}" for x in score) + "]"


def print_row(row: Row) -> None:
    value = f"{row.distance:.2f}" if row.distance is not None else _fmt_score(row.score)
    gap = "" if row.gap is None else _pct(row.gap)
    feas = "yes" if row.feasible else "NO"
    print(
        f"{row.instance:<12} {row.vehicles if row.vehicles is not None else '':>3} "
        f"{value:>24} {row.ref:>24} {gap:>8} {row.meets:>5} {feas:>4} {row.wall:7.1f}"
        + (f"  {row.error}" if row.error else ""),
        flush=True,
    )


def summarise(rows: list[Row]) -> list[str]:
    lines = []
    vrptw = [r for r in rows if r.suite == "vrptw"]
    if vrptw:
        gaps = [r.gap for r in vrptw if r.gap is not None and r.feasible]
        feasible = sum(r.feasible for r in vrptw)
        head = f"vrptw: {feasible}/{len(vrptw)} feasible"
        if gaps:
            mean, worst = statistics.mean(gaps) * 100, max(gaps) * 100
            head += (
                f"; gap to distance_only_ref on {len(gaps)}: mean {mean:+.2f}%, max {worst:+.2f}%"
            )
        lines.append(head)
        for fam in sorted({r.family for r in vrptw}):
            fg = [r.gap for r in vrptw if r.family == fam and r.gap is not None and r.feasible]
            n = sum(1 for r in vrptw if r.family == fam)
            ok = sum(r.feasible for r in vrptw if r.family == fam)
            text = f"  {fam:<8} {ok}/{n} feasible"
            if fg:
                text += f", mean gap {_pct(statistics.mean(fg))}, max {_pct(max(fg))}"
            lines.append(text)
    fsr = [r for r in rows if r.suite == "fsr"]
    if fsr:
        met = sum(r.meets == "yes" for r in fsr)
        feasible = sum(r.feasible for r in fsr)
        lines.append(
            f"fsr: {feasible}/{len(fsr)} feasible; score at least VROOM's on {met}/{len(fsr)}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH, help=f"({DEFAULT_BENCH})")
    ap.add_argument("--only", help="comma-separated names, prefixes or globs (C101,RC1,fsr-S*)")
    ap.add_argument("--time-limit", type=float, help="seconds for every instance (overrides both)")
    ap.add_argument("--vrptw-time-limit", type=float, default=VRPTW_TIME_LIMIT)
    ap.add_argument("--fsr-time-limit", type=float, default=FSR_TIME_LIMIT)
    ap.add_argument(
        "--workers", type=int, default=WORKERS, help=f"parallel searches per solve ({WORKERS})"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, help="write the table as CSV")
    ap.add_argument("--keep", type=Path, help="keep the solutions in this directory")
    args = ap.parse_args(argv)

    bench: Path = args.bench_dir
    if not bench.is_dir():
        print(f"error: benchmark directory not found: {bench}", file=sys.stderr)
        return 2
    vrptw_files = sorted((bench / "vrptw" / "solomon").glob("*.txt")) + sorted(
        (bench / "vrptw" / "gh200").glob("*.txt")
    )
    fsr_files = sorted((bench / "fsr").glob("*.problem.json"))
    by_name = {p.stem: p for p in vrptw_files}
    by_name.update({p.name.removesuffix(".problem.json"): p for p in fsr_files})
    names = select(list(by_name), args.only)
    if not names:
        print(f"error: no instance matches {args.only!r}", file=sys.stderr)
        return 2
    refs = load_references(bench / "vrptw" / "references.csv")

    print(
        f"{'instance':<12} {'veh':>3} {'distance / score':>24} {'reference':>24} {'gap':>8} "
        f"{'>=ref':>5} {'feas':>4} {'wall s':>7}",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in names:
            path = by_name[name]
            suite, _ = family_of(name)
            limit = args.time_limit or (
                args.vrptw_time_limit if suite == "vrptw" else args.fsr_time_limit
            )
            row, report = solve_one(path, limit, args.seed, args.workers, workdir)
            if suite == "vrptw":
                ref = refs.get(name.upper())
                row.ref = f"{ref:.2f}" if ref is not None else "-"
                if report is not None:
                    row.distance = float(report.get("distance", -report["score"][2]))
                    if ref and row.feasible:
                        row.gap = row.distance / ref - 1
            else:
                vroom_path = path.with_name(f"{name}.vroom.solution.json")
                if report is not None:
                    row.score = report["score"]
                if vroom_path.is_file():
                    vroom = verify(path, vroom_path)
                    row.ref = _fmt_score(vroom["score"]) + (
                        "" if vroom["feasible"] else " (infeasible)"
                    )
                    if row.score is not None and row.feasible:
                        row.gap = (
                            row.score[0] / vroom["score"][0] - 1 if vroom["score"][0] else None
                        )
                        row.meets = "yes" if meets_vroom(row.score, vroom["score"]) else "no"
                else:
                    row.ref = "-"
            rows.append(row)
            print_row(row)
    for line in summarise(rows):
        print(line)
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
            writer.writeheader()
            for r in rows:
                rec = asdict(r)
                rec["score"] = _fmt_score(r.score)
                writer.writerow(rec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Why a job is not in the plan.

Before solving, every job is tested alone against every technician shift, rule by
rule (skill, level, stock, territory, windows vs shift, reachability there and back
with the breaks); the job's reason is the rule the *most promising* shift stops at.
Jobs no shift can take never reach the solver. After solving, a job that was
feasible alone but left out is CAPACITY, with its cheapest feasible insertion and,
when none exists, what it would displace.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from .adapter import Slot
from .construct import fast_feasible
from .model import Job, Problem, Reason, Unassigned
from .timing import schedule

# Rule order of the pre-check: a shift that fails at a later stage is "closer".
STAGES = (
    Reason.SKILL,
    Reason.SKILL_LEVEL,
    Reason.STOCK,
    Reason.TERRITORY,
    Reason.TIME_WINDOW,
    Reason.UNREACHABLE,
)


def _hm(t: int) -> str:
    day, rest = divmod(int(t), 86_400)
    s = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return f"day {day} {s}" if day else s


@dataclass
class PreCheck:
    """Outcome of :func:`precheck`."""

    allowed: dict[str, list[int]]  # job id -> vehicles (slots) that can take it alone
    unassigned: dict[str, Unassigned]  # job id -> why no slot can


def _in_territory(problem: Problem, slots: Sequence[Slot]) -> dict[str, np.ndarray] | None:
    """Technician id -> boolean vector over places: inside its territory polygon."""
    if problem.points is None:
        return None
    lon = np.array([p.lon for p in problem.points])
    lat = np.array([p.lat for p in problem.points])
    out: dict[str, np.ndarray] = {}
    for s in slots:
        t = s.tech
        if t.territory is not None and t.id not in out:
            poly = shapely.Polygon(t.territory)
            out[t.id] = shapely.intersects_xy(poly, lon, lat)
    return out


def _stage(job: Job, slot: Slot, problem: Problem, terr: dict[str, np.ndarray] | None) -> int:
    """Index in STAGES of the first rule ``slot`` breaks for ``job`` alone; len(STAGES) = ok."""
    tech, sh = slot.tech, slot.shift
    if any(sk not in tech.skills for sk in job.skills):
        return 0
    if any(tech.skills[sk] < lvl for sk, lvl in job.skills.items()):
        return 1
    if tech.stock is not None and any(tech.stock.get(s, 0) < q for s, q in job.items.items()):
        return 2
    if tech.territory is not None and terr is not None and not terr[tech.id][job.location]:
        return 3
    last_start = sh.end - job.duration
    if job.pinned_start is not None:
        fits = sh.start <= job.pinned_start <= last_start
    elif job.time_windows:
        fits = any(w.start <= last_start and w.end >= sh.start for w in job.time_windows)
    else:
        fits = last_start >= sh.start
    if not fits:
        return 4
    if not fast_feasible([job], slot, problem.durations):
        return 5
    return len(STAGES)


def _stage_message(stage: int, job: Job, problem: Problem, slots: Sequence[Slot]) -> str:
    reason = STAGES[stage]
    if reason is Reason.SKILL:
        missing = [s for s in job.skills if not any(s in sl.tech.skills for sl in slots)]
        return f"no technician has skill {', '.join(missing) or '(required skills together)'}"
    if reason is Reason.SKILL_LEVEL:
        need = ", ".join(f"{s} >= {lvl}" for s, lvl in job.skills.items())
        return f"no technician reaches the required level ({need})"
    if reason is Reason.STOCK:
        need = ", ".join(f"{q} x {s}" for s, q in job.items.items() if q)
        return f"no qualified technician's van holds {need}"
    if reason is Reason.TERRITORY:
        return "the place is outside the territory of every qualified technician"
    if reason is Reason.TIME_WINDOW:
        ws = ", ".join(f"{_hm(w.start)}-{_hm(w.end)}" for w in job.time_windows) or "any"
        return f"no time window ({ws}) overlaps a qualified technician's shift"
    return "no qualified technician can get there, do it and get back within a shift and its breaks"


def precheck(problem: Problem, slots: Sequence[Slot]) -> PreCheck:
    """Test each job alone against every slot; see the module docstring."""
    terr = _in_territory(problem, slots)
    tech_ids = {t.id for t in problem.technicians}
    allowed: dict[str, list[int]] = {}
    out: dict[str, Unassigned] = {}
    earliest_end: dict[str, int] = {}
    for job in problem.jobs:
        cand = slots
        if job.pinned_technician is not None:
            cand = [s for s in slots if s.tech.id == job.pinned_technician]
        stages = [_stage(job, s, problem, terr) for s in cand]
        ok = [s.vehicle for s, st in zip(cand, stages, strict=True) if st == len(STAGES)]
        if ok:
            allowed[job.id] = ok
            # A lower bound on when it can end (drive there at once, first window).
            opens = job.pinned_start
            if opens is None:
                opens = min((w.start for w in job.time_windows), default=0)
            earliest_end[job.id] = job.duration + min(
                max(
                    opens,
                    slots[v].shift.start
                    + int(problem.durations[slots[v].shift.start_location, job.location]),
                )
                for v in ok
            )
            continue
        if job.pinned_technician is not None and job.pinned_technician not in tech_ids:
            msg = f"pinned to {job.pinned_technician}, who is not working in this horizon"
            out[job.id] = Unassigned(job.id, Reason.PINNED, msg)
            continue
        if job.pinned_technician is not None:
            best = max(stages, default=0)
            why = _stage_message(min(best, len(STAGES) - 1), job, problem, cand) if cand else ""
            when = f" at {_hm(job.pinned_start)}" if job.pinned_start is not None else ""
            msg = f"pinned to {job.pinned_technician}{when}, who cannot take it: {why}"
            out[job.id] = Unassigned(job.id, Reason.PINNED, msg.rstrip(": "))
            continue
        if not slots:
            msg = "no technician works a shift in this horizon"
            out[job.id] = Unassigned(job.id, Reason.TIME_WINDOW, msg)
            continue
        best = max(stages, default=0)
        out[job.id] = Unassigned(job.id, STAGES[best], _stage_message(best, job, problem, slots))
    _precedence(problem, slots, allowed, out, earliest_end)
    return PreCheck(allowed, out)


def _precedence(
    problem: Problem,
    slots: Sequence[Slot],
    allowed: dict[str, list[int]],
    out: dict[str, Unassigned],
    earliest_end: dict[str, int],
) -> None:
    """Drop successors of impossible predecessors, of cycles and of too-late chains."""
    ids = {j.id for j in problem.jobs}
    by_id = {j.id: j for j in problem.jobs}
    # Cycles first (the chain fixpoint below assumes none): a job preceding itself.
    for job in problem.jobs:
        if job.id in out:
            continue
        seen, stack = set(), [p for p in job.predecessors if p in ids]
        while stack:
            p = stack.pop()
            if p == job.id:
                out[job.id] = Unassigned(job.id, Reason.PRECEDENCE, "predecessors form a cycle")
                allowed.pop(job.id, None)
                break
            if p not in seen:
                seen.add(p)
                stack.extend(q for q in by_id[p].predecessors if q in ids)
    # Then the chain: earliest end of each predecessor against the latest start.
    changed = True
    while changed:
        changed = False
        for job in problem.jobs:
            if job.id in out:
                continue
            for pid in job.predecessors:
                if pid not in ids:
                    continue  # not in this batch: already done
                if pid in out:
                    out[job.id] = Unassigned(
                        job.id, Reason.PRECEDENCE, f"predecessor {pid} cannot be planned"
                    )
                    allowed.pop(job.id, None)
                    changed = True
                    break
                latest = _latest_start(by_id[job.id], [slots[v] for v in allowed[job.id]])
                if earliest_end[pid] > latest:
                    out[job.id] = Unassigned(
                        job.id,
                        Reason.PRECEDENCE,
                        f"predecessor {pid} cannot end ({_hm(earliest_end[pid])}) before "
                        f"this job's latest start ({_hm(latest)})",
                    )
                    allowed.pop(job.id, None)
                    changed = True
                    break
                if earliest_end[pid] > earliest_end[job.id] - by_id[job.id].duration:
                    earliest_end[job.id] = earliest_end[pid] + by_id[job.id].duration
                    changed = True


def _latest_start(job: Job, slots: Sequence[Slot]) -> int:
    if job.pinned_start is not None:
        return job.pinned_start
    best = 0
    for s in slots:
        last = s.shift.end - job.duration
        if job.time_windows:
            last = min(last, max(w.end for w in job.time_windows))
        best = max(best, last)
    return best


# ---------------------------------------------------------------------- after solving
def capacity_reasons(
    problem: Problem,
    slots: Sequence[Slot],
    routes: Sequence[Sequence[Job]],
    left_out: Sequence[Job],
    allowed: dict[str, list[int]],
    budget_s: float = 5.0,
    max_checks: int = 60,
) -> list[Unassigned]:
    """CAPACITY reasons with the cheapest feasible insertion or what it would displace.

    ``routes[v]`` are the jobs of slot ``v`` in order. Candidates are ranked by added
    travel cost and checked with the full timing (windows, breaks, shift, max work)
    and stock; at most ``max_checks`` per job, all within ``budget_s`` seconds.
    """
    costs = np.asarray(problem.costs if problem.costs is not None else problem.durations)
    deadline = time.monotonic() + budget_s
    out: list[Unassigned] = []
    for job in sorted(left_out, key=lambda j: -j.priority):
        cands: list[tuple[float, int, int]] = []
        for v in allowed.get(job.id, []):
            sh = slots[v].shift
            locs = [sh.start_location] + [j.location for j in routes[v]] + [sh.end_location]
            for pos in range(len(locs) - 1):
                a, b = locs[pos], locs[pos + 1]
                delta = costs[a, job.location] + costs[job.location, b] - costs[a, b]
                cands.append((float(delta), v, pos))
        cands.sort()
        detail: dict[str, Any] = {}
        msg = "feasible alone but left out: every qualified technician's day is full"
        if time.monotonic() < deadline:
            found = None
            for delta, v, pos in cands[:max_checks]:
                seq = list(routes[v])
                seq.insert(pos, job)
                if _fits(problem, slots[v], seq):
                    found = (delta, v, pos)
                    break
            if found is not None:
                delta, v, pos = found
                s = slots[v]
                detail = {
                    "technician_id": s.tech.id,
                    "day": s.shift.day,
                    "position": pos,
                    "added_cost": round(delta, 3),
                    "displaces": [],
                    "missing_seconds": 0,
                }
                msg = (
                    f"left out: it fits with {s.tech.id} on day {s.shift.day} at position "
                    f"{pos} (+{delta:.0f} travel cost), which costs more than its priority "
                    f"{job.priority} is worth"
                )
            elif cands:
                detail, msg = _displacement(problem, slots, routes, job, cands[:5])
        out.append(Unassigned(job.id, Reason.CAPACITY, msg, detail))
    return out


def _fits(problem: Problem, slot: Slot, seq: Sequence[Job]) -> bool:
    tech = slot.tech
    if tech.stock is not None:
        used: dict[str, int] = {}
        for j in seq:
            for sku, q in j.items.items():
                used[sku] = used.get(sku, 0) + q
        if any(q > tech.stock.get(sku, 0) for sku, q in used.items()):
            return False
    fixed = [j.pinned_start for j in seq]
    return schedule(seq, slot.shift, problem.durations, fixed).overrun == 0


def _displacement(
    problem: Problem,
    slots: Sequence[Slot],
    routes: Sequence[Sequence[Job]],
    job: Job,
    cands: Sequence[tuple[float, int, int]],
) -> tuple[dict[str, Any], str]:
    """Among the cheapest positions, the one needing the least priority removed."""
    best: tuple[int, float, int, int, list[Job], int] | None = None
    for delta, v, pos in cands:
        seq = list(routes[v])
        seq.insert(pos, job)
        fixed = [j.pinned_start for j in seq]
        missing = schedule(seq, slots[v].shift, problem.durations, fixed).overrun
        removed: list[Job] = []
        # Remove lower-priority, unpinned work, least important (then longest) first.
        pool = sorted(
            (j for j in routes[v] if j.priority < job.priority and j.pinned_start is None),
            key=lambda j: (j.priority, -j.duration),
        )
        while pool and not _fits(problem, slots[v], seq):
            victim = pool.pop(0)
            seq.remove(victim)
            removed.append(victim)
        if not _fits(problem, slots[v], seq):
            continue
        lost = sum(j.priority for j in removed)
        key = (lost, delta)
        if best is None or key < (best[0], best[1]):
            best = (lost, delta, v, pos, removed, missing)
    if best is None:
        delta, v, pos = cands[0]
        s = slots[v]
        seq = list(routes[v])
        seq.insert(pos, job)
        missing = schedule(seq, s.shift, problem.durations, [j.pinned_start for j in seq]).overrun
        detail = {
            "technician_id": s.tech.id,
            "day": s.shift.day,
            "position": pos,
            "added_cost": round(delta, 3),
            "displaces": None,
            "missing_seconds": int(missing),
        }
        return detail, (
            f"left out for capacity: cheapest place is with {s.tech.id} on day {s.shift.day} "
            f"(+{delta:.0f} travel cost), {missing // 60} min short, and only work of equal "
            "or higher priority could make room"
        )
    lost, delta, v, pos, removed, missing = best
    s = slots[v]
    names = ", ".join(f"{j.id} (priority {j.priority})" for j in removed) or "nothing"
    detail = {
        "technician_id": s.tech.id,
        "day": s.shift.day,
        "position": pos,
        "added_cost": round(delta, 3),
        "displaces": [j.id for j in removed],
        "missing_seconds": int(missing),
    }
    return detail, (
        f"left out for capacity: with {s.tech.id} on day {s.shift.day} (+{delta:.0f} travel "
        f"cost) the day is {missing // 60} min short; it would displace {names}"
    )

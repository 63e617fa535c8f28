"""``verify(problem, plan) -> [Violation]``: an independent check of a plan.

Nothing in the plan is trusted: every arrival is recomputed from the previous
departure and the travel matrix, every quantity from the jobs. Shares no code with
the solver beyond the data model. An empty list means the plan keeps every hard rule.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import shapely

from .model import Job, Plan, Problem, Route, Shift, Technician, Violation


def verify(problem: Problem, plan: Plan) -> list[Violation]:
    """Every hard-rule violation in ``plan`` (see the module docstring)."""
    out: list[Violation] = []
    jobs = {j.id: j for j in problem.jobs}
    techs = {t.id: t for t in problem.technicians}
    seen: Counter[str] = Counter()
    where: dict[str, tuple[Route, int]] = {}  # job id -> (route, start)
    used_shifts: Counter[tuple[str, int, int]] = Counter()

    for route in plan.routes:
        tech = techs.get(route.technician_id)
        if tech is None:
            out.append(Violation("unknown", f"unknown technician {route.technician_id!r}"))
            continue
        same_day = [s for s in tech.shifts if s.day == route.day]
        # Several shifts on one day (split shift): the one the route starts in.
        shift = next((s for s in same_day if s.start <= route.start <= s.end), None)
        shift = shift or (same_day[0] if same_day else None)
        if shift is None:
            out.append(
                Violation("shift", f"{tech.id} has no shift on day {route.day}", None, tech.id)
            )
            continue
        used_shifts[(tech.id, route.day, shift.start)] += 1
        for v in route.visits:
            seen[v.job_id] += 1
            if v.job_id in jobs:
                where[v.job_id] = (route, v.start)
        out += _check_route(problem, route, tech, shift, jobs)

    for key, n in used_shifts.items():
        if n > 1:
            out.append(Violation("shift", f"{key[0]} has {n} routes on day {key[1]}", None, key[0]))
    for jid, n in seen.items():
        if jid not in jobs:
            out.append(Violation("unknown", f"plan visits unknown job {jid!r}", jid))
        elif n > 1:
            out.append(Violation("once", f"job {jid} is visited {n} times", jid))
    unassigned = Counter(u.job_id for u in plan.unassigned)
    for jid, n in unassigned.items():
        if jid not in jobs:
            out.append(Violation("unknown", f"unassigned lists unknown job {jid!r}", jid))
        elif n > 1 or jid in seen:
            out.append(Violation("once", f"job {jid} is both planned and unassigned", jid))
    for jid in jobs:
        if jid not in seen and jid not in unassigned:
            out.append(Violation("missing", f"job {jid} is neither planned nor unassigned", jid))

    # Precedence: the predecessor is planned and ends before the successor starts.
    for jid, (_route, start) in where.items():
        for pid in jobs[jid].predecessors:
            if pid not in jobs:
                continue  # outside this batch: already done
            if pid not in where:
                out.append(Violation("precedence", f"{jid} planned without predecessor {pid}", jid))
                continue
            p_end = where[pid][1] + jobs[pid].duration
            if p_end > start:
                out.append(
                    Violation(
                        "precedence", f"{jid} starts at {start} before {pid} ends ({p_end})", jid
                    )
                )

    k = plan.kpis
    n_planned = sum(1 for j in seen if j in jobs)
    if k.jobs_assigned != n_planned:
        out.append(Violation("kpi", f"kpis.jobs_assigned {k.jobs_assigned} != {n_planned}"))
    prio = sum(jobs[j].priority for j in seen if j in jobs)
    if k.priority_assigned != prio:
        out.append(Violation("kpi", f"kpis.priority_assigned {k.priority_assigned} != {prio}"))
    return out


def _check_route(
    problem: Problem, route: Route, tech: Technician, shift: Shift, jobs: dict[str, Job]
) -> list[Violation]:
    out: list[Violation] = []
    tid = tech.id
    dur = np.asarray(problem.durations)

    def bad(rule: str, msg: str, jid: str | None = None) -> None:
        out.append(Violation(rule, f"{tid} day {route.day}: {msg}", jid, tid))

    if route.start < shift.start:
        bad("shift", f"leaves at {route.start} before the shift starts ({shift.start})")
    if route.end > shift.end:
        bad("shift", f"back at {route.end} after the shift ends ({shift.end})")

    # Breaks: one per shift break, in its window, inside the route, not overlapping.
    planned = sorted((b.start, b.end) for b in route.breaks)
    wanted = sorted(shift.breaks, key=lambda b: (b.earliest, b.latest))
    if len(planned) != len(wanted):
        bad("break", f"{len(planned)} breaks planned, the shift has {len(wanted)}")
    for (bs, be), b in zip(planned, wanted, strict=False):
        if be - bs != b.duration:
            bad("break", f"break {bs}-{be} lasts {be - bs} s, not {b.duration}")
        if not b.earliest <= bs <= b.latest:
            bad("break", f"break starts at {bs}, outside [{b.earliest}, {b.latest}]")
        if bs < route.start or be > route.end:
            bad("break", f"break {bs}-{be} outside the route {route.start}-{route.end}")
    for (a0, a1), (b0, _) in itertools.pairwise(planned):
        if b0 < a1:
            bad("break", f"breaks {a0}-{a1} and {b0} overlap")

    # Times, recomputed leg by leg.
    loc, free = shift.start_location, route.start
    travel_sum = 0
    items: Counter[str] = Counter()
    inside = _territory(problem, tech)
    for v in route.visits:
        job = jobs.get(v.job_id)
        if job is None:
            continue
        jid = job.id
        leg = int(dur[loc, job.location])
        travel_sum += leg
        if v.travel != leg:
            bad("time", f"{jid}: travel {v.travel} s, the matrix says {leg} s", jid)
        for bs, be in planned:
            if bs < v.end and be > v.start:
                bad("break", f"break {bs}-{be} overlaps the visit of {jid}", jid)
        gap = [(bs, be) for bs, be in planned if free <= bs and be <= v.start]
        paused = sum(be - bs for bs, be in gap)
        if v.start < free + leg + paused:
            bad(
                "time",
                f"{jid}: starts at {v.start}, but cannot arrive before {free + leg + paused}",
                jid,
            )
        if v.end != v.start + job.duration:
            bad("time", f"{jid}: end {v.end} != start + duration {v.start + job.duration}", jid)
        if v.arrival < free + leg or v.arrival > v.start or v.wait < 0:
            bad("time", f"{jid}: arrival {v.arrival} / wait {v.wait} inconsistent", jid)
        if job.time_windows and not any(w.start <= v.start <= w.end for w in job.time_windows):
            bad("time_window", f"{jid}: starts at {v.start}, outside every time window", jid)
        late = max(0, v.end - job.sla_due) if job.sla_due is not None else 0
        if v.late != late:
            bad("time", f"{jid}: late {v.late} s reported, {late} s recomputed", jid)
        if job.pinned_start is not None and v.start != job.pinned_start:
            bad("pinned", f"{jid}: pinned at {job.pinned_start}, starts at {v.start}", jid)
        if job.pinned_technician is not None and job.pinned_technician != tid:
            bad("pinned", f"{jid}: pinned to {job.pinned_technician}", jid)
        for sk, lvl in job.skills.items():
            have = tech.skills.get(sk)
            if have is None:
                bad("skill", f"{jid}: needs skill {sk!r}", jid)
            elif have < lvl:
                bad("skill_level", f"{jid}: needs {sk!r} level {lvl}, has {have}", jid)
        if inside is not None and not inside[job.location]:
            bad("territory", f"{jid}: place {job.location} is outside the territory", jid)
        items.update({k: q for k, q in job.items.items() if q})
        loc, free = job.location, max(free, v.end)
    leg = int(dur[loc, shift.end_location])
    travel_sum += leg
    tail = sum(be - bs for bs, be in planned if be > free)
    if route.end < free + leg + tail:
        bad("time", f"back at {route.end}, cannot be before {free + leg + tail}")
    if route.travel != travel_sum:
        bad("time", f"route travel {route.travel} s, recomputed {travel_sum} s")
    if shift.max_work is not None:
        work = route.end - route.start - sum(be - bs for bs, be in planned)
        if work > shift.max_work:
            bad("max_work", f"works {work} s, more than {shift.max_work} s")
    if tech.stock is not None:
        for sku, q in items.items():
            if q > tech.stock.get(sku, 0):
                bad("stock", f"uses {q} x {sku}, the van holds {tech.stock.get(sku, 0)}")
    return out


def _territory(problem: Problem, tech: Technician) -> np.ndarray | None:
    if tech.territory is None or problem.points is None:
        return None
    lon = np.array([p.lon for p in problem.points])
    lat = np.array([p.lat for p in problem.points])
    return shapely.intersects_xy(shapely.Polygon(tech.territory), lon, lat)

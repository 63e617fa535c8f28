"""A fast, priority-first insertion heuristic that gives the search its first solution.

OR-Tools' own insertion heuristics check every insertion with the full dimension
filters (breaks are expensive there), which takes minutes on 1,000 jobs. This one
inserts jobs in order of priority (then tighter windows first) at the cheapest
position that keeps the route feasible by :mod:`scheduler.timing`, whose rules are
at least as strict as the solver model's, so OR-Tools accepts the result as is.
A successor is offered only after its predecessors are in, and only where it can
start after they end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .adapter import Instance, Slot
from .model import Break, Job, Objective, Shift
from .timing import Timed, _simulate, schedule, window_start

MAX_CHECKS = 25  # feasibility checks per job, cheapest positions first


def _fast_schedule(seq: Sequence[Job], slot: Slot, dur: np.ndarray) -> Timed:
    """Like timing.schedule, but with one break only tries the gaps around its natural spot."""
    sh = slot.shift
    fixed = [j.pinned_start for j in seq]
    if len(sh.breaks) != 1:
        return schedule(seq, sh, dur, fixed)
    br = sh.breaks[0]
    locs = [sh.start_location] + [j.location for j in seq] + [sh.end_location]
    legs = [int(dur[locs[k], locs[k + 1]]) for k in range(len(locs) - 1)]
    natural = _natural_gap(seq, sh, legs, br)
    best = None
    for g in (natural, natural + 1, natural - 1, natural + 2):
        if 0 <= g <= len(seq):
            res = _simulate(seq, sh, legs, [br], (g,), fixed)
            if res.overrun == 0:
                return res
            if best is None or res.overrun < best.overrun:
                best = res
    assert best is not None
    return best


def _one_break_ok(
    seq: Sequence[Job], shift: Shift, legs: Sequence[int], br: Break | None, gap: int
) -> bool:
    """Feasibility of ``seq`` with the single break in ``gap``; stops at the first miss.

    Same rules as timing._simulate (break as early as its window allows, interrupting
    the drive or taken on arrival), written flat because it runs in the inner loop.
    """
    t = shift.start
    first_wait = None
    n = len(seq)
    for i in range(n + 1):
        leg = legs[i]
        if i == gap and br is not None:
            bs = t if t > br.earliest else br.earliest
            if bs > br.latest:
                return False
            ready = t + leg + br.duration if bs < t + leg else bs + br.duration
        else:
            ready = t + leg
        if i == n:
            if ready > shift.end:
                return False
            if shift.max_work is not None:
                depart = shift.start + (first_wait or 0)
                pause = br.duration if br is not None else 0
                if ready - depart - pause > shift.max_work:
                    return False
            return True
        job = seq[i]
        start = ready
        ws = job.time_windows
        if len(ws) == 1:
            w = ws[0]
            if ready > w.end:
                return False
            if w.start > ready:
                start = w.start
        elif ws:
            start, late = window_start(job, ready)
            if late:
                return False
        pin = job.pinned_start
        if pin is not None:
            if start > pin:
                return False
            start = pin
        if i == 0 and gap != 0:
            first_wait = start - ready
        t = start + job.duration
    return True


def fast_feasible(seq: Sequence[Job], slot: Slot, dur: np.ndarray) -> bool:
    """Whether ``seq`` fits ``slot`` (times only), trying the break's likely gaps."""
    sh = slot.shift
    if len(sh.breaks) > 1:
        return _fast_schedule(seq, slot, dur).overrun == 0
    locs = [sh.start_location] + [j.location for j in seq] + [sh.end_location]
    legs = [int(dur[locs[k], locs[k + 1]]) for k in range(len(locs) - 1)]
    if not sh.breaks:
        return _one_break_ok(seq, sh, legs, None, -1)
    br = sh.breaks[0]
    natural = _natural_gap(seq, sh, legs, br)
    for g in (natural, natural + 1, natural - 1, natural + 2):
        if 0 <= g <= len(seq) and _one_break_ok(seq, sh, legs, br, g):
            return True
    return False


def _natural_gap(seq: Sequence[Job], sh: Shift, legs: Sequence[int], br: Break) -> int:
    """After the last job that would end before the break may start (no break taken)."""
    t, natural = sh.start, 0
    for k, j in enumerate(seq):
        t = t + legs[k]
        if j.time_windows:
            t = max(t, min(w.start for w in j.time_windows))
        t += j.duration
        if t <= br.earliest:
            natural = k + 1
        else:
            break
    return natural


def construct(inst: Instance, seconds: float) -> list[list[int]]:
    """Routes (per vehicle, job positions in order): every job offered once, in order."""
    from .lns import Lns  # the insertion move lives with the ruin-and-recreate search

    objective, jobs, slots = inst.params.objective, inst.jobs, inst.slots
    lns = Lns(inst)

    def width(j: Job) -> int:
        if j.pinned_start is not None:
            return -1
        return sum(w.end - w.start for w in j.time_windows) if j.time_windows else 10**9

    def key(k: int) -> tuple:
        j = jobs[k]
        pinned = j.pinned_start is not None or j.pinned_technician is not None
        prio = 0 if objective is Objective.DISTANCE else -j.priority
        return (not pinned, prio, width(j), k)

    routes: list[list[int]] = [[] for _ in slots]
    order = sorted(range(len(jobs)), key=key)
    lns.recreate(routes, order, [0] * len(slots), keep_order=True, deadline=seconds)
    return routes

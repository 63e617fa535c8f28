"""Earliest schedule of a fixed sequence of jobs on one shift, breaks included.

Used outside the solver: the pre-check (one job alone), the insertion analysis for
jobs left out, and to report arrival/wait. Semantics match the solver's model:
service starts inside a window; a break has no place and may interrupt driving or
be taken while waiting; the route starts at the shift start (later if the first
stop would only make the technician wait) and must be home by the shift end.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .model import Break, Job, Shift

MAX_BREAK_COMBOS = 400  # cap on break-placement combinations tried per sequence


def window_start(job: Job, ready: int) -> tuple[int, int]:
    """(start, lateness): earliest start >= ``ready`` inside a window, or lateness past them."""
    if not job.time_windows:
        return ready, 0
    best_late = None
    for w in sorted(job.time_windows, key=lambda w: w.start):
        if ready <= w.end:
            return max(ready, w.start), 0
        late = ready - w.end
        best_late = late if best_late is None else min(best_late, late)
    return ready, int(best_late or 0)


def drive_with_breaks(
    depart: int, travel: int, breaks: Sequence[Break]
) -> tuple[int, int, list[tuple[int, int]], int]:
    """Drive ``travel`` seconds from ``depart``, taking ``breaks`` (sorted) on the way.

    A break starts as soon as its window opens; it interrupts driving if that is
    before arrival, else it is taken on arrival. Returns (arrival, ready, placed
    breaks, lateness of break starts past their latest).
    """
    cur, rem, placed, late = depart, travel, [], 0
    arrival = None
    for br in breaks:
        bs = max(cur, br.earliest)
        if rem and bs >= cur + rem:  # arrive before the break can start
            cur += rem
            rem = 0
            arrival = cur
            bs = max(cur, br.earliest)
        elif rem:
            rem -= bs - cur
        late += max(0, bs - br.latest)
        placed.append((bs, bs + br.duration))
        cur = bs + br.duration
    if arrival is None:
        arrival = cur + rem
    return arrival, cur + rem, placed, late


@dataclass(frozen=True)
class Timed:
    """Result of :func:`schedule`: ``overrun`` 0 means the sequence is feasible."""

    overrun: int  # summed seconds by which windows, breaks, shift end or max work are missed
    starts: tuple[int, ...]
    arrivals: tuple[int, ...]
    breaks: tuple[tuple[int, int], ...]
    depart: int
    end: int
    travel: int


def schedule(
    jobs: Sequence[Job], shift: Shift, durations: np.ndarray, fixed: Sequence[int | None] = ()
) -> Timed:
    """Earliest schedule of ``jobs`` in this order on ``shift``, trying every break placement.

    ``fixed[k]`` (optional) pins the start of the k-th job (pinned jobs). Returns
    the placement with the smallest overrun (then the earliest end).
    """
    locs = [shift.start_location] + [j.location for j in jobs] + [shift.end_location]
    legs = [int(durations[locs[k], locs[k + 1]]) for k in range(len(locs) - 1)]
    brs = sorted(shift.breaks, key=lambda b: (b.earliest, b.latest))
    n_gaps = len(jobs) + 1
    combos = itertools.combinations_with_replacement(range(n_gaps), len(brs))
    best: Timed | None = None
    for combo in itertools.islice(combos, MAX_BREAK_COMBOS):
        t = _simulate(jobs, shift, legs, brs, combo, fixed)
        if best is None or (t.overrun, t.end) < (best.overrun, best.end):
            best = t
            if t.overrun == 0:
                break
    assert best is not None
    return best


def _simulate(
    jobs: Sequence[Job],
    shift: Shift,
    legs: Sequence[int],
    brs: Sequence[Break],
    combo: Sequence[int],
    fixed: Sequence[int | None],
) -> Timed:
    t = shift.start
    overrun = 0
    starts: list[int] = []
    arrivals: list[int] = []
    placed: list[tuple[int, int]] = []
    first_wait = None
    for g in range(len(jobs) + 1):
        here = [b for b, gap in zip(brs, combo, strict=True) if gap == g]
        arrival, ready, pl, late = drive_with_breaks(t, legs[g], here)
        overrun += late
        placed.extend(pl)
        if g == len(jobs):
            end = ready
            break
        job = jobs[g]
        start, late = window_start(job, ready)
        pin = fixed[g] if g < len(fixed) else None
        if pin is not None:
            late += max(0, start - pin)
            start = max(start, pin)
        overrun += late
        if g == 0 and not here:
            first_wait = start - ready
        arrivals.append(arrival)
        starts.append(start)
        t = start + job.duration
    overrun += max(0, end - shift.end)
    depart = shift.start + (first_wait or 0)
    if shift.max_work is not None:
        work = end - depart - sum(b - a for a, b in placed)
        overrun += max(0, work - shift.max_work)
    return Timed(overrun, tuple(starts), tuple(arrivals), tuple(placed), depart, end, sum(legs))

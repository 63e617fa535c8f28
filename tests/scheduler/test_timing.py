"""The route timing used outside the solver (pre-check, insertion, LNS)."""

from __future__ import annotations

import random

import numpy as np
from sched_helpers import H, M, shift

from scheduler import Break, Job, TimeWindow, demo_problem
from scheduler.adapter import make_slots
from scheduler.construct import fast_feasible
from scheduler.timing import drive_with_breaks, schedule, window_start


def test_window_start_picks_the_first_open_window():
    job = Job("j", 0, H, time_windows=(TimeWindow(14 * H, 15 * H), TimeWindow(9 * H, 10 * H)))
    assert window_start(job, 8 * H) == (9 * H, 0)
    assert window_start(job, 11 * H) == (14 * H, 0)
    assert window_start(job, 16 * H) == (16 * H, H)  # an hour past the last window


def test_break_interrupts_the_drive_or_waits_on_arrival():
    lunch = Break(30 * M, 12 * H, 13 * H)
    # Leaving 11:50 on a 20 min drive: 10 min driven, lunch at 12:00, 10 min more.
    arrival, ready, placed, late = drive_with_breaks(11 * H + 50 * M, 20 * M, [lunch])
    assert placed == [(12 * H, 12 * H + 30 * M)]
    assert arrival == ready == 12 * H + 40 * M
    assert late == 0
    # Leaving 11:00 on a 10 min drive: arrive 11:10, lunch at 12:00 on the spot.
    arrival, ready, placed, _ = drive_with_breaks(11 * H, 10 * M, [lunch])
    assert arrival == 11 * H + 10 * M
    assert ready == 12 * H + 30 * M


def test_fast_check_never_accepts_what_the_full_check_rejects():
    p = demo_problem("small", seed=7)
    slots = make_slots(p)
    rng = random.Random(0)
    accepted = 0
    for _ in range(300):
        slot = rng.choice(slots)
        seq = rng.sample(list(p.jobs), rng.randint(1, 7))
        if fast_feasible(seq, slot, p.durations):
            accepted += 1
            assert schedule(seq, slot.shift, p.durations).overrun == 0
    assert accepted > 20  # the property was exercised


def test_max_work_counts_waiting_but_not_the_break():
    sh = shift(start=8 * H, end=17 * H, breaks=(Break(H, 12 * H, 12 * H),), max_work=4 * H)
    a = Job("a", 0, 2 * H, time_windows=(TimeWindow(8 * H, 8 * H),))
    b = Job("b", 0, H, time_windows=(TimeWindow(13 * H, 13 * H),))
    # 8-10 work, wait 10-12, lunch 12-13, 13-14 work: 5 h of work + waiting > 4 h.
    assert schedule([a, b], sh, np.zeros((1, 1), dtype=int)).overrun > 0
    assert schedule([a], sh, np.zeros((1, 1), dtype=int)).overrun == 0

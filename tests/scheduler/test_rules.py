"""Each hard rule holds where breaking it would be cheaper."""

from __future__ import annotations

from sched_helpers import H, M, problem, run, shift, tech, visit, where

from scheduler import Break, Job, Point, TimeWindow


def test_skill_sends_the_far_technician():
    # Place 0: A's depot, next to the job at 1; B lives far away at 2.
    p = problem(
        [tech("A", 0, {"copper": 3}), tech("B", 2, {"fiber": 3})],
        [Job("j", 1, 30 * M, skills={"fiber": 1})],
        [0, 1, 60],
    )
    assert where(run(p), "j") == "B"


def test_skill_level_sends_the_qualified_technician():
    p = problem(
        [tech("A", 0, {"fiber": 1}), tech("B", 2, {"fiber": 4})],
        [Job("j", 1, 30 * M, skills={"fiber": 3})],
        [0, 1, 60],
    )
    assert where(run(p), "j") == "B"


def test_time_window_forces_the_longer_order():
    # Cheapest is 0 -> a(10) -> b(20) -> 0, but b must start before 8:30.
    jobs = [
        Job("a", 1, 30 * M),
        Job("b", 2, 30 * M, time_windows=(TimeWindow(8 * H, 8 * H + 30 * M),)),
    ]
    plan = run(problem([tech("A")], jobs, [0, 10, 20]))
    order = [v.job_id for v in plan.routes[0].visits]
    assert order == ["b", "a"]
    assert visit(plan, "b").start <= 8 * H + 30 * M


def test_several_windows_use_the_later_one():
    windows = (TimeWindow(6 * H, 7 * H), TimeWindow(14 * H, 15 * H))
    plan = run(problem([tech("A")], [Job("j", 1, 30 * M, time_windows=windows)], [0, 5]))
    assert 14 * H <= visit(plan, "j").start <= 15 * H


def test_shift_end_is_kept():
    # A is next door but its shift ends at 9:00; the 2 h job goes to B.
    a = tech("A", 0, shifts=(shift(start=8 * H, end=9 * H, loc=0),))
    b = tech("B", 2, shifts=(shift(loc=2),))
    plan = run(problem([a, b], [Job("j", 1, 2 * H)], [0, 1, 40]))
    assert where(plan, "j") == "B"


def test_lunch_break_in_its_window_and_not_during_work():
    lunch = Break(30 * M, 12 * H, 12 * H)  # exactly at noon
    a = tech("A", shifts=(shift(breaks=(lunch,)),))
    jobs = [Job(f"j{k}", 1 + k % 3, 50 * M) for k in range(8)]
    plan = run(problem([a], jobs, [0, 5, 6, 7]))
    route = plan.routes[0]
    assert [(b.start, b.end) for b in route.breaks] == [(12 * H, 12 * H + 30 * M)]
    for v in route.visits:
        assert v.end <= 12 * H or v.start >= 12 * H + 30 * M


def test_break_stays_inside_the_route():
    # Lunch window opens before the shift starts; the break may not fall before it.
    a = tech("A", shifts=(shift(start=11 * H, end=17 * H, breaks=(Break(30 * M, 9 * H, 13 * H),)),))
    plan = run(problem([a], [Job("j", 1, 30 * M)], [0, 10]))
    route = plan.routes[0]
    assert route.start <= route.breaks[0].start
    assert route.breaks[0].end <= route.end


def test_max_work_limits_a_close_technician():
    a = tech("A", 0, shifts=(shift(loc=0, max_work=2 * H),))
    b = tech("B", 4, shifts=(shift(loc=4),))
    jobs = [Job(f"j{k}", 1 + k, 50 * M) for k in range(3)]
    plan = run(problem([a, b], jobs, [0, 1, 2, 3, 50]))
    on_a = [v for r in plan.routes if r.technician_id == "A" for v in r.visits]
    assert 1 <= len(on_a) <= 2
    assert plan.kpis.jobs_assigned == 3


def test_van_stock_per_sku():
    a = tech("A", 0, stock={"ont": 1, "stb": 5})
    b = tech("B", 3, stock={"ont": 5, "stb": 5})
    jobs = [Job("x", 1, 20 * M, items={"ont": 1}), Job("y", 2, 20 * M, items={"ont": 1})]
    plan = run(problem([a, b], jobs, [0, 1, 2, 90]))
    assert {where(plan, "x"), where(plan, "y")} == {"A", "B"}


def test_territory_polygon():
    # A's territory is the box west of lon 4.85; the job is just east of it.
    west = ((4.70, 45.70), (4.85, 45.70), (4.85, 45.80), (4.70, 45.80))
    pts = [Point(4.84, 45.75), Point(4.86, 45.75), Point(4.99, 45.75)]
    a = tech("A", 0, territory=west)
    b = tech("B", 2)
    p = problem([a, b], [Job("j", 1, 30 * M)], [0, 1, 60], points=pts)
    assert where(run(p), "j") == "B"


def test_pinned_job_stays_with_its_technician_and_time():
    a = tech("A", 0)
    b = tech("B", 2)
    pinned = Job("j", 1, 30 * M, pinned_technician="B", pinned_start=10 * H)
    plan = run(problem([a, b], [pinned], [0, 1, 60]))
    assert where(plan, "j") == "B"
    assert visit(plan, "j").start == 10 * H


def test_precedence_across_routes():
    # Phase 1 (2 h) near A, phase 2 near B; B would like to start right away.
    a = tech("A", 0, {"splicing": 2})
    b = tech("B", 3, {"splicing": 2})
    jobs = [
        Job("p1", 1, 2 * H, skills={"splicing": 1}),
        Job("p2", 2, 30 * M, skills={"splicing": 1}, predecessors=("p1",)),
    ]
    plan = run(problem([a, b], jobs, [0, 1, 59, 60]))
    assert visit(plan, "p2").start >= visit(plan, "p1").end


def test_precedence_over_days():
    days = (shift(day=0), shift(day=1))
    a = tech("A", 0, shifts=days)
    jobs = [
        Job("p1", 1, 8 * H),
        Job("p2", 1, 2 * H, predecessors=("p1",)),
    ]
    plan = run(problem([a], jobs, [0, 1]))
    assert visit(plan, "p2").start >= visit(plan, "p1").end
    assert {r.day for r in plan.routes} == {0, 1}


def test_multi_day_window_lands_on_day_two():
    days = (shift(day=0), shift(day=1))
    window = (TimeWindow(86_400 + 9 * H, 86_400 + 10 * H),)
    plan = run(problem([tech("A", shifts=days)], [Job("j", 1, H, time_windows=window)], [0, 1]))
    assert plan.routes[0].day == 1
    assert 86_400 + 9 * H <= visit(plan, "j").start <= 86_400 + 10 * H


def test_each_job_once_and_all_accounted_for():
    jobs = [Job(f"j{k}", 1 + k % 4, 45 * M) for k in range(26)]
    plan = run(problem([tech("A"), tech("B")], jobs, [0, 3, 6, 9, 12]))
    planned = [v.job_id for r in plan.routes for v in r.visits]
    assert len(planned) == len(set(planned))
    assert set(planned) | {u.job_id for u in plan.unassigned} == {j.id for j in jobs}
    assert plan.kpis.jobs_unassigned > 0  # 26 x 45 min cannot fit in two shifts of 9 h


def test_split_shift_same_day():
    # Morning and afternoon shifts on day 0; one job in each half-day window.
    split = (shift(start=8 * H, end=12 * H), shift(start=13 * H, end=17 * H))
    jobs = [
        Job("am", 1, H, time_windows=(TimeWindow(8 * H, 11 * H),)),
        Job("pm", 2, H, time_windows=(TimeWindow(13 * H, 16 * H),)),
    ]
    plan = run(problem([tech("A", shifts=split)], jobs, [0, 5, 6]))
    assert len(plan.routes) == 2
    assert visit(plan, "am").end <= 12 * H <= 13 * H <= visit(plan, "pm").start

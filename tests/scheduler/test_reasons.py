"""Reasons for unassigned jobs: one test per Reason."""

from __future__ import annotations

from sched_helpers import H, M, problem, reason, run, shift, tech

from scheduler import Break, Job, Point, Reason, TimeWindow


def _why(p, job_id: str):
    plan = run(p, time_limit=0.4)
    return plan, reason(plan, job_id)


def test_skill():
    p = problem([tech("A", 0, {"copper": 3})], [Job("j", 1, H, skills={"fiber": 1})], [0, 1])
    plan, u = _why(p, "j")
    assert u.reason is Reason.SKILL
    assert "fiber" in u.message
    assert plan.stats["jobs_to_solver"] == 0  # never handed to the solver


def test_skill_level():
    p = problem([tech("A", 0, {"fiber": 2})], [Job("j", 1, H, skills={"fiber": 4})], [0, 1])
    _, u = _why(p, "j")
    assert u.reason is Reason.SKILL_LEVEL
    assert "fiber >= 4" in u.message


def test_stock():
    a = tech("A", 0, {"fiber": 2}, stock={"ont": 0})
    b = tech("B", 0, {"copper": 2}, stock={"ont": 9})  # has the ONT but not the skill
    p = problem([a, b], [Job("j", 1, H, skills={"fiber": 1}, items={"ont": 1})], [0, 1])
    _, u = _why(p, "j")
    assert u.reason is Reason.STOCK
    assert "ont" in u.message


def test_territory():
    box = ((4.0, 45.0), (4.5, 45.0), (4.5, 45.5), (4.0, 45.5))
    pts = [Point(4.2, 45.2), Point(4.9, 45.2)]
    p = problem([tech("A", 0, territory=box)], [Job("j", 1, H)], [0, 10], points=pts)
    _, u = _why(p, "j")
    assert u.reason is Reason.TERRITORY


def test_time_window():
    windows = (TimeWindow(18 * H, 20 * H),)  # the shift is 8:00-17:00
    p = problem([tech("A")], [Job("j", 1, H, time_windows=windows)], [0, 1])
    _, u = _why(p, "j")
    assert u.reason is Reason.TIME_WINDOW
    assert "18:00-20:00" in u.message


def test_unreachable_including_the_break():
    # 3 h job, 2 x 2 h drive, 1 h lunch in a 9 h shift: 3 + 4 + 1 > 9 without lunch is 7.
    lunch = Break(3 * H, 11 * H, 13 * H)
    a = tech("A", shifts=(shift(breaks=(lunch,)),))
    p = problem([a], [Job("j", 1, 3 * H)], [0, 120])
    _, u = _why(p, "j")
    assert u.reason is Reason.UNREACHABLE
    # Without the break it is feasible: the break is what makes it unreachable.
    plan = run(problem([tech("A")], [Job("j", 1, 3 * H)], [0, 120]), time_limit=0.4)
    assert plan.kpis.jobs_assigned == 1


def test_precedence_on_an_impossible_predecessor():
    jobs = [
        Job("p", 1, H, skills={"radio": 1}),
        Job("s", 1, H, predecessors=("p",)),
    ]
    _, u = _why(problem([tech("A")], jobs, [0, 1]), "s")
    assert u.reason is Reason.PRECEDENCE
    assert "p" in u.message


def test_precedence_too_late():
    jobs = [
        Job("p", 1, 2 * H, time_windows=(TimeWindow(15 * H, 16 * H),)),
        Job("s", 1, H, predecessors=("p",), time_windows=(TimeWindow(8 * H, 10 * H),)),
    ]
    _, u = _why(problem([tech("A")], jobs, [0, 1]), "s")
    assert u.reason is Reason.PRECEDENCE


def test_pinned_to_a_technician_who_cannot():
    a = tech("A", 0, {"copper": 1})
    b = tech("B", 0, {"fiber": 3})
    job = Job("j", 1, H, skills={"fiber": 1}, pinned_technician="A")
    _, u = _why(problem([a, b], [job], [0, 1]), "j")
    assert u.reason is Reason.PINNED
    assert "A" in u.message


def test_pinned_start_outside_the_shift():
    job = Job("j", 1, H, pinned_technician="A", pinned_start=19 * H)
    _, u = _why(problem([tech("A")], [job], [0, 1]), "j")
    assert u.reason is Reason.PINNED


def test_capacity_with_insertion_and_displacement():
    # One 4 h shift, three 90 min jobs: one must go. It is the lowest priority one, and
    # the reason names what it would displace.
    a = tech("A", shifts=(shift(start=8 * H, end=12 * H),))
    jobs = [
        Job("hi1", 1, 90 * M, priority=90),
        Job("hi2", 2, 90 * M, priority=80),
        Job("lo", 3, 90 * M, priority=10),
    ]
    _, u = _why(problem([a], jobs, [0, 5, 6, 7]), "lo")
    assert u.reason is Reason.CAPACITY
    assert u.detail["technician_id"] == "A"
    assert u.detail["missing_seconds"] > 0
    assert u.detail["displaces"] is None  # only higher-priority work is there
    # The other way round: a high-priority job left out would displace a lower one.
    jobs2 = [Job("x", 1, 3 * H, priority=20), Job("y", 2, 3 * H, priority=90)]
    plan2 = run(problem([a], jobs2, [0, 5, 6]), time_limit=0.4)
    assert [u.job_id for u in plan2.unassigned] == ["x"]


def test_capacity_names_what_a_job_would_displace():
    # "big" (priority 90, 3 h) loses to two 2 h jobs of priority 60 (120 > 90 together);
    # its reason says it would displace them.
    a = tech("A", shifts=(shift(start=8 * H, end=12 * H + 30 * M),))
    jobs = [
        Job("a", 1, 2 * H, priority=60),
        Job("b", 2, 2 * H, priority=60),
        Job("big", 3, 3 * H, priority=90),
    ]
    _, u = _why(problem([a], jobs, [0, 1, 2, 3]), "big")
    assert u.reason is Reason.CAPACITY
    assert sorted(u.detail["displaces"]) == ["a", "b"]
    assert "displace" in u.message


def test_nobody_working():
    p = problem([], [Job("j", 0, H)], [0])
    plan, u = _why(p, "j")
    assert u.reason is Reason.TIME_WINDOW
    assert plan.routes == ()


def test_pinned_to_someone_not_working():
    job = Job("j", 1, H, pinned_technician="ghost")
    _, u = _why(problem([tech("A")], [job], [0, 1]), "j")
    assert u.reason is Reason.PINNED
    assert "ghost" in u.message

"""Readers, checker and writer of the VROOM JSON and Solomon formats (no solving here)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from scheduler.formats import (
    FormatError,
    check,
    load,
    parse_vroom,
    plan_orders,
    plan_report,
    read_json,
    read_solomon,
    read_vroom,
    routes_from_solution,
    solution_json,
    to_problem,
    write_json,
)
from scheduler.model import KPIs, Objective, Plan, PlannedBreak, Route, Visit

DATA = Path(__file__).parent / "data"
TINY_VROOM = DATA / "tiny_vroom.json"
TINY_SOLOMON = DATA / "tiny_solomon.txt"
# The shared benchmark lives next to the repository clone: <repo>/../shared/bench.
BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench"
needs_bench = pytest.mark.skipif(
    not BENCH.is_dir(), reason=f"shared benchmark not found at {BENCH} (../shared/bench)"
)


def tiny() -> dict:
    return json.loads(TINY_VROOM.read_text())


# ---------------------------------------------------------------- VROOM reader


def test_vroom_reader_maps_every_field() -> None:
    inst = read_vroom(TINY_VROOM)
    problem, idmap = to_problem(inst)
    assert inst.objective is Objective.VROOM
    assert [j.id for j in problem.jobs] == ["11", "12", "13", "14", "15", "16"]
    assert idmap.job_ids["13"] == 13 and idmap.vehicle_ids["2"] == 2

    j11, j12, j13, j14 = problem.jobs[:4]
    assert dict(j11.skills) == {"1": 1}  # VROOM skills are plain ints -> level 1
    assert dict(j11.items) == {"0": 1}  # delivery per amount dimension; zeros dropped
    assert j11.priority == 80 and j11.description == "REP: line fault"
    assert [(w.start, w.end) for w in j11.time_windows] == [(28800, 36000)]
    assert j12.duration == 1500  # service + setup
    assert j12.time_windows == ()  # absent = any time
    assert [(w.start, w.end) for w in j13.time_windows] == [(30000, 40000), (46000, 52000)]
    assert j14.priority == 10 and dict(j14.items) == {}

    ana, _ = problem.technicians
    assert dict(ana.stock or {}) == {"0": 2, "1": 1}
    assert dict(ana.skills) == {"1": 1, "2": 1}
    (shift,) = ana.shifts
    assert (shift.day, shift.start, shift.end) == (0, 28800, 50400)
    assert (shift.start_location, shift.end_location) == (0, 0)
    (lunch,) = shift.breaks
    assert (lunch.duration, lunch.earliest, lunch.latest) == (1800, 41400, 46800)
    assert problem.durations[2, 3] == 329 and problem.costs is not None


def test_vroom_open_route_ends_at_a_dummy_place_with_zero_travel() -> None:
    inst = read_vroom(TINY_VROOM)
    problem, _ = to_problem(inst)
    n = inst.n_places
    ben = problem.technicians[1]
    assert ben.shifts[0].start_location == 1
    assert ben.shifts[0].end_location == n  # the dummy place
    assert problem.durations.shape == (n + 1, n + 1)
    assert not problem.durations[:, n].any() and not problem.durations[n, :].any()
    assert problem.points is None  # the depots have no coordinates in this file


def test_vroom_without_end_or_start_is_allowed_but_not_without_both() -> None:
    data = tiny()
    del data["vehicles"][1]["start_index"]
    data["vehicles"][1]["end_index"] = 1
    problem, _ = to_problem(parse_vroom(data))
    assert problem.technicians[1].shifts[0].start_location == problem.durations.shape[0] - 1
    del data["vehicles"][1]["end_index"]
    with pytest.raises(FormatError, match=r"vehicles\[1\]\.start: missing"):
        parse_vroom(data)


def test_vroom_costs_default_to_durations_and_can_differ() -> None:
    data = tiny()
    inst = parse_vroom(data)
    assert np.array_equal(inst.costs, inst.durations)
    doubled = [[2 * v for v in row] for row in data["matrices"]["car"]["durations"]]
    data["matrices"]["car"]["costs"] = doubled
    problem, _ = to_problem(parse_vroom(data))
    assert problem.costs is not None and problem.costs[2, 3] == 2 * problem.durations[2, 3]


def test_vroom_coordinates_without_matrix_use_the_travel_model() -> None:
    data = tiny()
    del data["matrices"]
    for j in data["jobs"]:
        del j["location_index"]
    for v, (lon, lat) in zip(data["vehicles"], [(14.40, 50.08), (14.456, 50.08)], strict=True):
        v.pop("start_index")
        v.pop("end_index", None)
        v["start"] = [lon, lat]
    data["vehicles"][0]["end"] = [14.40, 50.08]
    inst = parse_vroom(data)
    assert inst.durations.shape == (8, 8)  # 2 depots + 6 distinct job places
    assert inst.distances is not None and inst.distances[0, 1] > 0
    assert inst.durations[0, 0] == 0 and inst.durations[0, 1] > 120  # leg overhead included


def test_vroom_time_window_absent_is_the_whole_day() -> None:
    data = tiny()
    del data["vehicles"][0]["time_window"]
    problem, _ = to_problem(parse_vroom(data))
    shift = problem.technicians[0].shifts[0]
    assert (shift.start, shift.end) == (0, 86_400)


BAD_VROOM = [
    (lambda d: d["jobs"][3].pop("id"), r"^jobs\[3\]\.id: missing$"),
    (lambda d: d.pop("vehicles"), r"^vehicles: missing$"),
    (lambda d: d["jobs"][3].update(service=-5), r"^jobs\[3\]\.service: must be >= 0, got -5$"),
    (lambda d: d["jobs"][1].update(setup=-1), r"^jobs\[1\]\.setup: must be >= 0"),
    (
        lambda d: d["jobs"][2].update(location_index=8),
        r"^jobs\[2\]\.location_index: 8 out of range",
    ),
    (
        lambda d: d["vehicles"][0].update(end_index=99),
        r"^vehicles\[0\]\.end_index: 99 out of range",
    ),
    (
        lambda d: d["jobs"][0].update(service="900"),
        r"^jobs\[0\]\.service: must be an integer, got str",
    ),
    (lambda d: d["jobs"][0].update(priority=101), r"^jobs\[0\]\.priority: must be <= 100"),
    (lambda d: d["jobs"][0].update(time_windows=[[5, 1]]), r"^jobs\[0\]\.time_windows\[0\]: end 1"),
    (lambda d: d["jobs"][0].update(delivery=[1]), r"^jobs\[0\]\.delivery: has 1 values"),
    (lambda d: d["jobs"][1].update(id=11), r"^jobs\[1\]\.id: duplicate job id 11$"),
    (lambda d: d["jobs"][0].update(skills=["x"]), r"^jobs\[0\]\.skills\[0\]: must be an integer"),
    (
        lambda d: d["vehicles"][0]["breaks"][0].update(service=-1),
        r"^vehicles\[0\]\.breaks\[0\]\.service: must be >= 0",
    ),
    (
        lambda d: d["matrices"]["car"]["durations"][4].pop(),
        r"^matrices\.car\.durations\[4\]: has 7 values, expected 8",
    ),
    (
        lambda d: d["matrices"]["car"]["durations"][2].__setitem__(3, -4),
        r"^matrices\.car\.durations\[2\]\[3\]: must be >= 0",
    ),
    (lambda d: d.update(shipments=[{"id": 1}]), r"^shipments: not supported"),
    (lambda d: d["vehicles"][0].update(max_tasks=3), r"^vehicles\[0\]\.max_tasks: not supported"),
    (lambda d: d.update(jobs={}), r"^jobs: must be a list, got dict$"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_VROOM)
def test_vroom_bad_input_names_the_field(mutate, message) -> None:
    data = tiny()
    mutate(data)
    with pytest.raises(FormatError, match=message) as info:
        parse_vroom(data)
    assert "\n" not in str(info.value)


def test_malformed_json_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"jobs": [1, 2,]')
    with pytest.raises(FormatError, match=r"bad\.json: malformed JSON at line 1 column"):
        read_vroom(bad)


# ---------------------------------------------------------------- Solomon reader


def test_solomon_reader_scales_and_rounds_up() -> None:
    inst = read_solomon(TINY_SOLOMON)
    assert inst.objective is Objective.DISTANCE and inst.scale == 1000
    assert len(inst.vehicles) == 3 and [j.id for j in inst.jobs] == [1, 2, 3, 4, 5, 6]
    assert inst.durations[0, 1] == pytest.approx(5.0)  # (10,10) -> (13,14)
    problem, _ = to_problem(inst)
    assert problem.durations[1, 2] == 5000  # (13,14) -> (16,18)
    assert problem.durations[0, 4] == 10000
    assert problem.durations[0, 5] == 10000  # (10,10) -> (10,20)
    assert problem.durations[5, 6] == int(np.ceil(np.hypot(4, 10) * 1000))  # rounded up
    assert problem.durations[5, 6] > np.hypot(4, 10) * 1000
    assert problem.costs is not None and problem.costs[5, 6] == round(np.hypot(4, 10) * 1000)
    tech = problem.technicians[0]
    assert dict(tech.stock or {}) == {"0": 30}
    assert (tech.shifts[0].start, tech.shifts[0].end) == (0, 200_000)
    job1 = problem.jobs[0]
    assert job1.duration == 10_000 and dict(job1.items) == {"0": 10}
    assert [(w.start, w.end) for w in job1.time_windows] == [(0, 100_000)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a solomon file\n", r"malformed Solomon file"),
        (TINY_SOLOMON.read_text().replace("   4          2 ", "   4            "), "malformed"),
        (
            TINY_SOLOMON.read_text().replace("180         10", "180        -10"),
            r"customer 6 SERVICE TIME: must be >= 0, got -10",
        ),
        (
            TINY_SOLOMON.read_text().replace("   3         30", "   0         30"),
            r"VEHICLE NUMBER: must be a positive integer",
        ),
    ],
)
def test_solomon_malformed_file(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    with pytest.raises(FormatError, match=message) as info:
        read_solomon(bad)
    assert "\n" not in str(info.value)


@needs_bench
def test_solomon_c101_header_and_size() -> None:
    inst = load(BENCH / "vrptw" / "solomon" / "C101.txt")
    assert inst.name == "C101"
    assert len(inst.vehicles) == 25 and inst.vehicles[0].capacity == (200,)
    assert len(inst.jobs) == 100 and inst.jobs[0].id == 1 and inst.jobs[-1].id == 100
    assert inst.vehicles[0].window == (0, 1236)
    assert inst.jobs[0].windows == ((912, 967),) and inst.jobs[0].service == 90


# ---------------------------------------------------------------- checker


def test_checker_recomputes_times_with_lunch_while_driving() -> None:
    inst = read_vroom(TINY_VROOM)
    # Ana: 11 (window 8:00-10:00), lunch, 13 (second window 12:46-14:26), back home.
    report = check(inst, [(1, [("job", 11), ("break", 101), ("job", 13)])])
    assert report.feasible, report.violations
    steps = report.routes[0].steps
    assert [s.type for s in steps] == ["start", "job", "break", "job", "end"]
    assert steps[1].arrival == 28800 + 230 and steps[1].start == 28800 + 230
    # 11 ends at 29930; lunch opens at 41400: the 300 s leg is driven while waiting.
    assert steps[2].start == 41400
    assert steps[3].arrival == 43200 and steps[3].start == 46000  # second window
    assert report.travel == 230 + 300 + 440
    assert report.score == [130, 2, -970]


def test_checker_lists_broken_rules() -> None:
    inst = read_vroom(TINY_VROOM)
    report = check(
        inst,
        [
            (2, [("job", 13), ("job", 11), ("job", 15)]),  # Ben lacks skill 2; no lunch
            (1, [("job", 15), ("job", 11), ("break", 101), ("job", 11)]),
            (7, [("job", 12)]),
        ],
    )
    text = "\n".join(report.violations)
    assert "vehicle 2: job 13 needs skills [2]" in text
    assert "vehicle 2: breaks [102] not taken" in text
    assert "vehicle 2: delivery [3, 1] exceeds capacity [1, 1]" in text
    assert "job 11 done more than once" in text
    assert "route for unknown vehicle 7" in text
    data = tiny()
    data["jobs"][0]["time_windows"] = [[28800, 29500]]
    late = check(parse_vroom(data), [(1, [("job", 14), ("job", 11), ("break", 101)])])
    assert late.violations == ["vehicle 1: job 11 arrives at 31349 after its window end 29500"]


def test_checker_shift_end_and_open_route() -> None:
    inst = read_vroom(TINY_VROOM)
    report = check(inst, [(2, [("job", 11), ("break", 102)])])
    assert report.feasible, report.violations
    assert [s.type for s in report.routes[0].steps] == ["start", "job", "break"]
    assert report.travel == 440  # no way home on an open route
    data = tiny()
    data["vehicles"][0]["time_window"] = [28800, 30000]
    short = check(parse_vroom(data), [(1, [("job", 11), ("break", 101)])])
    assert any("after the shift end 30000" in v for v in short.violations)


@needs_bench
def test_vroom_solution_of_fsr_s_scores_like_the_benchmark_checker() -> None:
    fsr = BENCH / "fsr"
    inst = load(fsr / "fsr-S-1001.problem.json")
    assert (len(inst.vehicles), len(inst.jobs)) == (8, 60)
    assert inst.durations.shape == (63, 63)
    expected = json.loads((fsr / "fsr-S-1001.vroom.check.json").read_text())
    solution = read_json(fsr / "fsr-S-1001.vroom.solution.json")
    report = check(inst, routes_from_solution(solution))
    assert report.feasible == expected["feasible"]
    assert report.score == expected["score"]
    assert report.assigned == expected["assigned"]
    assert report.unassigned == expected["unassigned"]
    assert report.service == expected["total_service_s"]
    # Times: ours leave at the shift start where VROOM sometimes leaves later to avoid
    # waiting; on routes that leave at the shift start every arrival agrees, and every
    # route is back at the same time.
    same_start = 0
    for raw, ours in zip(solution["routes"], report.routes, strict=True):
        assert raw["steps"][-1]["arrival"] == ours.steps[-1].arrival
        if raw["steps"][0]["arrival"] == ours.steps[0].arrival:
            same_start += 1
            assert [s["arrival"] for s in raw["steps"]] == [s.arrival for s in ours.steps]
    assert same_start >= 4


def test_routes_from_solution_rejects_bad_shapes() -> None:
    with pytest.raises(FormatError, match=r"^solution\.routes: missing"):
        routes_from_solution({"code": 0})
    with pytest.raises(FormatError, match=r"^solution\.routes\[0\]\.steps\[1\]\.id: missing"):
        routes_from_solution(
            {"routes": [{"vehicle": 1, "steps": [{"type": "start"}, {"type": "job"}]}]}
        )


# ---------------------------------------------------------------- writer


def _hand_plan() -> Plan:
    """A plan as the engine would return it for the tiny VROOM input."""
    route = Route(
        technician_id="1",
        day=0,
        visits=(
            Visit("11", arrival=29030, wait=0, start=29030, end=29930, travel=230),
            Visit("13", arrival=43200, wait=2800, start=46000, end=46600, travel=300),
        ),
        breaks=(PlannedBreak(start=41400, end=43200),),
        start=28800,
        end=47040,
        travel=970,
    )
    kpis = KPIs(2, 4, 130, 290, 970, 1500, 0.1, 0, 0.0)
    return Plan(routes=(route,), unassigned=(), kpis=kpis, status="feasible")


def test_writer_round_trip_through_the_checker() -> None:
    inst = read_vroom(TINY_VROOM)
    _, idmap = to_problem(inst)
    report = plan_report(inst, _hand_plan(), idmap)
    assert report.feasible, report.violations
    out = solution_json(inst, report, {16: ("skill", "no technician has skill 3")})
    buf = io.StringIO()
    write_json(out, buf)
    data = json.loads(buf.getvalue())
    assert data["code"] == 0
    summary = data["summary"]
    assert summary["routes"] == 1 and summary["unassigned"] == 4
    assert summary["priority"] == 130 and summary["duration"] == 970
    assert summary["service"] == 900 + 600 + 1800  # jobs and lunch, like VROOM
    assert summary["delivery"] == [2, 0]
    (route,) = data["routes"]
    assert [s["type"] for s in route["steps"]] == ["start", "job", "break", "job", "end"]
    assert [s.get("id") for s in route["steps"]] == [None, 11, 101, 13, None]
    assert route["steps"][0]["load"] == [2, 0] and route["steps"][-1]["load"] == [0, 0]
    assert route["steps"][3]["waiting_time"] == 2800
    assert route["steps"][1]["location"] == tiny()["jobs"][0]["location"]
    reasons = {u["id"]: u["reason"] for u in data["unassigned"]}
    assert reasons[16] == "skill" and set(reasons) == {12, 14, 15, 16}
    again = check(inst, routes_from_solution(data))
    assert again.score == report.score == [130, 2, -970]


def test_writer_solomon_reports_real_distance() -> None:
    inst = read_solomon(TINY_SOLOMON)
    report = check(inst, [(1, [("job", 3), ("job", 4)]), (2, [("job", 1), ("job", 2)])])
    assert report.feasible, report.violations
    out = solution_json(inst, report, {})
    real = 2 * (2 * np.hypot(3, 4) + np.hypot(6, 8))  # 0->3->4->0 and 0->1->2->0
    assert out["summary"]["distance"] == pytest.approx(real, abs=1e-6)
    assert out["summary"]["unassigned"] == 2
    assert [u["id"] for u in out["unassigned"]] == [5, 6]


def test_deep_copy_of_input_is_not_mutated() -> None:
    data = tiny()
    before = copy.deepcopy(data)
    parse_vroom(data)
    assert data == before


def test_planned_breaks_are_named_by_window_and_length() -> None:
    data = tiny()
    data["vehicles"][0]["breaks"] = [
        {"id": 7, "service": 1800, "time_windows": [[41400, 46800]]},  # lunch
        {"id": 8, "service": 600, "time_windows": [[28800, 36000]]},  # coffee
    ]
    inst = parse_vroom(data)
    _, idmap = to_problem(inst)
    hand = _hand_plan()
    route = hand.routes[0]
    coffee = PlannedBreak(start=29930, end=30530)
    visits = (route.visits[0], route.visits[1])
    plan = Plan(
        routes=(Route("1", 0, visits, (route.breaks[0], coffee), 28800, 47040, 970),),
        unassigned=(),
        kpis=hand.kpis,
        status="feasible",
    )
    (order,) = plan_orders(plan, inst, idmap)
    assert order == (1, [("job", 11), ("break", 8), ("break", 7), ("job", 13)])
    report = plan_report(inst, plan, idmap)
    assert report.feasible, report.violations


def test_times_past_one_day_extend_the_default_shift() -> None:
    data = tiny()
    del data["vehicles"][0]["time_window"]
    data["jobs"][0]["time_windows"] = [[100_000, 110_000]]
    problem, _ = to_problem(parse_vroom(data))
    shift = problem.technicians[0].shifts[0]
    assert shift.start == 0 and shift.end >= 110_000 + 900 + 555

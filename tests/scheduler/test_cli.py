"""``python -m scheduler solve|verify``: end to end on tiny inputs, and bad input -> exit 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scheduler.cli import _Progress, main

DATA = Path(__file__).parent / "data"
TINY_VROOM = DATA / "tiny_vroom.json"
TINY_SOLOMON = DATA / "tiny_solomon.txt"
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as users run it: a separate process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def call(*args: str) -> tuple[int, str, str]:
    """The CLI in-process (fast): exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_solve_tiny_vroom_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    proc = run_cli("solve", str(TINY_VROOM), "--time-limit", "1", "--seed", "3", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    plan = json.loads(out.read_text())
    summary = plan["summary"]
    assert plan["code"] == 0 and summary["routes"] >= 1
    unassigned = {u["id"]: u["reason"] for u in plan["unassigned"]}
    assert unassigned.get(16) == "skill"  # nobody has skill 3: reported with our reason
    assert all(isinstance(r, str) and r for r in unassigned.values())
    assigned = [s["id"] for r in plan["routes"] for s in r["steps"] if s["type"] == "job"]
    assert len(assigned) + len(unassigned) == 6 and len(set(assigned)) == len(assigned)
    # Re-checked by the verify subcommand from the route orders alone.
    check = run_cli("verify", str(TINY_VROOM), str(out), "--quiet")
    assert check.returncode == 0, check.stdout
    report = json.loads(check.stdout)
    assert report["feasible"] is True
    assert report["score"] == [summary["priority"], len(assigned), -summary["duration"]]


def test_solve_tiny_solomon_to_stdout() -> None:
    code, out, err = call("solve", str(TINY_SOLOMON), "--time-limit", "1", "--quiet")
    assert code == 0, err
    assert err == ""
    plan = json.loads(out)
    assert plan["summary"]["unassigned"] == 0 and plan["summary"]["routes"] <= 3
    ids = sorted(s["id"] for r in plan["routes"] for s in r["steps"] if s["type"] == "job")
    assert ids == [1, 2, 3, 4, 5, 6]  # customer numbers of the file
    distance = plan["summary"]["distance"]
    assert isinstance(distance, float) and distance >= 2 * 10 + 2 * 5  # farthest customers
    code, report_text, _ = call_verify_from_text(out)
    assert code == 0
    assert json.loads(report_text)["distance"] == pytest.approx(distance, abs=1e-5)


def call_verify_from_text(solution: str) -> tuple[int, str, str]:
    """``verify`` on the tiny Solomon input with ``solution`` written to a temporary file."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(solution)
    try:
        return call("verify", str(TINY_SOLOMON), fh.name, "--quiet")
    finally:
        os.unlink(fh.name)


def _mutated(tmp_path: Path, mutate) -> str:
    data = json.loads(TINY_VROOM.read_text())
    mutate(data)
    path = tmp_path / "input.json"
    path.write_text(json.dumps(data))
    return str(path)


BAD = [
    ("missing field", lambda d: d["jobs"][2].pop("id"), "jobs[2].id: missing"),
    (
        "negative duration",
        lambda d: d["jobs"][4].update(service=-60),
        "jobs[4].service: must be >= 0, got -60",
    ),
    (
        "index out of range",
        lambda d: d["jobs"][1].update(location_index=42),
        "jobs[1].location_index: 42 out of range",
    ),
    (
        "wrong type",
        lambda d: d["vehicles"][1].update(time_window="morning"),
        "vehicles[1].time_window: must be a list, got str",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_vroom_input_exits_2_naming_the_field(tmp_path: Path, case, mutate, message) -> None:
    code, out, err = call("solve", _mutated(tmp_path, mutate), "--time-limit", "1")
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err


def test_malformed_json_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"vehicles": [{"id": 1,}]')
    proc = run_cli("solve", str(bad), "--time-limit", "1")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.startswith("error: ") and "broken.json: malformed JSON at line 1" in proc.stderr
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("VEHICLE\nNUMBER CAPACITY\n x 200\n", "malformed Solomon file"),
        (TINY_SOLOMON.read_text().replace("    4       4 ", "    4         "), "malformed Solomon"),
        (TINY_SOLOMON.read_text().replace("180         10", "180        -10"), "SERVICE TIME"),
    ],
    ids=["header", "short row", "negative service"],
)
def test_malformed_solomon_exits_2(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    code, out, err = call("solve", str(bad), "--time-limit", "1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["solve", str(TINY_VROOM), "--time-limit", "-3"], "--time-limit: must be > 0"),
        (["solve", str(TINY_VROOM), "--workers", "0"], "--workers: must be >= 1"),
        (["solve", "missing-file.json"], "missing-file.json: cannot read"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_command_line_exits_2_on_one_line(args: list[str], message: str) -> None:
    code, _, err = call(*args)
    assert code == 2
    assert err.count("\n") == 1 and message in err


def test_verify_reports_violations_with_exit_1(tmp_path: Path) -> None:
    solution = {
        "routes": [
            {"vehicle": 2, "steps": [{"type": "start"}, {"type": "job", "id": 13}]},
            {"vehicle": 1, "steps": [{"type": "job", "id": 11}, {"type": "break", "id": 101}]},
        ]
    }
    path = tmp_path / "sol.json"
    path.write_text(json.dumps(solution))
    code, out, err = call("verify", str(TINY_VROOM), str(path))
    assert code == 1
    report = json.loads(out)
    assert report["feasible"] is False
    assert "vehicle 2: job 13 needs skills [2] the vehicle lacks" in report["violations"]
    assert "vehicle 2: breaks [102] not taken" in report["violations"]
    assert err.startswith("infeasible: 2 violation(s)")


def test_verify_bad_solution_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "sol.json"
    path.write_text(json.dumps({"routes": [{"steps": []}]}))
    code, _, err = call("verify", str(TINY_VROOM), str(path))
    assert code == 2 and "solution.routes[0].vehicle: missing" in err


@pytest.mark.skipif(not BENCH.is_dir(), reason=f"shared benchmark not found at {BENCH}")
def test_verify_scores_vroom_reference_solution_like_the_benchmark() -> None:
    fsr = BENCH / "fsr"
    proc = run_cli(
        "verify", str(fsr / "fsr-S-1001.problem.json"), str(fsr / "fsr-S-1001.vroom.solution.json")
    )
    assert proc.returncode == 0, proc.stderr
    expected = json.loads((fsr / "fsr-S-1001.vroom.check.json").read_text())
    assert json.loads(proc.stdout)["score"] == expected["score"]
    assert proc.stderr.strip() == f"feasible: score [{', '.join(map(str, expected['score']))}]"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_silent_otherwise() -> None:
    tty = _Tty()
    bar = _Progress(tty, enabled=True, scale=1000)
    bar(0.5, 123_456.0)
    bar(0.6, 130_000.0)  # worse: the bar keeps the best
    bar(1.0, None)
    bar.close()
    assert "best 123.456" in tty.getvalue() and "best 130.000" not in tty.getvalue()
    assert bar.best == 123_456.0
    pipe = io.StringIO()
    quiet = _Progress(pipe, enabled=True, scale=1)
    quiet(0.5, 10.0)
    quiet.close()
    assert pipe.getvalue() == "" and quiet.best == 10.0


def _load_bench_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "scheduler_bench", ROOT / "bench" / "scheduler_bench.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_bench_helpers() -> None:
    bench = _load_bench_module()
    assert bench.family_of("RC101") == ("vrptw", "RC1")
    assert bench.family_of("C2_2_1") == ("vrptw", "C2-200")
    assert bench.family_of("fsr-M-1001") == ("fsr", "fsr-M")
    names = ["C101", "C102", "C1_2_1", "RC101", "R101", "fsr-S-1001"]
    assert bench.select(names, "C101") == ["C101"]
    assert bench.select(names, "c1*") == ["C101", "C102", "C1_2_1"]
    assert bench.select(names, "R1,fsr-S") == ["R101", "fsr-S-1001"]
    vroom = [2447, 52, -39909]
    assert bench.meets_vroom([2448, 40, -90000], vroom)
    assert not bench.meets_vroom([2446, 60, 0], vroom)
    assert bench.meets_vroom([2447, 52, -40700], vroom)  # within 2 % more travel
    assert not bench.meets_vroom([2447, 52, -40800], vroom)


def test_bench_end_to_end_on_a_tiny_bench_dir(tmp_path: Path) -> None:
    solomon = tmp_path / "vrptw" / "solomon"
    solomon.mkdir(parents=True)
    (solomon / "TINY7.txt").write_text(TINY_SOLOMON.read_text())
    (tmp_path / "vrptw" / "references.csv").write_text(
        "instance,customers,bks_vehicles,bks_distance,distance_only_ref,distance_only_vehicles,note\n"
        "TINY7,6,2,49.45,49.45,2,\n"
    )
    fsr = tmp_path / "fsr"
    fsr.mkdir()
    (fsr / "fsr-T-1.problem.json").write_text(TINY_VROOM.read_text())
    reference = {
        "routes": [
            {
                "vehicle": 1,
                "steps": [
                    {"type": "start"},
                    {"type": "job", "id": 11},
                    {"type": "break", "id": 101},
                    {"type": "job", "id": 13},
                    {"type": "end"},
                ],
            }
        ]
    }
    (fsr / "fsr-T-1.vroom.solution.json").write_text(json.dumps(reference))
    table = tmp_path / "table.csv"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "scheduler_bench.py"),
            "--bench-dir",
            str(tmp_path),
            "--time-limit",
            "1",
            "--csv",
            str(table),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "vrptw: 1/1 feasible" in proc.stdout
    assert "fsr: 1/1 feasible; score at least VROOM's on 1/1" in proc.stdout
    import csv

    rows = {r["instance"]: r for r in csv.DictReader(table.open())}
    assert rows["TINY7"]["feasible"] == "True" and float(rows["TINY7"]["gap"]) < 0.05
    assert rows["fsr-T-1"]["ref"] == "[130, 2, -970]" and rows["fsr-T-1"]["meets"] == "yes"

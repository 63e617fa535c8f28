"""Command line: ``python -m scheduler solve|verify``.

``solve`` reads a VROOM JSON or Solomon file, solves it, checks the plan twice (the
engine's ``verify`` and the format checker that scores any engine's output) and
writes VROOM's JSON output format. ``verify`` scores a VROOM JSON solution against
an input the same way for anyone's solution.

Exit status: 0 done, 1 the plan/solution breaks a rule (or the solver failed),
2 bad input or usage. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from .formats import (
    FORMATS,
    FormatError,
    Instance,
    Report,
    check,
    load,
    plan_reasons,
    plan_report,
    read_json,
    routes_from_solution,
    solution_json,
    to_problem,
    write_json,
)

EXIT_OK, EXIT_VIOLATION, EXIT_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad command line; reported like bad input (one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing a multi-line usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m scheduler",
        description="Solve VROOM JSON or Solomon instances; score VROOM JSON solutions.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("solve", help="solve a VROOM JSON or Solomon instance")
    p.add_argument("input", help="problem file (.json VROOM; .txt/.vrp Solomon)")
    p.add_argument("--time-limit", type=_positive_float, default=10.0, help="seconds (10)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    p.add_argument("--workers", type=_int_at_least(1), default=1, help="parallel searches (1)")
    p.add_argument("-o", "--output", help="solution file (default: stdout)")
    p.add_argument("--format", choices=FORMATS, default="auto")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    p.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
    v = sub.add_parser("verify", help="score a VROOM JSON solution against an input")
    v.add_argument("input", help="problem file")
    v.add_argument("solution", help="VROOM JSON solution")
    v.add_argument("--format", choices=FORMATS, default="auto")
    v.add_argument("-q", "--quiet", action="store_true", help="JSON report only")
    return parser


class _Progress:
    """Best cost so far on stderr: a tqdm bar on a terminal, else one final line only."""

    REFRESH_S = 0.2  # the solver may report hundreds of solutions a second; redraw at most 5/s

    def __init__(self, stream: TextIO, enabled: bool, scale: int) -> None:
        self.scale = scale
        self.best: float | None = None
        self.bar: Any = None
        self._drawn = 0.0
        if enabled and stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=100,
                file=stream,
                leave=False,
                desc="solving",
                bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",
            )

    def __call__(self, fraction: float, best_cost: float | None) -> None:
        if best_cost is not None and (self.best is None or best_cost < self.best):
            self.best = best_cost  # a local search also reports worse solutions it accepts
        if self.bar is None:
            return
        now = time.monotonic()
        if now - self._drawn < self.REFRESH_S and fraction < 1.0:
            return
        self._drawn = now
        self.bar.n = max(0, min(100, int(fraction * 100)))
        if self.best is not None:
            digits = 3 if self.scale > 1 else 0
            self.bar.set_postfix_str(f"best {self.best / self.scale:.{digits}f}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _say(stream: TextIO, quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=stream, flush=True)


def _fmt(value: float) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _summary_line(inst: Instance, report: Report, status: str, seconds: float) -> str:
    travel = (
        f"distance {report.distance:.2f}"
        if inst.kind == "solomon" and report.distance is not None
        else f"travel {_fmt(report.travel)}"
    )
    return (
        f"{status}: {report.assigned}/{report.assigned + report.unassigned} jobs, "
        f"priority {report.priority_sum}, {len(report.routes)} routes, {travel}, "
        f"{seconds:.1f} s"
    )


def _solve(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from . import solve, verify  # the engine; imported late so formats work on their own
    from .model import SolveParams

    t0 = time.monotonic()
    inst = load(args.input, args.format)
    problem, idmap = to_problem(inst)
    t1 = time.monotonic()
    params = SolveParams(
        time_limit=args.time_limit, seed=args.seed, workers=args.workers, objective=inst.objective
    )
    progress = _Progress(stderr, not args.quiet, inst.scale)
    try:
        plan = solve(problem, params, progress=progress)
    finally:
        progress.close()
    t2 = time.monotonic()
    violations = verify(problem, plan)
    if violations:
        first = "; ".join(f"{v.rule}: {v.message}" for v in violations[:3])
        print(f"error: plan breaks {len(violations)} rule(s), not written: {first}", file=stderr)
        return EXIT_VIOLATION
    report = plan_report(inst, plan, idmap)
    if report.violations:
        first = "; ".join(report.violations[:3])
        print(
            f"error: plan fails the solution check ({len(report.violations)}), not written: "
            f"{first}",
            file=stderr,
        )
        return EXIT_VIOLATION
    extra: dict[str, Any] = {"status": plan.status}
    if inst.kind == "solomon":
        extra["scale"] = inst.scale
    data = solution_json(
        inst,
        report,
        plan_reasons(plan, idmap),
        computing_times={
            "loading": round((t1 - t0) * 1000),
            "solving": round((t2 - t1) * 1000),
            "routing": 0,
        },
        extra_summary=extra,
    )
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                write_json(data, fh)
        except OSError as exc:
            raise FormatError(str(args.output), f"cannot write: {exc.strerror or exc}") from exc
    else:
        write_json(data, stdout)
    _say(stderr, args.quiet, _summary_line(inst, report, plan.status, time.monotonic() - t0))
    return EXIT_OK


def _verify(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    inst = load(args.input, args.format)
    routes = routes_from_solution(read_json(args.solution))
    report = check(inst, routes)
    json.dump(report.as_dict(), stdout, indent=1)
    stdout.write("\n")
    if report.feasible:
        score = ", ".join(_fmt(x) for x in report.score)
        _say(stderr, args.quiet, f"feasible: score [{score}]")
        return EXIT_OK
    _say(stderr, args.quiet, f"infeasible: {len(report.violations)} violation(s)")
    for line in report.violations:
        _say(stderr, args.quiet, f"  {line}")
    return EXIT_VIOLATION


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the CLI; returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    traceback = False
    try:
        args = build_parser().parse_args(argv)
        traceback = bool(getattr(args, "traceback", False))
        if args.command == "solve":
            return _solve(args, out, err)
        return _verify(args, out, err)
    except (UsageError, FormatError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=err)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 130
    except BrokenPipeError:
        raise
    except ValueError as exc:  # the engine rejects a problem it cannot take
        if traceback:
            raise
        print(f"error: {' '.join(str(exc).split())}", file=err)
        return EXIT_INPUT
    except Exception as exc:
        if traceback:
            raise
        print(
            f"error: internal error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=err
        )
        return EXIT_VIOLATION


def run() -> None:
    """Console entry point."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, without a flush error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_VIOLATION
    raise SystemExit(code)


if __name__ == "__main__":
    run()

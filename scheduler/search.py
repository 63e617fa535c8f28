"""Search on top of the OR-Tools model.

One search = OR-Tools' first solution (parallel cheapest insertion, every job
optional so one always exists) followed by guided local search. Around it:
``params.workers`` independent searches in separate processes with different seeds
and metaheuristics, keeping the best by the objective.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .adapter import Adapter, RawRoute, Slot
from .construct import construct
from .lns import Lns
from .model import Job, Problem, SolveParams

Progress = Callable[[float, float | None], None]

# Metaheuristic of worker k (k = 0 is the main process); GLS is the strongest alone.
WORKER_METAHEURISTICS = ("GLS", "GLS", "SA", "TABU")


# "auto" builds its own first solution above this many (jobs x vehicles); below it
# OR-Tools' parallel cheapest insertion is quick and a little better.
AUTO_CONSTRUCT_SIZE = 5_000


# With LNS the time goes: first solution + guided local search (GLS_SHARE), our
# ruin-and-recreate (LNS_SHARE), then GLS again from the LNS result (the rest).
GLS_SHARE = 0.15
LNS_SHARE = 0.75
LNS_MIN_JOBS = 8  # below this, guided local search alone is exhaustive enough
# Above this many (jobs x vehicles) OR-Tools is skipped: construct + LNS only.
PYTHON_ONLY_SIZE = 40_000


@dataclass
class SearchResult:
    routes: list[RawRoute]
    status: str
    stats: dict[str, Any] = field(default_factory=dict)


def _one_search(
    problem: Problem,
    params: SolveParams,
    slots: Sequence[Slot],
    jobs: Sequence[Job],
    allowed: Sequence[Sequence[int]],
    preds: Sequence[tuple[int, int]],
    seconds: float,
    progress: Progress | None,
    metaheuristic: str = "GLS",
) -> SearchResult:
    t0 = time.monotonic()
    first: list[float] = []

    def seen(obj: float) -> None:
        if not first:
            first.append(time.monotonic() - t0)
        if progress is not None:
            progress(min(0.99, (time.monotonic() - t0) / max(seconds, 1e-9)), float(obj))

    stats: dict[str, Any] = {"metaheuristic": metaheuristic}
    use_lns = params.lns and len(jobs) >= LNS_MIN_JOBS
    if use_lns and len(jobs) * len(slots) > PYTHON_ONLY_SIZE:
        return _python_search(problem, params, slots, jobs, allowed, preds, seconds, seen, stats)
    adapter = Adapter(problem, params, slots, jobs, allowed, preds)
    stats["build_time"] = round(time.monotonic() - t0, 3)
    adapter.on_solution(lambda obj: seen(float(obj)))
    start = None
    first_kind = params.first_solution
    if first_kind == "auto":
        first_kind = "construct" if len(jobs) * len(slots) > AUTO_CONSTRUCT_SIZE else "ortools"
    if first_kind == "construct":
        t1 = time.monotonic()
        start = construct(problem, params.objective, slots, jobs, allowed, preds, seconds / 3)
        stats["construct_time"] = round(time.monotonic() - t1, 3)
        stats["construct_jobs"] = sum(len(r) for r in start)
    stats["first_solution"] = first_kind
    left = max(0.1, seconds - (time.monotonic() - t0))
    share = GLS_SHARE if use_lns else 1.0
    sol = adapter.solve(left * share, start=start, metaheuristic=metaheuristic)
    stats["start_loaded"] = adapter.loaded
    if sol is None:
        stats["solutions"] = adapter.solutions
        return SearchResult([], adapter.status(), stats)
    best_obj = int(sol.ObjectiveValue())
    stats["gls_objective"] = best_obj
    # Read now: a later solve on the same model may reuse the assignment's storage.
    best_routes = adapter.read(sol)
    if use_lns:
        left = max(0.1, seconds - (time.monotonic() - t0))
        lns = Lns(problem, params, slots, jobs, allowed, preds)
        gls_seq = adapter.sequences(sol)
        routes, counters = lns.run(gls_seq, left * LNS_SHARE / (1 - GLS_SHARE))
        stats.update(counters)
        if lns.best_key < lns.key(gls_seq, *lns.measure(gls_seq)):
            left = max(0.1, seconds - (time.monotonic() - t0))
            polished = adapter.solve(left, start=routes, metaheuristic=metaheuristic)
            stats["lns_loaded"] = adapter.loaded
            if adapter.loaded and polished is not None:
                if polished.ObjectiveValue() < best_obj:
                    best_routes, best_obj = adapter.read(polished), int(polished.ObjectiveValue())
                    stats["best_from"] = "lns+gls"
            else:  # the model did not take the routes back: time them ourselves
                best_routes = lns.raw_routes(routes)
                best_obj = adapter.objective_of(routes)
                stats["best_from"] = "lns"
    stats["solutions"] = adapter.solutions
    stats["objective"] = best_obj
    stats["first_solution_time"] = round(first[0], 3) if first else None
    stats["orphans_dropped"] = adapter.drop_orphans(best_routes)
    return SearchResult(best_routes, "feasible", stats)


def _python_search(
    problem: Problem,
    params: SolveParams,
    slots: Sequence[Slot],
    jobs: Sequence[Job],
    allowed: Sequence[Sequence[int]],
    preds: Sequence[tuple[int, int]],
    seconds: float,
    seen: Callable[[float], None],
    stats: dict[str, Any],
) -> SearchResult:
    """Very large days: our insertion + ruin-and-recreate only, timed by scheduler.timing.

    Restoring a thousand-visit assignment with breaks into OR-Tools alone takes
    longer than the search it would enable, so the model is not built at all.
    """
    t0 = time.monotonic()
    routes = construct(problem, params.objective, slots, jobs, allowed, preds, seconds / 3)
    stats["first_solution"] = "construct"
    stats["construct_time"] = round(time.monotonic() - t0, 3)
    stats["construct_jobs"] = sum(len(r) for r in routes)
    lns = Lns(problem, params, slots, jobs, allowed, preds)
    seen(lns.scalar(routes, *lns.measure(routes)))
    left = max(0.1, seconds - (time.monotonic() - t0))
    routes, counters = lns.run(routes, left, on_improve=seen)
    stats.update(counters)
    stats["objective"] = lns.scalar(routes, *lns.measure(routes))
    stats["best_from"] = "lns"
    return SearchResult(lns.raw_routes(routes), "feasible", stats)


def _worker(args: tuple) -> SearchResult:
    problem, params, slots, jobs, allowed, preds, seconds, meta = args
    return _one_search(problem, params, slots, jobs, allowed, preds, seconds, None, meta)


def run_search(
    problem: Problem,
    params: SolveParams,
    slots: Sequence[Slot],
    jobs: Sequence[Job],
    allowed: Sequence[Sequence[int]],
    preds: Sequence[tuple[int, int]],
    seconds: float,
    progress: Progress | None = None,
) -> SearchResult:
    """Best of ``params.workers`` independent searches of ``seconds`` each."""
    workers = max(1, int(params.workers))
    if workers == 1:
        return _one_search(problem, params, slots, jobs, allowed, preds, seconds, progress)
    ctx = mp.get_context("fork")
    extra = [
        (problem, params, slots, jobs, allowed, preds, seconds, WORKER_METAHEURISTICS[k % 4])
        for k in range(1, workers)
    ]
    with ctx.Pool(workers - 1) as pool:
        pending = pool.map_async(_worker, extra)
        results = [_one_search(problem, params, slots, jobs, allowed, preds, seconds, progress)]
        results += pending.get(timeout=seconds + 60)
    found = [r for r in results if r.routes]
    if not found:
        return results[0]
    best = min(found, key=lambda r: r.stats.get("objective", float("inf")))
    best.stats["workers"] = workers
    best.stats["worker_objectives"] = [r.stats.get("objective") for r in results]
    return best

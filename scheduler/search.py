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
from .model import Job, Problem, SolveParams

Progress = Callable[[float, float | None], None]

# Metaheuristic of worker k (k = 0 is the main process); GLS is the strongest alone.
WORKER_METAHEURISTICS = ("GLS", "GLS", "SA", "TABU")


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
    adapter = Adapter(problem, params, slots, jobs, allowed, preds)
    build = time.monotonic() - t0
    first: list[float] = []

    def seen(obj: int) -> None:
        if not first:
            first.append(time.monotonic() - t0)
        if progress is not None:
            progress(min(0.99, (time.monotonic() - t0) / max(seconds, 1e-9)), float(obj))

    adapter.on_solution(seen)
    sol = adapter.solve(max(0.1, seconds - build), metaheuristic=metaheuristic)
    stats: dict[str, Any] = {
        "build_time": round(build, 3),
        "solutions": adapter.solutions,
        "metaheuristic": metaheuristic,
    }
    if sol is None:
        return SearchResult([], adapter.status(), stats)
    stats["objective"] = int(sol.ObjectiveValue())
    stats["first_solution_time"] = round(first[0], 3) if first else None
    status = adapter.status()
    if status not in ("optimal",):
        status = "feasible"
    routes = adapter.read(sol)
    stats["orphans_dropped"] = adapter.drop_orphans(routes)
    return SearchResult(routes, status, stats)


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

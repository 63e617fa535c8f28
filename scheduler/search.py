"""Search on top of the OR-Tools model.

One search = our priority-first insertion (:mod:`scheduler.construct`), our
ruin-and-recreate (:mod:`scheduler.lns`) for most of the time, then OR-Tools' guided
local search from its result (the model checks and polishes it). Tiny problems go
straight to OR-Tools (parallel cheapest insertion + GLS); very large ones skip
OR-Tools. ``params.workers`` runs independent searches (other seeds) in separate
processes and keeps the best; in DISTANCE mode every second one is a fleet search
(:meth:`scheduler.lns.Lns.reduce_fleet`: fewest routes first, then distance on
them), so two workers are a portfolio rather than two draws of the same search.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .adapter import Adapter, Instance, RawRoute
from .construct import construct
from .lns import Lns
from .model import Objective

Progress = Callable[[float, float | None], None]

# Metaheuristic of worker k (k = 0 is the main process); GLS is the strongest alone.
WORKER_METAHEURISTICS = ("GLS", "GLS", "SA", "TABU")


# With LNS the time goes: our first solution, our ruin-and-recreate (LNS_SHARE of what
# is left), then OR-Tools' guided local search from its result (the rest).
LNS_SHARE = 0.85
LNS_MIN_JOBS = 8  # below this, guided local search alone is exhaustive enough
# Above this many (jobs x vehicles) OR-Tools is skipped: construct + LNS only.
PYTHON_ONLY_SIZE = 40_000


@dataclass
class SearchResult:
    routes: list[RawRoute]
    status: str
    stats: dict[str, Any] = field(default_factory=dict)


def _one_search(
    inst: Instance,
    seconds: float,
    progress: Progress | None,
    metaheuristic: str = "GLS",
    fleet: bool = False,
) -> SearchResult:
    t0 = time.monotonic()
    params, slots, jobs = inst.params, inst.slots, inst.jobs
    first: list[float] = []

    def seen(obj: float) -> None:
        if not first:
            first.append(time.monotonic() - t0)
        if progress is not None:
            progress(min(0.99, (time.monotonic() - t0) / max(seconds, 1e-9)), float(obj))

    fleet = fleet and params.objective is Objective.DISTANCE  # no route count to cut else
    stats: dict[str, Any] = {"metaheuristic": metaheuristic, "fleet": fleet}
    use_lns = params.lns and len(jobs) >= LNS_MIN_JOBS
    if use_lns and len(jobs) * len(slots) > PYTHON_ONLY_SIZE:
        return _python_search(inst, seconds, seen, stats, fleet)
    adapter = Adapter(inst)
    stats["build_time"] = round(time.monotonic() - t0, 3)
    adapter.on_solution(lambda obj: seen(float(obj)))
    first_kind = params.first_solution
    if first_kind == "auto":
        first_kind = "construct" if use_lns else "ortools"
    stats["first_solution"] = first_kind
    best_routes: list[RawRoute] | None = None
    routes: list[list[int]] | None = None
    if first_kind == "construct":
        t1 = time.monotonic()
        routes = construct(inst, seconds / 3)
        stats["construct_time"] = round(time.monotonic() - t1, 3)
        stats["construct_jobs"] = sum(len(r) for r in routes)
    if use_lns and routes is not None:
        lns = Lns(inst, fleet)
        # Progress in the model's units, so the numbers continue into the GLS phase.
        seen(float(adapter.objective_of(routes)))
        left = max(0.1, seconds - (time.monotonic() - t0))
        routes, counters = lns.run(
            routes, left * LNS_SHARE, on_improve=lambda r, _: seen(float(adapter.objective_of(r)))
        )
        stats.update(counters)
        best_routes = lns.raw_routes(routes)
        best_obj = adapter.objective_of(routes)
        stats["best_from"] = "lns"
    left = max(0.1, seconds - (time.monotonic() - t0))
    sol = adapter.solve(left, start=routes, metaheuristic=metaheuristic)
    stats["start_loaded"] = adapter.loaded
    if sol is not None:
        # Loaded: GLS only improved the LNS routes. Not loaded: GLS started afresh;
        # compare both on what they share (penalties of unserved jobs + travel).
        fresh = adapter.objective_of(adapter.sequences(sol))
        if best_routes is None or adapter.loaded or fresh < best_obj:
            best_routes, best_obj = adapter.read(sol), int(sol.ObjectiveValue())
            stats["best_from"] = "lns+gls" if adapter.loaded else "gls"
    # Improving solutions seen: OR-Tools' plus the LNS's new bests.
    stats["solutions"] = adapter.solutions + stats.get("lns_improvements", 0)
    if best_routes is None:
        return SearchResult([], adapter.status(), stats)
    stats["objective"] = best_obj
    stats["first_solution_time"] = round(first[0], 3) if first else None
    stats["orphans_dropped"] = adapter.drop_orphans(best_routes)
    return SearchResult(best_routes, "feasible", stats)


def _python_search(
    inst: Instance,
    seconds: float,
    seen: Callable[[float], None],
    stats: dict[str, Any],
    fleet: bool = False,
) -> SearchResult:
    """Very large days: our insertion + ruin-and-recreate only, timed by scheduler.timing.

    Restoring a thousand-visit assignment with breaks into OR-Tools alone takes
    longer than the search it would enable, so the model is not built at all.
    """
    t0 = time.monotonic()
    routes = construct(inst, seconds / 3)
    stats["first_solution"] = "construct"
    stats["construct_time"] = round(time.monotonic() - t0, 3)
    stats["construct_jobs"] = sum(len(r) for r in routes)
    lns = Lns(inst, fleet)
    seen(lns.scalar(routes, *lns.measure(routes)))
    left = max(0.1, seconds - (time.monotonic() - t0))
    routes, counters = lns.run(routes, left, on_improve=lambda _, value: seen(value))
    stats.update(counters)
    stats["objective"] = lns.scalar(routes, *lns.measure(routes))
    stats["solutions"] = 1 + counters["lns_improvements"]
    stats["best_from"] = "lns"
    return SearchResult(lns.raw_routes(routes), "feasible", stats)


def _worker(args: tuple[Instance, float, str, int]) -> SearchResult:
    inst, deadline, meta, k = args
    inst = replace(inst, params=replace(inst.params, seed=inst.params.seed + 1000 * k))
    # The worker's start-up (a fresh interpreter) comes out of its share of the time.
    seconds = max(0.5, deadline - time.time())
    fleet = k % 2 == 1
    return _one_search(inst, seconds, None, meta, fleet)


def run_search(inst: Instance, seconds: float, progress: Progress | None = None) -> SearchResult:
    """Best of ``params.workers`` independent searches of ``seconds`` each."""
    workers = max(1, int(inst.params.workers))
    if workers == 1:
        return _one_search(inst, seconds, progress)
    # "spawn", not "fork": a fork of a process with threads (a server, a progress bar) can
    # inherit a held lock and hang for ever; a fresh interpreter costs about a second.
    ctx = mp.get_context("spawn")
    deadline = time.time() + seconds
    extra = [(inst, deadline, WORKER_METAHEURISTICS[k % 4], k) for k in range(1, workers)]
    with ctx.Pool(workers - 1) as pool:
        pending = pool.map_async(_worker, extra)
        results = [_one_search(inst, seconds, progress)]
        results += pending.get(timeout=seconds + 60)
    found = [r for r in results if r.routes]
    if not found:
        return results[0]
    best = min(found, key=lambda r: r.stats.get("objective", float("inf")))
    best.stats["workers"] = workers
    best.stats["worker_objectives"] = [r.stats.get("objective") for r in results]
    return best

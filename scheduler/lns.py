"""Ruin-and-recreate around the OR-Tools model, with priority-aware reinsertion.

OR-Tools' local search moves one or two visits at a time; deciding *which* jobs to
serve on an overloaded day needs bigger steps. Each iteration removes a group of
related visits (near one another, a string of one route, or random), then
reinserts the removed and all unserved jobs, most important first, each at its
cheapest feasible position. A new solution is accepted within a threshold that
shrinks to zero (record-to-record travel); the best one by the exact objective is
kept. Feasibility uses :mod:`scheduler.timing`, which is at least as strict as the
solver model, so the result loads back into OR-Tools for a final polish.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from .adapter import Instance, RawRoute
from .construct import MAX_CHECKS, _fast_schedule, fast_feasible
from .model import Objective

# Acceptance scalar in VROOM mode: one priority point is worth this many cost units
# and one job (any priority) this many more; close to lexicographic, but smooth
# enough for a threshold to mean something.
VROOM_POINT = 1000.0
VROOM_JOB = 200.0
# Starting acceptance threshold, as a share of the current travel cost.
THRESHOLD_START = 0.03
BLINK = 0.02  # probability of skipping a candidate position while reinserting
# Unserved jobs offered for reinsertion per iteration on very overloaded days (the
# removed ones always are); keeps an iteration fast with hundreds left out.
POOL_MAX = 80
# DISTANCE mode, "fleet" searches (a second worker's style) first spend this share of
# the time emptying routes, then improve distance on the vehicles left. Fewer, fuller
# routes are often shorter in total on tight windows, but a distance-only walk rarely
# gets there: emptying a route costs before it pays.
REDUCE_SHARE = 0.4
CACHE_MAX = 50_000  # remembered route evaluations before the caches start afresh


T = TypeVar("T")


def _memo(cache: dict[tuple[int, ...], T], key: tuple[int, ...], compute: Callable[[], T]) -> T:
    """``cache[key]``, computed on a miss; the cache starts afresh past CACHE_MAX entries."""
    got = cache.get(key)
    if got is None:
        if len(cache) > CACHE_MAX:
            cache.clear()
        got = cache[key] = compute()
    return got


class Lns:
    """State and moves of the ruin-and-recreate search (see the module docstring)."""

    def __init__(self, inst: Instance, fleet: bool = False) -> None:
        problem, params = inst.problem, inst.params
        self.problem = problem
        self.objective = params.objective
        self.fleet = fleet and params.objective is Objective.DISTANCE
        self.weights = params.weights
        self.slots = list(inst.slots)
        self.jobs = list(inst.jobs)
        self.allowed = [list(a) for a in inst.allowed]
        self.preds = list(inst.preds)
        self.rng = random.Random(params.seed)
        self.dur = np.asarray(problem.durations)
        self.costs = np.asarray(
            problem.costs if problem.costs is not None else problem.durations, dtype=float
        )
        self.loc = np.array([j.location for j in self.jobs], dtype=np.int64)
        # Jobs the LNS never removes once served: pinned ones and both ends of a
        # precedence (moving them would need both routes re-timed together). Unserved
        # ones are inserted like any other; a successor only after its predecessors.
        self.locked = {k for k, j in enumerate(self.jobs) if j.pinned_start is not None}
        self.locked |= {k for k, j in enumerate(self.jobs) if j.pinned_technician is not None}
        self.pred_of: dict[int, list[int]] = {}
        self.prec_jobs = {k for pair in self.preds for k in pair}
        for a, b in self.preds:
            self.locked |= {a, b}
            self.pred_of.setdefault(b, []).append(a)
        self.shift_len = np.array(
            [
                s.shift.end - s.shift.start - sum(b.duration for b in s.shift.breaks)
                for s in self.slots
            ]
        )
        # Loosest window bounds of each job (first opening, last closing).
        far = 10 * 86_400 * 365
        self.tw_open = np.array(
            [
                j.pinned_start
                if j.pinned_start is not None
                else min((w.start for w in j.time_windows), default=0)
                for j in self.jobs
            ],
            dtype=np.int64,
        )
        self.tw_close = np.array(
            [
                j.pinned_start
                if j.pinned_start is not None
                else max((w.end for w in j.time_windows), default=far)
                for j in self.jobs
            ],
            dtype=np.int64,
        )
        self.allowed_mask = np.zeros((len(self.jobs), len(self.slots)), dtype=bool)
        for k, vs in enumerate(self.allowed):
            self.allowed_mask[k, vs] = True
        self.skus = sorted({s for j in self.jobs for s, q in j.items.items() if q > 0})
        self.demand = np.array(
            [[j.items.get(s, 0) for s in self.skus] for j in self.jobs], dtype=np.int64
        ).reshape(len(self.jobs), len(self.skus))
        untracked = int(self.demand.sum()) + 1  # room of a van whose stock is not tracked
        self.stock_cap = np.array(
            [
                [untracked if sl.tech.stock is None else sl.tech.stock.get(s, 0) for s in self.skus]
                for sl in self.slots
            ],
            dtype=np.int64,
        ).reshape(len(self.slots), len(self.skus))
        # DISTANCE mode: a missing job costs more than any detour could (twice the
        # longest arc), so serving everything comes first.
        self.job_value = 2.0 * float(self.costs.max()) + 1.0 if self.costs.size else 1.0
        # Route reduction state: vehicles that may not be used, and how often each job
        # stayed out (those go first); idle otherwise.
        self.closed = np.zeros(len(self.slots), dtype=bool)
        self.fail: np.ndarray | None = None
        # Per (vehicle, route) results that every iteration would otherwise recompute.
        self._arc_cache: dict[tuple[int, ...], tuple[np.ndarray, ...]] = {}
        self._work_cache: dict[tuple[int, ...], int] = {}
        near = self.costs[np.ix_(self.loc, self.loc)] if len(self.jobs) else np.zeros((0, 0))
        self.neighbours = np.argsort(near, axis=1, kind="stable")[:, :40]

    # ------------------------------------------------------------------ evaluation
    def _route_cost(self, v: int, seq: Sequence[int]) -> float:
        sh = self.slots[v].shift
        if not seq:
            return 0.0
        locs = [sh.start_location, *(self.loc[k] for k in seq), sh.end_location]
        return float(sum(self.costs[locs[i], locs[i + 1]] for i in range(len(locs) - 1)))

    def _route_work(self, v: int, seq: Sequence[int]) -> int:
        if not seq:
            return 0
        return _memo(self._work_cache, (v, *seq), lambda: self._route_work_of(v, seq))

    def _route_work_of(self, v: int, seq: Sequence[int]) -> int:
        sh = self.slots[v].shift
        locs = [sh.start_location, *(self.loc[k] for k in seq), sh.end_location]
        travel = sum(int(self.dur[locs[i], locs[i + 1]]) for i in range(len(locs) - 1))
        return travel + sum(self.jobs[k].duration for k in seq)

    def _sla(self, v: int, seq: Sequence[int]) -> float:
        """FIELD soft costs of route v besides travel: SLA lateness, preferred technicians."""
        if self.objective is not Objective.FIELD or not seq:
            return 0.0
        tid = self.slots[v].tech.id
        total = self.weights.preferred_technician * sum(
            1
            for k in seq
            if self.jobs[k].preferred_technicians and tid not in self.jobs[k].preferred_technicians
        )
        if all(self.jobs[k].sla_due is None for k in seq):
            return total
        t = _fast_schedule([self.jobs[k] for k in seq], self.slots[v], self.dur)
        for k, start in zip(seq, t.starts, strict=True):
            j = self.jobs[k]
            if j.sla_due is not None:
                late = max(0, start + j.duration - j.sla_due)
                total += late * self.weights.sla_late_per_minute / 60 * (1 + j.priority / 25)
        return total

    def measure(self, routes: list[list[int]]) -> tuple[float, float]:
        """(travel cost, SLA cost) of ``routes``."""
        cost = sum(self._route_cost(v, r) for v, r in enumerate(routes))
        sla = sum(self._sla(v, r) for v, r in enumerate(routes))
        return cost, sla

    def key(self, routes: list[list[int]], cost: float, sla: float) -> tuple:
        """Exact objective to keep the best (smaller is better)."""
        served = [k for r in routes for k in r]
        prio = sum(self.jobs[k].priority for k in served)
        if self.objective is Objective.VROOM:
            return (-prio, -len(served), cost)
        if self.objective is Objective.DISTANCE:
            return (-len(served), cost)
        served_set = set(served)
        dropped = sum(
            self.weights.priority * (j.priority + 1)
            for k, j in enumerate(self.jobs)
            if k not in served_set
        )
        return (dropped + cost * self.weights.travel + sla,)

    def scalar(self, routes: list[list[int]], cost: float, sla: float) -> float:
        """Smooth version of :meth:`key` for the acceptance test."""
        served = {k for r in routes for k in r}
        if self.objective is Objective.FIELD:
            return self.key(routes, cost, sla)[0]
        missing = [j for k, j in enumerate(self.jobs) if k not in served]
        if self.objective is Objective.VROOM:
            return sum(VROOM_POINT * j.priority + VROOM_JOB for j in missing) + cost
        return len(missing) * self.job_value + cost

    # ------------------------------------------------------------------ moves
    def ruin(self, routes: list[list[int]]) -> list[int]:
        served = [k for r in routes for k in r if k not in self.locked]
        if not served:
            return []
        rng = self.rng
        n = min(len(served), rng.randint(3, max(4, min(30, len(served) // 6))))
        seed = rng.choice(served)
        kind = rng.random()
        where = {k: v for v, r in enumerate(routes) for k in r}
        if kind < 0.5:  # radial: the seed and its nearest served neighbours
            picked = [seed]
            for k in self.neighbours[seed]:
                k = int(k)
                if k != seed and k in where and k not in self.locked:
                    picked.append(k)
                if len(picked) >= n:
                    break
        elif kind < 0.85:  # strings: a run of visits in the seed's route and nearby routes
            picked = []
            routes_seen: set[int] = set()
            for k in [seed, *map(int, self.neighbours[seed])]:
                if k not in where or where[k] in routes_seen or len(picked) >= n:
                    continue
                v = where[k]
                routes_seen.add(v)
                r = routes[v]
                i = r.index(k)
                length = rng.randint(1, min(len(r), 8))
                lo = max(0, min(i - rng.randint(0, length - 1), len(r) - length))
                picked += [x for x in r[lo : lo + length] if x not in self.locked]
        else:  # random
            picked = rng.sample(served, n)
        gone = set(picked)
        for r in routes:
            r[:] = [k for k in r if k not in gone]
        return list(gone)

    def _arcs(self, v: int, r: list[int]) -> tuple[np.ndarray, ...]:
        """:meth:`_arcs_of`, remembered: an iteration changes few routes of many."""
        return _memo(self._arc_cache, (v, *r), lambda: self._arcs_of(v, r))

    def _arcs_of(self, v: int, r: list[int]) -> tuple[np.ndarray, ...]:
        """Per insertion point of route v: from place, to place, vehicle, position,
        earliest departure from the "from" stop and latest start at the "to" stop.

        The two times ignore breaks, pins and gaps between windows, so they only
        over-estimate what fits: a cheap necessary test before the full one.
        """
        sh = self.slots[v].shift
        locs = [sh.start_location, *(int(self.loc[x]) for x in r), sh.end_location]
        n = len(locs) - 1
        dep = [0] * n
        t = sh.start
        dep[0] = t
        for i, k in enumerate(r):
            t = max(t + int(self.dur[locs[i], locs[i + 1]]), int(self.tw_open[k]))
            t += self.jobs[k].duration
            dep[i + 1] = t
        latest = [0] * n
        lt = sh.end
        latest[n - 1] = lt
        for i in range(len(r) - 1, -1, -1):
            k = r[i]
            lt = min(
                int(self.tw_close[k]),
                lt - int(self.dur[locs[i + 1], locs[i + 2]]) - self.jobs[k].duration,
            )
            latest[i] = lt
        arr = np.array(locs, dtype=np.int64)
        return (
            arr[:-1],
            arr[1:],
            np.full(n, v),
            np.arange(n),
            np.array(dep, dtype=np.int64),
            np.array(latest, dtype=np.int64),
        )

    def _used(self, r: list[int]) -> np.ndarray:
        if r and self.skus:
            return self.demand[r].sum(axis=0)
        return np.zeros(len(self.skus), dtype=np.int64)

    def recreate(
        self,
        routes: list[list[int]],
        pool: list[int],
        work: list[int],
        keep_order: bool = False,
        deadline: float | None = None,
    ) -> None:
        """Reinsert ``pool`` (most important first) at cheapest feasible positions.

        ``keep_order`` takes ``pool`` as given; ``deadline`` (seconds from now) stops early.
        """
        rng = self.rng
        stop = None if deadline is None else time.monotonic() + deadline
        if keep_order:
            pass
        elif self.fail is not None:
            fail = self.fail
            pool.sort(key=lambda k: -(fail[k] + rng.random()))
        elif self.objective is Objective.DISTANCE:
            pool.sort(key=lambda k: rng.random())
        else:
            noise = rng.choice((0.0, 0.0, 5.0, 20.0))
            pool.sort(key=lambda k: -(self.jobs[k].priority + rng.random() * noise))
        blink = 0.0 if keep_order else BLINK
        served = {k for r in routes for k in r}
        n_v = len(routes)
        arcs = [self._arcs(v, routes[v]) for v in range(n_v)]
        room = self.stock_cap - np.array([self._used(routes[v]) for v in range(n_v)]).reshape(
            n_v, len(self.skus)
        )
        work_arr = np.asarray(work, dtype=np.int64)

        def flat() -> list[np.ndarray]:
            return [np.concatenate(part) for part in zip(*arcs, strict=True)]

        A, B, V, P, DEP, LAT = flat()
        for k in pool:
            if stop is not None and time.monotonic() > stop:
                break
            if any(p not in served for p in self.pred_of.get(k, ())):
                continue
            job = self.jobs[k]
            j = job.location
            # Necessary conditions, vectorised over every position of every route.
            mask = self.allowed_mask[k, V] & ~self.closed[V]
            dt = self.dur[A, j] + self.dur[j, B] - self.dur[A, B]
            mask &= work_arr[V] + job.duration + dt <= self.shift_len[V]
            if self.demand[k].any():
                mask &= (room[V] >= self.demand[k]).all(axis=1)
            st = np.maximum(DEP + self.dur[A, j], self.tw_open[k])
            mask &= (st <= self.tw_close[k]) & (st + job.duration + self.dur[j, B] <= LAT)
            idx = np.nonzero(mask)[0]
            if not len(idx):
                continue
            delta = self.costs[A[idx], j] + self.costs[j, B[idx]] - self.costs[A[idx], B[idx]]
            checks = 0
            for i in idx[np.argsort(delta, kind="stable")]:
                if checks >= MAX_CHECKS:
                    break
                if blink and rng.random() < blink:
                    continue
                v, pos = int(V[i]), int(P[i])
                seq = list(routes[v])
                seq.insert(pos, k)
                checks += 1
                if not fast_feasible([self.jobs[x] for x in seq], self.slots[v], self.dur):
                    continue
                if self.preds and not self._prec_local_ok(v, seq, routes):
                    continue
                routes[v] = seq
                work_arr[v] = work[v] = self._route_work(v, seq)
                room[v] -= self.demand[k]
                arcs[v] = self._arcs(v, seq)
                A, B, V, P, DEP, LAT = flat()
                served.add(k)
                break

    # ------------------------------------------------------------------ loop
    def run(
        self,
        start: list[list[int]],
        seconds: float,
        on_improve: Callable[[list[list[int]], float], None] | None = None,
    ) -> tuple[list[list[int]], dict]:
        """Improve ``start`` for ``seconds``; returns the best routes and counters.

        ``on_improve(routes, value)`` is called on each new best (value: acceptance scalar).
        A fleet search first spends up to REDUCE_SHARE of the time emptying routes.
        """
        t0 = time.monotonic()
        counters = {"lns_iterations": 0, "lns_improvements": 0}
        if self.fleet:
            self.fail = np.zeros(len(self.jobs))
            start = self.reduce_fleet(start, seconds * REDUCE_SHARE, counters)
            counters["fleet_routes"] = sum(1 for r in start if r)
            self.closed[:] = [not r for r in start]
        left = max(0.0, seconds - (time.monotonic() - t0))
        try:
            return self._walk(start, left, on_improve, counters=counters)
        finally:
            self.closed[:] = False
            self.fail = None

    def reduce_fleet(
        self, routes: list[list[int]], seconds: float, counters: dict
    ) -> list[list[int]]:
        """Routes serving everything ``routes`` serves, on as few vehicles as found in ``seconds``.

        Empties the shortest route, closes it and every unused vehicle, and walks until
        all its visits are back in (jobs that often stayed out are reinserted first);
        repeats until an attempt runs out of time. Leaves ``closed`` all open.
        """
        deadline = time.monotonic() + seconds
        best = [list(r) for r in routes]
        n_served = sum(len(r) for r in best)
        try:
            while time.monotonic() < deadline:
                used = [v for v, r in enumerate(best) if r]
                free = [v for v in used if not any(k in self.locked for k in best[v])]
                if len(used) <= 1 or not free:
                    break
                v = min(free, key=lambda u: len(best[u]))
                cand = [list(r) for r in best]
                cand[v] = []
                self.closed[:] = True
                self.closed[[u for u in used if u != v]] = False
                # One attempt gets at most half the budget: the last one usually fails.
                budget = min(deadline - time.monotonic(), seconds / 2)
                got, _ = self._walk(cand, budget, None, counters=counters, until=n_served)
                if sum(len(r) for r in got) < n_served:
                    break
                best = got
        finally:
            self.closed[:] = False
        return best

    def _walk(
        self,
        start: list[list[int]],
        seconds: float,
        on_improve: Callable[[list[list[int]], float], None] | None,
        counters: dict,
        until: int | None = None,
    ) -> tuple[list[list[int]], dict]:
        """Record-to-record walk from ``start``; stops early once ``until`` jobs are served."""
        t0 = time.monotonic()
        deadline = t0 + seconds
        seconds = max(seconds, 1e-9)
        cur = [list(r) for r in start]
        n_v = len(cur)
        costs = [self._route_cost(v, cur[v]) for v in range(n_v)]
        slas = [self._sla(v, cur[v]) for v in range(n_v)]
        cur_val = self.scalar(cur, sum(costs), sum(slas))
        best = [list(r) for r in cur]
        best_key = self.key(best, sum(costs), sum(slas))
        iters = improved = 0
        while time.monotonic() < deadline:
            iters += 1
            cand = [list(r) for r in cur]
            removed = self.ruin(cand)
            served = {k for r in cand for k in r}
            pool = self._pool(served, removed)
            work = [self._route_work(v, cand[v]) for v in range(n_v)]
            self.recreate(cand, pool, work)
            if self.fail is not None:
                now_in = {k for r in cand for k in r}
                self.fail[[k for k in pool if k not in now_in]] += 1
            changed = [v for v in range(n_v) if cand[v] != cur[v]]
            if not changed and not removed:
                continue
            c_costs = list(costs)
            c_slas = list(slas)
            for v in changed:
                c_costs[v] = self._route_cost(v, cand[v])
                c_slas[v] = self._sla(v, cand[v])
            if self.preds and not self._precedence_ok(cand):
                continue
            val = self.scalar(cand, sum(c_costs), sum(c_slas))
            frac = (time.monotonic() - t0) / seconds
            threshold = THRESHOLD_START * (1 - frac) * max(1.0, sum(costs))
            if val <= cur_val + threshold:
                cur, costs, slas, cur_val = cand, c_costs, c_slas, val
                k = self.key(cur, sum(costs), sum(slas))
                if k < best_key:
                    best, best_key = [list(r) for r in cur], k
                    improved += 1
                    if on_improve is not None:
                        on_improve(best, val)
                    if until is not None and sum(len(r) for r in best) >= until:
                        break
        counters["lns_iterations"] += iters
        counters["lns_improvements"] += improved
        return best, counters

    def _pool(self, served: set[int], removed: list[int]) -> list[int]:
        """Jobs to reinsert: the removed ones and the unserved (a sample when there are many)."""
        out = [
            k
            for k in range(len(self.jobs))
            if k not in served and all(p in served for p in self.pred_of.get(k, ()))
        ]
        if len(out) <= POOL_MAX:
            return out
        gone = set(removed)
        rest = [k for k in out if k not in gone]
        rest.sort(key=lambda k: -self.jobs[k].priority)
        half = POOL_MAX // 2
        sample = rest[:half] + self.rng.sample(rest[half:], min(len(rest) - half, half))
        return list(gone) + sample

    def _starts(self, v: int, seq: Sequence[int]) -> dict[int, int]:
        t = _fast_schedule([self.jobs[k] for k in seq], self.slots[v], self.dur)
        return dict(zip(seq, t.starts, strict=True))

    def _prec_local_ok(self, v: int, seq: list[int], routes: list[list[int]]) -> bool:
        """Precedences touching route ``v`` still hold with ``seq`` as its new order."""
        if not any(k in self.prec_jobs for k in seq):
            return True
        mine = self._starts(v, seq)
        where = {k: u for u, r in enumerate(routes) if u != v for k in r if k in self.prec_jobs}
        cache: dict[int, dict[int, int]] = {}

        def start_of(k: int) -> int | None:
            if k in mine:
                return mine[k]
            u = where.get(k)
            if u is None:
                return None
            if u not in cache:
                cache[u] = self._starts(u, routes[u])
            return cache[u][k]

        for a, b in self.preds:
            if a in mine or b in mine:
                sb = start_of(b)
                if sb is None:
                    continue
                sa = start_of(a)
                if sa is None or sa + self.jobs[a].duration > sb:
                    return False
        return True

    def _precedence_ok(self, routes: list[list[int]]) -> bool:
        """Earliest starts keep every precedence (both ends are locked in place)."""
        start: dict[int, int] = {}
        for v, r in enumerate(routes):
            if any(k in self.locked for k in r):
                t = _fast_schedule([self.jobs[k] for k in r], self.slots[v], self.dur)
                start.update(zip(r, t.starts, strict=True))
        for a, b in self.preds:
            if b in start and (a not in start or start[a] + self.jobs[a].duration > start[b]):
                return False
        return True

    def raw_routes(self, routes: list[list[int]]) -> list[RawRoute]:
        """Routes timed by :mod:`scheduler.timing` (earliest schedule), for the plan."""
        out = []
        for v, r in enumerate(routes):
            if not r:
                continue
            t = _fast_schedule([self.jobs[k] for k in r], self.slots[v], self.dur)
            out.append(RawRoute(v, list(r), list(t.starts), t.depart, t.end, list(t.breaks)))
        return out

"""The only module that knows OR-Tools indices.

It builds a ``RoutingModel`` with one vehicle per technician shift, runs searches on
it and translates assignments back into plain sequences of job indices. Node
layout (manager "nodes"): ``0..J-1`` are the jobs handed to the solver (indices
into ``Adapter.jobs``), then for vehicle ``v`` node ``J + 2v`` is its start and
``J + 2v + 1`` its end. Solver "indices" (the manager's) never leave this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from .model import Job, Objective, Problem, Shift, SolveParams, Technician

# Cost units per objective unit in FIELD mode: weights are floats (e.g. 1 per second
# of travel, 60 per late minute); x100 keeps two decimals when rounding to int64.
FIELD_COST_SCALE = 100

# Penalty for leaving a pinned (in-progress) job out, as a multiple of everything
# else the objective can charge: it is never worth dropping one.
PINNED_PENALTY_FACTOR = 1000

# Time limit for turning given routes into a solver assignment (break placement is a
# small search of its own); far more than it needs.
RESTORE_LIMIT_S = 60.0

# Limit of the LNS sub-searches when the search starts from given routes: the first
# of them restores the routes, which on long routes takes more than the 0.1 s default.
RESTORE_LNS_S = 10.0

# Other constants are computed per problem where they are used: the horizon (time
# dimension capacity and slack: waiting may take any time), the lexicographic
# penalties of the VROOM objective, the capacity of untracked vans.


@dataclass(frozen=True)
class Slot:
    """One solver vehicle: technician ``tech`` working ``shift``."""

    vehicle: int
    tech: Technician
    shift: Shift
    tech_index: int
    shift_index: int


@dataclass(frozen=True)
class Instance:
    """What one search works on: the problem and its parameters, the solver's vehicles,
    the jobs handed to it, the vehicles each job may use (pre-checked: skills, stock,
    territory, windows, reachability, pin) and the precedence pairs (a, b) of job
    positions: b only if a is served, and a ends before b starts."""

    problem: Problem
    params: SolveParams
    slots: Sequence[Slot]
    jobs: Sequence[Job]
    allowed: Sequence[Sequence[int]]
    preds: Sequence[tuple[int, int]] = ()


@dataclass
class RawRoute:
    """A route as the adapter reads it from an assignment (times are solver cumuls)."""

    vehicle: int
    jobs: list[int]  # indices into Adapter.jobs
    starts: list[int]
    start: int
    end: int
    breaks: list[tuple[int, int]]


def make_slots(problem: Problem) -> list[Slot]:
    """One slot per (technician, shift), in input order; the vehicle number is its position."""
    slots: list[Slot] = []
    for ti, tech in enumerate(problem.technicians):
        for si, sh in enumerate(tech.shifts):
            slots.append(Slot(len(slots), tech, sh, ti, si))
    return slots


class Adapter:
    """RoutingModel for an instance's jobs (a subset of the problem's) on its slots."""

    def __init__(self, inst: Instance) -> None:
        self.problem = inst.problem
        self.params = inst.params
        self.slots = list(inst.slots)
        self.jobs = list(inst.jobs)
        self.allowed = [list(a) for a in inst.allowed]
        self.predecessors = list(inst.preds)
        self.objective = inst.params.objective
        self.n_jobs = len(self.jobs)
        self.n_vehicles = len(self.slots)
        self.solutions = 0
        self.loaded = False  # whether the last given start routes were accepted
        self._closed = False  # the model closes on the first solve or restore
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        p, J, V = self.problem, self.n_jobs, self.n_vehicles
        loc = [j.location for j in self.jobs]
        for s in self.slots:
            loc += [s.shift.start_location, s.shift.end_location]
        node_loc = np.asarray(loc, dtype=np.int64)
        starts = [J + 2 * v for v in range(V)]
        ends = [J + 2 * v + 1 for v in range(V)]
        self.manager = pywrapcp.RoutingIndexManager(J + 2 * V, V, starts, ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        r = self.routing
        n_nodes = J + 2 * V
        # Matrix and vector callbacks are read by *node* (the wrapper maps indices).
        service = np.zeros(n_nodes, dtype=np.int64)
        for k, job in enumerate(self.jobs):
            service[k] = job.duration

        dur = np.asarray(p.durations, dtype=np.int64)
        travel = dur[np.ix_(node_loc, node_loc)]
        time_matrix = travel + service[:, None]  # transit = service at i + drive i -> j
        self.time_cb = r.RegisterTransitMatrix(time_matrix.tolist())

        costs = np.asarray(p.costs if p.costs is not None else p.durations, dtype=float)
        cost_nodes = costs[np.ix_(node_loc, node_loc)]
        if self.objective is Objective.FIELD:
            scale = self.params.weights.travel * FIELD_COST_SCALE
            arc = np.rint(cost_nodes * scale).astype(np.int64)
        else:
            arc = np.ceil(cost_nodes).astype(np.int64)
        self.arc_cost = arc
        self.cost_cb = r.RegisterTransitMatrix(arc.tolist())
        r.SetArcCostEvaluatorOfAllVehicles(self.cost_cb)

        # Horizon: latest moment anything can happen, seconds from the origin.
        ends_t = [s.shift.end for s in self.slots] or [0]
        self.horizon = int(max(ends_t)) + 1
        # Slack up to the horizon: waiting (and breaks) may take any time.
        r.AddDimension(self.time_cb, self.horizon, self.horizon, False, "time")
        self.time = r.GetDimensionOrDie("time")
        self._time_rules()
        self._disjunctions(arc)
        self._allowed_vehicles()
        self._stock()
        if self.objective is Objective.FIELD:
            self._soft_field()
        self._precedence()
        self._breaks()

    def _time_rules(self) -> None:
        m, r, t = self.manager, self.routing, self.time
        for v, s in enumerate(self.slots):
            sh = s.shift
            t.CumulVar(r.Start(v)).SetRange(sh.start, sh.end)
            t.CumulVar(r.End(v)).SetRange(sh.start, sh.end)
            if sh.max_work is not None:
                # Span = end - start includes breaks; max_work counts only work.
                pause = sum(b.duration for b in sh.breaks)
                t.SetSpanUpperBoundForVehicle(int(sh.max_work + pause), v)
        for k, job in enumerate(self.jobs):
            var = t.CumulVar(m.NodeToIndex(k))
            if job.pinned_start is not None:
                var.SetValue(int(job.pinned_start))
                continue
            ws = sorted(job.time_windows, key=lambda w: w.start)
            if not ws:
                continue
            var.SetRange(int(ws[0].start), int(max(w.end for w in ws)))
            reach = ws[0].end
            for w in ws[1:]:
                if w.start > reach + 1:
                    var.RemoveInterval(int(reach + 1), int(w.start - 1))
                reach = max(reach, w.end)

    def _disjunctions(self, arc: np.ndarray) -> None:
        """Every job may be dropped at a price: this is what makes a first solution exist."""
        m, r, w = self.manager, self.routing, self.params.weights
        # Upper bound on the travel cost of any solution: each node left once at its
        # most expensive arc.
        travel_bound = int(arc.max(axis=1).sum()) + 1
        self.penalties: list[int] = []
        if self.objective is Objective.FIELD:
            base = [round(w.priority * (j.priority + 1) * FIELD_COST_SCALE) for j in self.jobs]
            other = travel_bound + sum(base) + 1
        elif self.objective is Objective.VROOM:
            # Lexicographic: one job more is worth more than any travel (unit = travel
            # bound); one priority point more is worth more than all jobs together.
            unit = travel_bound
            point = unit * (self.n_jobs + 1)
            base = [point * j.priority + unit for j in self.jobs]
            other = point * (sum(j.priority for j in self.jobs) + 1)
        else:  # DISTANCE: every job is worth more than any travel
            base = [travel_bound for _ in self.jobs]
            other = travel_bound * (self.n_jobs + 1)
        # A predecessor is worth its own penalty plus that of everything after it.
        succ: dict[int, list[int]] = {}
        for a, b in self.predecessors:
            succ.setdefault(a, []).append(b)
        for k, job in enumerate(self.jobs):
            pen = base[k]
            seen, stack = {k}, list(succ.get(k, []))
            while stack:
                b = stack.pop()
                if b not in seen:
                    seen.add(b)
                    pen += base[b]
                    stack.extend(succ.get(b, []))
            if job.pinned_technician is not None or job.pinned_start is not None:
                pen = max(pen, 1) * PINNED_PENALTY_FACTOR + other
            self.penalties.append(pen)
            r.AddDisjunction([m.NodeToIndex(k)], pen)

    def _allowed_vehicles(self) -> None:
        m, r = self.manager, self.routing
        for k, vehicles in enumerate(self.allowed):
            if len(vehicles) < self.n_vehicles:
                # SetAllowedVehiclesForIndex rejects Python lists in 9.15; -1 = unperformed.
                r.VehicleVar(m.NodeToIndex(k)).SetValues([-1, *sorted(vehicles)])

    def _stock(self) -> None:
        r = self.routing
        skus = sorted({sku for j in self.jobs for sku, q in j.items.items() if q > 0})
        n_nodes = self.n_jobs + 2 * self.n_vehicles
        for sku in skus:
            demand = [0] * n_nodes  # by node
            for k, job in enumerate(self.jobs):
                demand[k] = int(job.items.get(sku, 0))
            untracked = sum(demand) + 1  # capacity of a van whose stock is not tracked
            caps = [
                untracked if s.tech.stock is None else int(s.tech.stock.get(sku, 0))
                for s in self.slots
            ]
            cb = r.RegisterUnaryTransitVector(demand)
            r.AddDimensionWithVehicleCapacity(cb, 0, caps, True, f"stock:{sku}")

    def _soft_field(self) -> None:
        m, r, w = self.manager, self.routing, self.params.weights
        # SLA: cost per second the service ends after sla_due, growing with priority.
        for k, job in enumerate(self.jobs):
            if job.sla_due is None or w.sla_late_per_minute <= 0:
                continue
            per_s = w.sla_late_per_minute / 60 * (1 + job.priority / 25) * FIELD_COST_SCALE
            bound = max(0, int(job.sla_due - job.duration))
            self.time.SetCumulVarSoftUpperBound(m.NodeToIndex(k), bound, max(1, round(per_s)))
        # Preferred technicians: a "pref" dimension whose per-vehicle transit is the
        # price of a job done by someone it does not prefer; its span is charged 1:1.
        if w.preferred_technician > 0 and any(j.preferred_technicians for j in self.jobs):
            price = round(w.preferred_technician * FIELD_COST_SCALE)
            n_nodes = self.n_jobs + 2 * self.n_vehicles
            per_tech: dict[str, int] = {}
            callbacks = []
            for s in self.slots:
                if s.tech.id not in per_tech:
                    vec = [0] * n_nodes  # by node
                    for k, job in enumerate(self.jobs):
                        if job.preferred_technicians and s.tech.id not in job.preferred_technicians:
                            vec[k] = price
                    per_tech[s.tech.id] = r.RegisterUnaryTransitVector(vec)
                callbacks.append(per_tech[s.tech.id])
            cap = price * (self.n_jobs + 1)
            r.AddDimensionWithVehicleTransits(callbacks, 0, cap, True, "pref")
            r.GetDimensionOrDie("pref").SetSpanCostCoefficientForAllVehicles(1)
        # Balance: a "work" dimension (service + travel, no waiting) whose global span
        # (the longest route's work, as every route starts at 0) is charged.
        if w.balance > 0:
            r.AddDimension(self.time_cb, 0, self.horizon, True, "work")
            coef = max(1, round(w.balance * FIELD_COST_SCALE))
            r.GetDimensionOrDie("work").SetGlobalSpanCostCoefficient(coef)

    def _precedence(self) -> None:
        if not self.predecessors:
            return
        m, t = self.manager, self.time
        # Both served: the successor starts after the predecessor ends (the dimension's
        # own precedence, checked by its filters). "Successor only if predecessor" is
        # not a solver constraint: a generic ActiveVar constraint stalls every first
        # solution heuristic. Instead a predecessor's drop penalty includes its
        # successors' (see _disjunctions) and drop_orphans() repairs what is left.
        for a, b in self.predecessors:
            t.AddNodePrecedence(m.NodeToIndex(a), m.NodeToIndex(b), int(self.jobs[a].duration))

    def _breaks(self) -> None:
        r, t = self.routing, self.time
        solver = r.solver()
        # Breaks never interrupt a service; this vector is by solver *index*.
        visit = [0] * (r.Size() + self.n_vehicles)
        for k, job in enumerate(self.jobs):
            visit[self.manager.NodeToIndex(k)] = int(job.duration)
        self.break_vars: list[list[pywrapcp.IntervalVar]] = []
        for v, s in enumerate(self.slots):
            ivs = []
            for n, b in enumerate(s.shift.breaks):
                earliest = max(b.earliest, s.shift.start)
                latest = min(b.latest, s.shift.end - b.duration)
                iv = solver.FixedDurationIntervalVar(
                    int(earliest), int(latest), int(b.duration), False, f"break {v}.{n}"
                )
                # Keep the break inside the route: not before leaving, not after returning.
                solver.Add(iv.StartExpr() >= t.CumulVar(r.Start(v)))
                solver.Add(iv.EndExpr() <= t.CumulVar(r.End(v)))
                r.AddIntervalToAssignment(iv)
                ivs.append(iv)
            if ivs:
                t.SetBreakIntervalsOfVehicle(ivs, v, visit)
            self.break_vars.append(ivs)

    # ------------------------------------------------------------------ search
    def search_parameters(
        self, time_limit: float, first: bool = True, metaheuristic: str = "GLS"
    ) -> pywrapcp.DefaultRoutingSearchParameters:
        sp = pywrapcp.DefaultRoutingSearchParameters()
        fs = routing_enums_pb2.FirstSolutionStrategy
        ls = routing_enums_pb2.LocalSearchMetaheuristic
        if first:
            sp.first_solution_strategy = fs.PARALLEL_CHEAPEST_INSERTION
        sp.local_search_metaheuristic = {
            "GLS": ls.GUIDED_LOCAL_SEARCH,
            "SA": ls.SIMULATED_ANNEALING,
            "TABU": ls.TABU_SEARCH,
            "GREEDY": ls.GREEDY_DESCENT,
        }[metaheuristic]
        sp.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
        return sp

    def on_solution(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(objective)`` on every solution the search accepts as improving."""

        def hook() -> None:
            self.solutions += 1
            callback(int(self.routing.CostVar().Max()))

        self.routing.AddAtSolutionCallback(hook)

    def solve(
        self, time_limit: float, start: list[list[int]] | None = None, metaheuristic: str = "GLS"
    ) -> pywrapcp.Assignment | None:
        """First solution + local search, or local search from ``start`` routes."""
        self.loaded = False
        if start is not None:
            init = self.routes_to_assignment(start)
            self.loaded = init is not None
            if init is not None:
                sp = self.search_parameters(time_limit, first=False, metaheuristic=metaheuristic)
                # The search first re-places the breaks of the given routes under the
                # LNS sub-search limit (0.1 s by default); long routes need more.
                sp.lns_time_limit.FromMilliseconds(int(1000 * min(RESTORE_LNS_S, time_limit)))
                return self.routing.SolveFromAssignmentWithParameters(init, sp)
        sp = self.search_parameters(time_limit, True, metaheuristic)
        self._closed = True
        return self.routing.SolveWithParameters(sp)

    def routes_to_assignment(self, routes: list[list[int]]) -> pywrapcp.Assignment | None:
        """Solver assignment for per-vehicle lists of job positions (None if infeasible)."""
        m = self.manager
        idx_routes = [[m.NodeToIndex(k) for k in route] for route in routes]
        # Restoring routes is itself a small search (break placement); its limit comes
        # from the parameters the model is closed with, so give it room.
        if not self._closed:
            self.routing.CloseModelWithParameters(self.search_parameters(RESTORE_LIMIT_S))
            self._closed = True
        return self.routing.ReadAssignmentFromRoutes(idx_routes, True)

    def objective_of(self, routes: list[list[int]]) -> int:
        """Penalties of unserved jobs + arc costs of ``routes`` (soft terms left out)."""
        served = {k for r in routes for k in r}
        total = sum(p for k, p in enumerate(self.penalties) if k not in served)
        J = self.n_jobs
        for v, r in enumerate(routes):
            if r:
                nodes = [J + 2 * v, *r, J + 2 * v + 1]
                total += int(sum(self.arc_cost[a, b] for a, b in itertools.pairwise(nodes)))
        return int(total)

    def drop_orphans(self, routes: list[RawRoute]) -> int:
        """Remove successors whose predecessor is not served; returns how many.

        Removing a visit leaves every other start time valid (waiting is allowed), so
        the routes stay feasible.
        """
        dropped = 0
        while True:
            served = {k for rr in routes for k in rr.jobs}
            orphans = {b for a, b in self.predecessors if b in served and a not in served}
            if not orphans:
                return dropped
            for rr in routes:
                keep = [i for i, k in enumerate(rr.jobs) if k not in orphans]
                rr.jobs = [rr.jobs[i] for i in keep]
                rr.starts = [rr.starts[i] for i in keep]
            dropped += len(orphans)

    def status(self) -> str:
        return {
            0: "no_solution",  # ROUTING_NOT_SOLVED
            1: "feasible",  # ROUTING_SUCCESS (stopped by the time limit with a solution)
            2: "feasible",  # ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED
            3: "no_solution",  # ROUTING_FAIL
            4: "timeout",  # ROUTING_FAIL_TIMEOUT: no solution within the limit
            5: "no_solution",  # ROUTING_INVALID
            6: "no_solution",  # ROUTING_INFEASIBLE
            7: "optimal",  # ROUTING_OPTIMAL
        }.get(int(self.routing.status()), "feasible")

    # ------------------------------------------------------------------ reading
    def sequences(self, sol: pywrapcp.Assignment) -> list[list[int]]:
        r, m = self.routing, self.manager
        out = []
        for v in range(self.n_vehicles):
            seq = []
            i = sol.Value(r.NextVar(r.Start(v)))
            while not r.IsEnd(i):
                seq.append(int(m.IndexToNode(i)))
                i = sol.Value(r.NextVar(i))
            out.append(seq)
        return out

    def read(self, sol: pywrapcp.Assignment) -> list[RawRoute]:
        r, m, t = self.routing, self.manager, self.time
        out = []
        for v in range(self.n_vehicles):
            seq, starts = [], []
            i = sol.Value(r.NextVar(r.Start(v)))
            while not r.IsEnd(i):
                seq.append(int(m.IndexToNode(i)))
                starts.append(int(sol.Value(t.CumulVar(i))))
                i = sol.Value(r.NextVar(i))
            breaks = []
            for iv in self.break_vars[v]:
                # StartValue on the interval: Value(StartExpr()) crashes in 9.15.
                s0 = int(sol.StartValue(iv))
                breaks.append((s0, s0 + int(iv.DurationMin())))
            out.append(
                RawRoute(
                    v,
                    seq,
                    starts,
                    int(sol.Value(t.CumulVar(r.Start(v)))),
                    int(sol.Value(t.CumulVar(r.End(v)))),
                    breaks,
                )
            )
        return out

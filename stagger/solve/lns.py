"""Large neighbourhood search for the stability goals on a large instance.

Every job outside the neighbourhood keeps its place; CP-SAT re-plans the jobs inside it with
each night's makespan capped at the baseline's + tolerance (hard) and the goals below it as
one lexicographic objective (:func:`~stagger.solve.baseline.stability_goals`). The jobs that
stay hold their resources as fixed occupied steps
(:func:`~stagger.solve.blocks.add_resource_limit`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.solve.baseline import (
    BaselineMap,
    StabilityStats,
    add_move,
    allowed_at,
    better,
    stability_goals,
    stability_stats,
)
from stagger.solve.blocks import add_resource_limit
from stagger.solve.component import ComponentTask, solve_component
from stagger.solve.components import components, sub_instance
from stagger.solve.cpsat import DTIME_PER_SECOND, solver_parameters
from stagger.solve.profiles import occupied_steps
from stagger.solve.solution import ProgressFn, Solution, night_spans

# Depths of the resource-sharing neighbourhoods tried in turn around the jobs over the cap (1:
# the jobs sharing a host, datastore or RAID group with them; 2: and with those), before the
# seeds' whole components.
LNS_DEPTHS = (1, 2, 3)


class Lns:
    """Large neighbourhood search for the stability goals on a large instance."""

    def __init__(
        self,
        inst: Instance,
        base: BaselineMap,
        tolerance_slots: int,
        seed: int,
        workers: int,
        progress: ProgressFn | None,
    ) -> None:
        self.inst = inst
        self.base = base
        self.tolerance_slots = tolerance_slots
        self.seed = seed
        self.workers = workers
        self.progress = progress
        self.caps = [c + tolerance_slots for c in base.spans]
        self.cap_all = max(base.spans, default=0) + tolerance_slots
        self.by_res = {
            r: js
            for r, js in inst.jobs_by_resource().items()
            if inst.resources[r].kind != "concurrent"
        }
        self.conc = [
            r for r, res in enumerate(inst.resources) if res.kind == "concurrent" and res.capacity
        ]
        self.comp_of: dict[int, int] = {}
        self.groups = components(inst)
        for k, g in enumerate(self.groups):
            for j in g:
                self.comp_of[j] = k
        self.wall_s = 0.0
        self.log: list[tuple[str, int, str, bool]] = []

    # -- neighbourhoods

    def over_cap(self, sol: Solution) -> list[int]:
        inst = self.inst
        out = list(sol.dropped)
        for j, s in sol.starts.items():
            n = inst.night_of(s)
            if s + inst.jobs[j].duration - inst.nights[n].start > self.caps[n]:
                out.append(j)
        return sorted(out)

    def around(self, seeds: list[int], depth: int) -> list[int]:
        seen = set(seeds)
        frontier = sorted(seen)
        for _ in range(depth):
            nxt: set[int] = set()
            for j in frontier:
                for r in self.inst.jobs[j].resources:
                    for k in self.by_res.get(r, ()):
                        if k not in seen:
                            nxt.add(k)
            seen |= nxt
            frontier = sorted(nxt)
        return sorted(seen)

    def whole_components(self, seeds: list[int]) -> list[int]:
        ks = sorted({self.comp_of[j] for j in seeds})
        return sorted(j for k in ks for j in self.groups[k])

    # -- one re-solve

    def solve(
        self, cur: Solution, free: list[int], budget_s: float, hint: Solution | None = None
    ) -> tuple[Solution | None, str, float]:
        """CP-SAT on the jobs ``free``, every other job fixed where ``cur`` has it, the
        makespan capped at the baseline's + tolerance (hard) and the goals below it (each
        night's excess, moves, shift) as weights. Returns (plan or None, status, deterministic
        seconds used)."""
        inst, base = self.inst, self.base
        hint = hint or cur
        free_set = set(free)
        m = cp_model.CpModel()
        starts: dict[int, cp_model.IntVar] = {}
        ivs: dict[int, list[cp_model.IntervalVar]] = {}
        terms_move: list[cp_model.IntVar] = []
        terms_shift: list[cp_model.IntVar] = []
        reaches: list[int] = []
        # Each night's excess over its own baseline span: at least what the fixed jobs make.
        fixed_span = night_spans(inst, cur.starts, [j for j in cur.starts if j not in free_set])
        excess = []
        for n, night in enumerate(inst.nights):
            ex = m.new_int_var(0, night.end - night.start, f"ex{n}")
            m.add(ex >= fixed_span[n] - self.caps[n])
            excess.append(ex)
        for j in free:
            job = inst.jobs[j]
            dom: list[list[int]] = []
            by_night: dict[int, list[list[int]]] = {}
            for n, spans in enumerate(job.allowed):
                last = inst.nights[n].start + self.cap_all - job.duration
                part = [[lo, min(hi, last)] for lo, hi in spans if lo <= min(hi, last)]
                if part:
                    by_night[n] = part
                    dom += part
            if not dom:
                return None, "INFEASIBLE", 0.0
            start = m.new_int_var_from_domain(cp_model.Domain.from_intervals(dom), f"s{j}")
            starts[j] = start
            iv = m.new_fixed_size_interval_var(start, job.duration, f"i{j}")
            for r in job.resources:
                ivs.setdefault(r, []).append(iv)
            if j in hint.starts:
                m.add_hint(start, hint.starts[j])
            lits: list[cp_model.IntVar] = []
            for n, part in by_night.items():
                if len(by_night) == 1:
                    m.add(excess[n] >= start + job.duration - inst.nights[n].start - self.caps[n])
                    continue
                lit = m.new_bool_var(f"b{j}_{n}")
                m.add_linear_expression_in_domain(
                    start, cp_model.Domain.from_intervals(part)
                ).only_enforce_if(lit)
                m.add(
                    excess[n] >= start + job.duration - inst.nights[n].start - self.caps[n]
                ).only_enforce_if(lit)
                if j in hint.starts:
                    m.add_hint(lit, inst.night_of(hint.starts[j]) == n)
                lits.append(lit)
            if lits:
                m.add_exactly_one(lits)
            target = base.starts.get(j)
            exact = target is not None
            if target is None and job.vm in base.by_vm:
                target = base.by_vm[job.vm][0]
            if target is None:
                continue
            reach = max(abs(dom[0][0] - target), abs(dom[-1][1] - target))
            movable = exact and allowed_at(inst, j, target)
            d, mv = add_move(m, start, target, reach, movable, (f"d{j}", f"m{j}"))
            terms_shift.append(d)
            reaches.append(reach)
            if mv is not None:
                terms_move.append(mv)
        usage = self._fixed_usage(cur, free_set)
        for r, r_ivs in sorted(ivs.items()):
            cap = inst.resources[r].capacity
            if cap:
                add_resource_limit(m, r_ivs, cap, occupied=occupied_steps(usage(r)), name=f"f{r}_")
        goals = stability_goals(
            inst,
            dropped=None,
            over_makespan=None,  # capped: every free job's domain ends by the cap
            excess=excess,
            moved=terms_move,
            shifts=terms_shift,
            shift_reach=reaches,
        )
        objective = goals.terms()
        m.minimize(sum(objective))
        solver = solver_parameters(budget_s, self.seed, self.workers)
        status = solver.solve(m)
        used = solver.deterministic_time / DTIME_PER_SECOND
        self.wall_s += solver.wall_time
        name = solver.status_name(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, name, used
        new = dict(cur.starts)
        for j, var in starts.items():
            new[j] = solver.value(var)
        dropped = [j for j in cur.dropped if j not in free_set]
        return Solution(new, dropped), name, used

    def _fixed_usage(self, cur: Solution, free: set[int]) -> Callable[[int], np.ndarray]:
        """Per resource: usage per slot by the jobs that stay (not in ``free``)."""
        inst = self.inst
        horizon = inst.horizon + 1
        cache: dict[int, np.ndarray] = {}

        def usage(r: int) -> np.ndarray:
            if r in cache:
                return cache[r]
            diff = np.zeros(horizon + 1, dtype=np.int64)
            jobs = (
                range(len(inst.jobs))
                if inst.resources[r].kind == "concurrent"
                else self.by_res.get(r, ())
            )
            for k in jobs:
                if k in free or k not in cur.starts:
                    continue
                s = cur.starts[k]
                diff[s] += 1
                diff[s + inst.jobs[k].duration] -= 1
            cache[r] = np.cumsum(diff)[:horizon]
            return cache[r]

        return usage

    def makespan_hint(
        self, cur: Solution, free: list[int], budget_s: float
    ) -> tuple[Solution, float]:
        """A plan of the whole components ``free`` that meets the makespan cap, ignoring the
        moves: CP-SAT on makespan alone (as the planner does), stopped at the cap. It only
        hints the stability re-solve, which checks every rule again (the global concurrency
        limit too)."""
        ks = sorted({self.comp_of[j] for j in free})
        starts = dict(cur.starts)
        used = 0.0
        for i, k in enumerate(ks):
            group = self.groups[k]
            task = ComponentTask(
                key=k,
                inst=sub_instance(self.inst, group),
                hint={li: cur.starts[j] for li, j in enumerate(group) if j in cur.starts},
                hint_dropped=tuple(li for li, j in enumerate(group) if j not in cur.starts),
                concurrency=None,
                time_limit_s=max(0.5, (budget_s - used) / (len(ks) - i)),
                seed=self.seed,
                workers=self.workers,
                target=self.cap_all,
            )
            res = solve_component(task)
            used += res.deterministic_time / DTIME_PER_SECOND
            self.wall_s += res.wall_s
            for li, j in enumerate(group):
                if li in res.starts:
                    starts[j] = res.starts[li]
            self.log.append(("makespan hint", len(group), res.status, False))
        return Solution(starts, [j for j in cur.dropped if j not in set(free)]), used

    # -- the search

    def step(
        self,
        phase: str,
        cur: Solution,
        cur_stats: StabilityStats,
        free: list[int],
        budget_s: float,
        hint: Solution | None = None,
    ) -> tuple[Solution, StabilityStats, float]:
        sol, name, used = self.solve(cur, free, budget_s, hint)
        accepted = False
        if sol is not None:
            stats = stability_stats(self.inst, self.base, sol, self.tolerance_slots)
            if better(stats, cur_stats):
                cur, cur_stats, accepted = sol, stats, True
                if self.progress is not None:
                    self.progress(max(stats.spans, default=0), self.wall_s, 0.0)
        self.log.append((phase, len(free), name, accepted))
        return cur, cur_stats, used

    def run(
        self, warm: Solution, warm_stats: StabilityStats, time_limit_s: float
    ) -> tuple[Solution, StabilityStats, float]:
        """Returns (best plan, its stats, deterministic seconds used)."""
        cur, cur_stats = warm, warm_stats
        used = 0.0
        # 1. Makespan: widen the neighbourhood of the jobs over the cap until it holds.
        tried: list[list[int]] = []
        levels: list[tuple[str, int]] = [("depth", d) for d in LNS_DEPTHS] + [("component", 0)]
        for i, (kind, depth) in enumerate(levels):
            seeds = self.over_cap(cur)
            if not seeds:
                break
            free = self.around(seeds, depth) if kind == "depth" else self.whole_components(seeds)
            if free in tried:
                continue
            tried.append(free)
            left = time_limit_s - used
            if left <= 0:
                break
            budget = left / (len(levels) - i + 1)  # keep a share for the moves phase
            hint = None
            if kind == "component" and cur_stats.over_makespan + cur_stats.dropped:
                hint, u = self.makespan_hint(cur, free, budget / 2)
                used += u
                budget = max(0.5, budget - u)
            phase = f"makespan/{kind}{depth or ''}"
            cur, cur_stats, u = self.step(phase, cur, cur_stats, free, budget, hint)
            used += u
        if cur_stats.over_makespan or cur_stats.dropped:
            return cur, cur_stats, used
        # 2. Moves: per component with moved jobs, re-solve those jobs and their neighbours.
        moved = [j for j in cur_stats.moved_jobs if j in cur.starts]
        by_comp: dict[int, list[int]] = {}
        for j in moved:
            by_comp.setdefault(self.comp_of[j], []).append(j)
        todo = sorted(by_comp)
        for i, k in enumerate(todo):
            left = time_limit_s - used
            if left <= 0:
                break
            free = self.around(by_comp[k], 1)
            cur, cur_stats, u = self.step("moves", cur, cur_stats, free, left / (len(todo) - i))
            used += u
        return cur, cur_stats, used

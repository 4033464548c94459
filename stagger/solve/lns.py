"""Large neighbourhood search for the stability goals on a large instance.

Every job outside the neighbourhood keeps its place; CP-SAT re-plans the jobs inside it with
each night's makespan capped at the baseline's + tolerance (hard) and the goals below it as
one lexicographic objective (:func:`~stagger.solve.baseline.stability_goals`). The sub-model
over the free jobs, with the jobs that stay as fixed occupied steps, and the resource
neighbourhoods are :mod:`stagger.solve.neighbourhood`'s, shared with the makespan search
(:mod:`stagger.solve.makespan_lns`).
"""

from __future__ import annotations

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
from stagger.solve.component import ComponentTask, solve_component
from stagger.solve.components import components, sub_instance
from stagger.solve.cpsat import DTIME_PER_SECOND, solver_parameters
from stagger.solve.neighbourhood import (
    add_fixed_limits,
    add_free_jobs,
    around,
    fixed_usage,
    limited_jobs_by_resource,
    require_folded,
)
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
        require_folded(inst, "the stability neighbourhood search")
        self.inst = inst
        self.base = base
        self.tolerance_slots = tolerance_slots
        self.seed = seed
        self.workers = workers
        self.progress = progress
        self.caps = [c + tolerance_slots for c in base.spans]
        self.cap_all = max(base.spans, default=0) + tolerance_slots
        self.by_res = limited_jobs_by_resource(inst)
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
        return around(self.inst, self.by_res, seeds, depth)

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

        def on_night(j: int, n: int, start: cp_model.IntVar, lit: cp_model.IntVar | None) -> None:
            end = start + inst.jobs[j].duration - inst.nights[n].start - self.caps[n]
            ct = m.add(excess[n] >= end)
            if lit is not None:
                ct.only_enforce_if(lit)

        def on_job(j: int, start: cp_model.IntVar, dom: list[list[int]]) -> None:
            target = base.starts.get(j)
            exact = target is not None
            if target is None:
                target = base.near.get(j)
            if target is None:
                return
            reach = max(abs(dom[0][0] - target), abs(dom[-1][1] - target))
            movable = exact and allowed_at(inst, j, target)
            d, mv = add_move(m, start, target, reach, movable, (f"d{j}", f"m{j}"))
            terms_shift.append(d)
            reaches.append(reach)
            if mv is not None:
                terms_move.append(mv)

        jobs = add_free_jobs(
            m,
            inst,
            free,
            span_cap=self.cap_all,
            hint=hint,
            on_night=on_night,
            on_job=on_job,
            fixed=cur.starts,
        )
        if jobs is None:
            return None, "INFEASIBLE", 0.0
        add_fixed_limits(m, inst, jobs, fixed_usage(inst, self.by_res, cur, free_set))
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
        for j, var in jobs.starts.items():
            new[j] = solver.value(var)
        dropped = [j for j in cur.dropped if j not in free_set]
        return Solution(new, dropped), name, used

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

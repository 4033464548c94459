"""Large neighbourhood search for the makespan inside one large component.

One CP-SAT model over thousands of tightly coupled jobs (multi-datastore VMs across RAID
groups, one shared array) finds nothing better than its warm start within minutes. This search
starts from the given plan (the best greedy) and repeatedly frees a few hundred jobs, re-solving
them with CP-SAT while every other job keeps its place (:mod:`stagger.solve.neighbourhood`):

- **critical**: the jobs ending in the worst night's last slots, their hosts, datastores and
  RAID groups, and the latest-ending jobs on those resources;
- **band**: the jobs of one night around a time, across all resources, free to move within the
  band only;
- **group**: one RAID group (a datastore or a host when there are none) and the hosts of its
  jobs, every job of them, free to change night;
- **tail**: every job of the hosts of the jobs ending past the bound, and, on the shared
  resources they hold that are full most of the time before the tail, jobs of owners that
  finish early, running while those hosts wait: so that a late host's jobs move earlier and
  the others into the tail, where the shared resource has room. When one RAID group is full
  until the tail, no other neighbourhood can make that trade.

The neighbourhood drawn is the one that gained most often lately (a decaying average of its
outcomes, ties in turn), so kinds that find nothing on an estate stop costing the budget.

A re-solve minimises, in this order, the worst night's span, the sum of the nights' spans, and
the *tail*: how far the jobs end past the target (the lower bound; without one, the last
``tail_slots`` of the makespan). With many jobs ending late, freeing some of them cannot lower
the worst night, but it can lower the tail, which a later re-solve builds on. A plan is
accepted when it is not worse in that order; the free jobs never end past the current
makespan, so the best plan so far is always the current one, valid (every job placed, every
limit held) at every step.

Deterministic: the neighbourhoods are drawn from a generator seeded with the run's seed and the
iteration number, sizes and kinds adapt to the outcomes (not to time), and every re-solve is
budgeted in CP-SAT deterministic time (one worker) and charged that time plus an amount per
constraint of its sub-model (the work CP-SAT's clock does not count). A wall-clock ``deadline``
is only a safety net (flagged when hit). Ctrl-C (a ``KeyboardInterrupt``, e.g. raised by the
progress callback) stops the search and the best plan so far is returned.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.solve.blocks import Lexicographic, add_resource_limit
from stagger.solve.cpsat import DTIME_PER_SECOND, solver_parameters, stopped_on_wall
from stagger.solve.neighbourhood import (
    FreeJobs,
    add_fixed_limits,
    add_free_jobs,
    clip_level,
    fixed_usage,
    limited_jobs_by_resource,
    require_folded,
    units_on,
)
from stagger.solve.profiles import Profile, occupied_steps, running_jobs
from stagger.solve.solution import ProgressFn, Solution, night_spans

# Components (and single-component instances) of more jobs than this are searched by
# neighbourhoods instead of one CP-SAT model over every job. Measured (RESULTS.md,
# RESULTS-lns.md): one model reaches the bound on every component of the generator's regimes
# at 1,000 and 10,000 VMs (up to 930 jobs), so those keep it; on one-component estates of 1,000
# jobs the neighbourhoods end 10 min better in the same deterministic budget, in half the wall
# time, and at 10,000 one model finds nothing at all. Sizes in between are not measured.
LNS_MIN_JOBS = 950
ITERATION_S = 1.0  # deterministic budget of one re-solve (seconds at DTIME_PER_SECOND)
# What a re-solve costs the search's budget besides CP-SAT's deterministic time, per
# constraint of its sub-model (seconds at DTIME_PER_SECOND; intervals count, and most of them
# are the fixed steps of the jobs that stay). CP-SAT's deterministic clock does not count
# building the sub-model nor most of presolving and propagating those steps: in a 10,000-job
# component a re-solve of 150 jobs (about 1,700 constraints) takes 1-3 s of wall on this
# 2-core machine for 0.1 deterministic units or less, where DTIME_PER_SECOND assumes 0.1 per
# second. Per constraint, not per job of the instance: the sub-model holds the free jobs'
# resources only, whatever the instance's size. 2e-3 s: with a 60 s limit, one-rg 10k ends
# its budget at 37 s of wall and adversarial 10k is still cut by the wall clock at load 4-5
# (1.2e-3: both cut); benchmarks/RESULTS-lns.md, docs/scale.md.
RESOLVE_OVERHEAD_S_PER_CONSTRAINT = 2e-3
# CP-SAT workers per re-solve. One: an interleaved multi-worker search presolves every
# neighbourhood of its own LNS workers again (0.3-0.6 s of wall each that its deterministic
# clock does not count); on 10,000-job components one worker made twice as many re-solves in
# the same wall time and ended better (adversarial 10k incremental 10h18 -> 9h58, one-rg 10k
# 10h35 -> 10h00, 60 s limit, benchmarks/RESULTS-lns.md).
RESOLVE_WORKERS = 1
SIZE_FIRST, SIZE_MIN, SIZE_MAX = 150, 40, 600  # free jobs per neighbourhood
KINDS = ("critical", "band", "group", "tail")


Score = tuple[int, int, int]  # (worst night's span, sum of spans, tail), slots


@dataclass(frozen=True)
class Step:
    """One re-solve, for the log: what was freed, what CP-SAT said, the score before and
    after (after: the re-solve's plan, None when it found none) and its deterministic time
    (seconds at DTIME_PER_SECOND)."""

    kind: str
    freed: int
    status: str
    accepted: bool
    before: Score
    after: Score | None
    deterministic_s: float


@dataclass
class LnsStats:
    iterations: int = 0
    accepted: int = 0
    improved: int = 0  # accepted with a smaller makespan
    deterministic_s: float = 0.0  # budget used, seconds at DTIME_PER_SECOND
    wall_s: float = 0.0
    interrupted: bool = False
    wall_limit_hit: bool = False
    log: list[Step] = field(default_factory=list)  # per re-solve


class MakespanLns:
    """The search on one instance (a component or a whole instance); :meth:`run` it once.

    ``concurrency``: a profile of task slots for the instance's jobs (a component's share of
    the global limit), or None; the global limit as a resource of the instance is respected
    like any other resource. ``target``: a valid lower bound on the makespan; the search stops
    when it is met, and the tail goal counts from it. ``workers``: CP-SAT workers per
    re-solve, at most ``RESOLVE_WORKERS``. ``kinds``: the neighbourhoods it may draw."""

    def __init__(
        self,
        inst: Instance,
        *,
        seed: int = 0,
        workers: int = 1,
        concurrency: Profile | None = None,
        target: int = 0,
        progress: ProgressFn | None = None,
        deadline: float | None = None,
        sizes: tuple[int, int, int] = (SIZE_FIRST, SIZE_MIN, SIZE_MAX),
        kinds: tuple[str, ...] = KINDS,
    ) -> None:
        require_folded(inst, "the makespan neighbourhood search")
        self.inst = inst
        self.seed = seed
        self.workers = min(workers, RESOLVE_WORKERS)
        self.target = target
        self.progress = progress
        self.deadline = deadline
        self.by_res = limited_jobs_by_resource(inst)
        self.duration = np.array([job.duration for job in inst.jobs], dtype=np.int64)
        self.night_start = np.array([n.start for n in inst.nights], dtype=np.int64)
        self.conc_cap: np.ndarray | None = None
        if concurrency is not None:
            cap = np.full(inst.horizon + 1, len(inst.jobs), dtype=np.int64)
            for s, e, c in concurrency:
                cap[s:e] = c
            self.conc_cap = cap
        # The grouping resources of neighbourhood "group": RAID groups, else datastores, else
        # hosts, each with its jobs.
        self.groups: list[int] = []
        for kind in ("raid_group", "datastore", "host"):
            self.groups = sorted(r for r in self.by_res if inst.resources[r].kind == kind)
            if self.groups:
                break
        self.size_min, self.size_max = sizes[1], sizes[2]  # (first, least, most) free jobs
        self.kinds = kinds  # the neighbourhoods drawn, in turn
        self.sizes = dict.fromkeys(kinds, sizes[0])
        self.stats = LnsStats()

    # -- the plan's shape

    def _ends(self, starts: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Per job: its night and its end relative to that night's window start."""
        n = len(self.inst.jobs)
        start = np.array([starts[j] for j in range(n)], dtype=np.int64)
        night = np.searchsorted(self.night_start, start, side="right") - 1
        return night, start + self.duration - self.night_start[night]

    def tail_slots(self, makespan: int) -> int:
        return max(2, makespan // 16)

    def tail_from(self, makespan: int) -> int:
        """Where the tail starts: the target (a lower bound) when below the makespan, so
        that every slot a job ends past the bound counts; else the makespan's last slots."""
        if 0 < self.target < makespan:
            return self.target
        return makespan - self.tail_slots(makespan)

    def score(self, starts: dict[int, int], ref_makespan: int) -> Score:
        spans = night_spans(self.inst, starts)
        _, end = self._ends(starts)
        tail = int(np.maximum(end - self.tail_from(ref_makespan), 0).sum())
        return (max(spans, default=0), sum(spans), tail)

    # -- neighbourhoods: (free jobs, their night, or None: any night)

    def _latest(
        self, jobs: list[int], end: np.ndarray, size: int, rng: random.Random, jitter: int
    ) -> list[int]:
        """Up to ``size`` of ``jobs``, the latest-ending first, ends blurred by up to
        ``jitter`` slots so that a failed neighbourhood is not drawn again as it was."""
        keyed = sorted(jobs, key=lambda j: (-(int(end[j]) + rng.randrange(jitter + 1)), j))
        return sorted(keyed[:size])

    def critical(
        self, starts: dict[int, int], size: int, rng: random.Random
    ) -> tuple[list[int], int | None]:
        night, end = self._ends(starts)
        spans = night_spans(self.inst, starts)
        worst = max(spans)
        n = rng.choice([k for k, s in enumerate(spans) if s == worst])
        in_night = night == n
        seeds = np.flatnonzero(in_night & (end >= worst - rng.randrange(2)))
        res = sorted({r for j in seeds for r in self.inst.jobs[j].resources if r in self.by_res})
        cand: set[int] = set(int(j) for j in seeds)
        for r in res:
            cand.update(j for j in self.by_res[r] if in_night[j])
        if len(cand) < size:  # and the resources of those: the critical jobs' neighbours
            more = set(cand)
            for j in cand:
                for r in self.inst.jobs[j].resources:
                    more.update(k for k in self.by_res.get(r, ()) if in_night[k])
            cand = more
        if not res:
            cand = set(np.flatnonzero(in_night).tolist())
        chosen = set(self._latest(sorted(cand), end, size, rng, self.tail_slots(worst)))
        chosen.update(int(j) for j in seeds[: size // 4])
        return sorted(chosen), n

    def band(
        self, starts: dict[int, int], size: int, rng: random.Random
    ) -> tuple[list[int], int | None]:
        night, end = self._ends(starts)
        spans = night_spans(self.inst, starts)
        worst = max(spans)
        # The worst night half of the time, else any night with jobs.
        busy = [k for k, s in enumerate(spans) if s]
        n = rng.choice(
            [k for k, s in enumerate(spans) if s == worst] if rng.random() < 0.5 else busy
        )
        jobs = np.flatnonzero(night == n)
        mid = end[jobs] - self.duration[jobs] / 2
        t = rng.uniform(0, spans[n])
        order = np.lexsort((jobs, np.abs(mid - t)))
        return sorted(int(jobs[i]) for i in order[:size]), n

    def group(
        self, starts: dict[int, int], size: int, rng: random.Random
    ) -> tuple[list[int], int | None]:
        _, end = self._ends(starts)
        if not self.groups:
            return self.critical(starts, size, rng)
        worst = max(night_spans(self.inst, starts))
        late = [r for r in self.groups if any(end[j] >= worst - 1 for j in self.by_res[r])]
        r = rng.choice(late if late and rng.random() < 0.5 else self.groups)
        jobs: set[int] = set(self.by_res[r])
        for j in list(jobs):
            for h in self.inst.jobs[j].resources:
                if self.inst.resources[h].kind == "host":
                    jobs.update(self.by_res.get(h, ()))
        return self._latest(sorted(jobs), end, size, rng, self.tail_slots(worst)), None

    def tail(
        self, starts: dict[int, int], size: int, rng: random.Random
    ) -> tuple[list[int], int | None]:
        """The jobs of the resources that end the worst night late (every job of the hosts
        of the jobs ending past :meth:`tail_from`, latest first) and, on the shared
        resources they hold that are saturated before the tail, jobs of *slack* owners (whose
        own resources finish early enough to take them later) running while those hosts
        wait: so that a late host's jobs can move earlier and the slack jobs into the tail,
        where the shared resource has room. Neither a band nor the jobs around the makespan
        can make that trade when the shared resource is full everywhere before the tail."""
        inst = self.inst
        night, end = self._ends(starts)
        spans = night_spans(inst, starts)
        worst = max(spans)
        n = rng.choice([k for k, s in enumerate(spans) if s == worst])
        in_night = night == n
        ref = self.tail_from(worst)
        late = np.flatnonzero(in_night & (end > ref))
        if not len(late):
            return self.critical(starts, size, rng)
        begin = end - self.duration
        nights_jobs = {r: [j for j in js if in_night[j]] for r, js in self.by_res.items()}

        def usage(r: int) -> np.ndarray:
            diff = np.zeros(worst + 2, dtype=np.int64)
            for j in nights_jobs[r]:
                units = units_on(inst.jobs[j], r)  # an ingest's MB/s, one of anything else
                diff[begin[j]] += units
                diff[end[j]] -= units
            return np.cumsum(diff)[: worst + 1]

        # Saturated: a shared resource at (nearly) its capacity most of the time before the
        # tail. The late jobs' other resources are their owners (hosts, mostly).
        saturated: set[int] = set()
        owners: set[int] = set()
        for r in sorted({r for j in late for r in inst.jobs[j].resources if r in self.by_res}):
            cap = inst.resources[r].capacity
            busy = usage(r)[:ref] >= max(1, cap - cap // 10)
            demand = sum(units_on(inst.jobs[j], r) for j in nights_jobs[r])
            if cap > 1 and demand > 2 * cap and 2 * busy.sum() >= max(1, ref):
                saturated.add(r)
            else:
                owners.add(r)
        order = sorted(late, key=lambda j: (-(int(end[j]) + rng.randrange(3)), j))
        chosen: set[int] = set()
        picked: list[int] = []
        for j in order:
            # Its owner: its host, else the least shared of its other resources.
            mine = [r for r in inst.jobs[j].resources if r in owners]
            owner = min(
                mine,
                key=lambda q: (inst.resources[q].kind != "host", len(nights_jobs[q]), q),
                default=None,
            )
            if (
                owner is not None
                and owner not in picked
                and len(chosen) + len(nights_jobs[owner]) <= size
            ):
                picked.append(owner)
                chosen.update(nights_jobs[owner])
            chosen.add(int(j))
            if len(chosen) >= size // 2:
                break
        if not saturated:
            return sorted(chosen), n
        # When the picked owners wait: slots before their last end where they run below
        # capacity.
        idle = np.zeros(worst + 1, dtype=np.int64)
        for r in picked:
            u = usage(r)
            last = max(int(end[j]) for j in nights_jobs[r])
            idle[:last] += u[:last] < inst.resources[r].capacity
        owner_end = {r: max((int(end[j]) for j in js), default=0) for r, js in nights_jobs.items()}
        partners: list[tuple[int, int]] = []
        for r in sorted(saturated):
            for k in nights_jobs[r]:
                if k in chosen:
                    continue
                d = int(self.duration[k])
                mine = [q for q in inst.jobs[k].resources if q in owner_end and q not in saturated]
                if any(owner_end[q] + d > ref for q in mine):
                    continue  # no room later on its own resources
                overlap = int(idle[begin[k] : end[k]].sum())
                if overlap:
                    partners.append((-(overlap + rng.randrange(d + 1)), k))
        partners = sorted(set(partners))
        chosen.update(k for _, k in partners[: size - len(chosen)])
        return sorted(chosen), n

    # -- one re-solve

    def solve(
        self,
        cur: Solution,
        free: list[int],
        night: int | None,
        budget_s: float,
        seed: int,
        banded: bool,
    ) -> tuple[Solution | None, str, float]:
        """CP-SAT on the jobs ``free`` (all in ``night`` unless None), every other job where
        ``cur`` has it; no free job ends past the current makespan. ``banded``: the free jobs
        stay within the slots they span now. Returns (plan or None, status, budget used:
        CP-SAT's deterministic time plus the model's charge, seconds at DTIME_PER_SECOND)."""
        inst = self.inst
        free_set = set(free)
        spans_now = night_spans(inst, cur.starts)
        makespan = max(spans_now)
        tail_from = self.tail_from(makespan)
        m = cp_model.CpModel()
        fixed = night_spans(inst, cur.starts, [j for j in cur.starts if j not in free_set])
        spans = [m.new_int_var(fixed[n], makespan, f"span{n}") for n in range(len(inst.nights))]
        span_max = m.new_int_var(max(fixed), makespan, "span_max")
        for s in spans:
            m.add(span_max >= s)
        if self.target:
            m.add(span_max >= min(self.target, makespan))
        tails: list[cp_model.IntVar] = []

        window = None
        if night is not None:
            lo_band = min(cur.starts[j] for j in free)
            hi_band = max(cur.starts[j] for j in free)
            if not banded:
                hi_band = inst.nights[night].end
            lo_n, hi_n = lo_band, hi_band

            def window(j: int, n: int) -> tuple[int, int] | None:
                return (lo_n, hi_n) if n == night else None

        def on_night(j: int, n: int, start: cp_model.IntVar, lit: cp_model.IntVar | None) -> None:
            end = start + inst.jobs[j].duration - inst.nights[n].start
            late = m.new_int_var(0, makespan, f"t{j}_{n}")
            cts = [m.add(spans[n] >= end), m.add(late >= end - tail_from)]
            if lit is not None:
                for ct in cts:
                    ct.only_enforce_if(lit)
            tails.append(late)

        jobs = add_free_jobs(
            m,
            inst,
            free,
            span_cap=makespan,
            hint=cur,
            on_night=on_night,
            window=window,
            fixed=cur.starts,
        )
        if jobs is None:
            return None, "INFEASIBLE", 0.0
        usage = fixed_usage(inst, self.by_res, cur, free_set)
        add_fixed_limits(m, inst, jobs, usage, clip=True)
        if self.conc_cap is not None:
            self._add_concurrency(m, cur, free, jobs)
        goals = Lexicographic()
        goals.add("makespan", span_max, makespan)
        goals.add("spans", sum(spans), makespan * len(inst.nights))
        goals.add("tail", sum(tails), makespan * len(tails))
        m.minimize(sum(goals.terms()))
        wall = None if self.deadline is None else max(0.05, self.deadline - time.time())
        solver = solver_parameters(budget_s, seed, self.workers, wall)
        status = solver.solve(m)
        used = solver.deterministic_time / DTIME_PER_SECOND
        used += RESOLVE_OVERHEAD_S_PER_CONSTRAINT * len(m.proto.constraints)
        self.stats.wall_s += solver.wall_time
        self.stats.wall_limit_hit |= stopped_on_wall(solver, status)
        name = solver.status_name(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, name, used
        new = dict(cur.starts)
        for j, var in jobs.starts.items():
            new[j] = solver.value(var)
        return Solution(new, list(cur.dropped)), name, used

    def _add_concurrency(
        self, m: cp_model.CpModel, cur: Solution, free: list[int], jobs: FreeJobs
    ) -> None:
        """The task-slot profile: the free jobs, one unit each, under what the profile leaves
        once the jobs that stay are counted."""
        assert self.conc_cap is not None
        inst = self.inst
        free_set = set(free)
        stay = [j for j in cur.starts if j not in free_set]
        cmax = int(self.conc_cap.max())
        taken = running_jobs(inst, cur.starts, stay) + (cmax - self.conc_cap)
        ivs = [
            m.new_fixed_size_interval_var(jobs.starts[j], inst.jobs[j].duration, f"c{j}")
            for j in free
        ]
        level = clip_level(taken, cmax, len(ivs), jobs.ranges)  # one task slot per job
        add_resource_limit(m, ivs, cmax, occupied=occupied_steps(level), name="conc")

    # -- the search

    def run(self, warm: Solution, time_limit_s: float) -> tuple[Solution, LnsStats]:
        """Improve ``warm`` (a valid plan with every job) for ``time_limit_s`` seconds of
        deterministic time; returns the best plan and what the search did."""
        stats = self.stats
        t0 = time.perf_counter()
        cur = Solution(dict(warm.starts), list(warm.dropped))
        if not self.inst.jobs or warm.dropped or len(warm.starts) < len(self.inst.jobs):
            return cur, stats
        makespan = max(night_spans(self.inst, cur.starts))
        cur_score = self.score(cur.starts, makespan)
        try:
            it = 0
            merit = dict.fromkeys(self.kinds, 1.0)
            while stats.deterministic_s < time_limit_s - 1e-9:
                if cur_score[0] <= self.target:
                    break
                if self.deadline is not None and time.time() >= self.deadline:
                    stats.wall_limit_hit = True
                    break
                rng = random.Random(self.seed * 1_000_003 + it)
                # The neighbourhood that gained most often lately (a decaying average of its
                # outcomes), ties in turn: kinds that find nothing on an estate stop costing
                # the budget, and come back when the others fail too.
                kind = max(
                    self.kinds,
                    key=lambda k: (merit[k], -((self.kinds.index(k) - it) % len(self.kinds))),
                )
                size = self.sizes[kind]
                pick = {
                    "critical": self.critical,
                    "band": self.band,
                    "group": self.group,
                    "tail": self.tail,
                }[kind]
                free, night = pick(cur.starts, size, rng)
                budget = min(ITERATION_S, time_limit_s - stats.deterministic_s)
                sol, status, used = self.solve(
                    cur, free, night, budget, rng.randrange(1 << 30), banded=kind == "band"
                )
                stats.deterministic_s += max(used, 1e-3)
                stats.iterations += 1
                it += 1
                accepted = gained = improved = False
                before, score = cur_score, None
                if sol is not None:
                    score = self.score(sol.starts, cur_score[0])
                    if score <= cur_score:
                        accepted, gained = True, score < cur_score
                        improved = score[0] < cur_score[0]
                        cur = sol
                        # The tail counts from the current makespan: re-scored when it drops.
                        cur_score = self.score(cur.starts, score[0])
                        stats.accepted += 1
                        stats.improved += improved
                stats.log.append(Step(kind, len(free), status, accepted, before, score, used))
                # Sizes follow the outcome: solved to the end without a gain, too small;
                # stopped by the budget, too large.
                if status == "OPTIMAL" and not gained:
                    self.sizes[kind] = min(self.size_max, int(size * 1.25) + 1)
                elif status != "OPTIMAL" and not gained:
                    self.sizes[kind] = max(self.size_min, int(size * 0.8))
                merit[kind] = (merit[kind] + gained) / 2
                if accepted and improved and self.progress is not None:
                    self.progress(cur_score[0], time.perf_counter() - t0, 0.0)
                if status == "OPTIMAL" and night is None and len(free) == len(self.inst.jobs):
                    break  # every job was free to go anywhere: nothing left to find
        except KeyboardInterrupt:
            stats.interrupted = True
        return cur, stats

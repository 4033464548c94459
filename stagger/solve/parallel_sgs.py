"""Time-stepping (parallel) list schedule for estates where one shared resource is saturated.

The serial list schedule (``greedy.solve_greedy``) places jobs one at a time, longest first,
each at its earliest start. When one shared resource (a RAID group, the task slots) is busy
from the first slot on, that order leaves the short jobs of the busiest hosts for last: they
then run one after another, after the shared resource frees up, and make a tail.

This schedule walks time forward instead. At each slot where something changes (a job ends,
a job's start range opens) it starts, among the jobs that fit there, first those whose
resources have the most work still to place per unit of capacity (so a host with 40 jobs
starts one whenever it can), longer jobs first among equals. Priorities are dynamic: the
remaining work drops as jobs get placed. A cycle of several nights is walked at the same
offset from each night's window start in turn, so a job goes to the night where it starts
earliest relative to that night's window, as in the serial schedule.

Because every placed job starts at or before the current slot, a resource's use can only fall
after it; whether a job fits for its whole duration is therefore whether none of its resources
is full at the slot itself, which keeps each step a few numpy operations over the waiting jobs.

``sgs_candidates`` returns the plans worth comparing with the serial schedule's;
``greedy.candidates`` adds them (with their ``start_order``, used when components merge their
best orders) and the serial schedule on a backward pass's order (``backward_order``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import numpy as np

from stagger.instance import Instance
from stagger.solve.solution import Solution, Starts, night_spans
from stagger.solve.timeline import Timeline

Rule = Literal["chain", "urgency"]

_UNLIMITED = 1 << 30  # capacity 0 means "no limit"
# A resource used by more of a slot's candidates than this is dropped with them in one step.
_SHARED_JOBS = 64
TARGET_RUNS = 3  # urgency plans towards a target span, after the untargeted one


def _padded_resources(inst: Instance, pad: int) -> np.ndarray:
    """Jobs x (most resources of a job) resource indices, short rows padded with ``pad``."""
    width = max((len(job.resources) for job in inst.jobs), default=0) or 1
    out = np.full((len(inst.jobs), width), pad, dtype=np.int64)
    for j, job in enumerate(inst.jobs):
        out[j, : len(job.resources)] = job.resources
    return out


def _padded_demands(inst: Instance, width: int) -> np.ndarray:
    """Jobs x ``width``: the units each job takes of each of its resources (padding: 0)."""
    out = np.zeros((len(inst.jobs), width), dtype=np.int64)
    for j, job in enumerate(inst.jobs):
        out[j, : len(job.resources)] = [job.demand(i) for i in range(len(job.resources))]
    return out


def parallel_schedule(
    inst: Instance, rule: Rule = "chain", target_span: int | None = None
) -> Solution:
    """The time-stepping schedule under one priority rule:

    - ``chain``: most remaining work per unit of capacity on the job's *chain* resource (its
      smallest-capacity one, e.g. its host: the resource its jobs must queue on), then longest;
    - ``urgency``: that remaining work per unit of capacity divided by the chain's free slots
      (not blocked by a blackout) from the current slot to the night's target end
      (``target_span`` slots after its window start; the window end without one): a chain
      that must run nearly all the time left to finish by the target goes first, so a host
      with little work but a long blackout near the end is not left for last.

    Ties go to the lower job index, so the plan is deterministic.

    Jobs with demands (an ingest rate, :attr:`Job.demands`) fit where use + demand stays
    within capacity; jobs with options must have them fixed first
    (:func:`stagger.instance.fix_options`): this schedule does not choose them."""
    if any(job.options for job in inst.jobs):
        raise ValueError("parallel_schedule plans fixed options only (see fix_options)")
    n_jobs = len(inst.jobs)
    n_res = len(inst.resources)
    pad = n_res  # a dummy resource without limit: pads short rows of ``res``
    caps = np.array([r.capacity or _UNLIMITED for r in inst.resources] + [_UNLIMITED])
    res = _padded_resources(inst, pad)
    # Units per job and resource: None when every job takes one of each (then the checks
    # are the plain counts they always were).
    weighted = any(job.demands for job in inst.jobs)
    dem = _padded_demands(inst, res.shape[1]) if weighted else None
    job_dem = dem.tolist() if dem is not None else None
    dur = np.array([job.duration for job in inst.jobs], dtype=np.int64)
    remaining = np.zeros(n_res + 1, dtype=np.int64)  # work still to place, per resource
    for job in inst.jobs:
        remaining[list(job.resources)] += job.duration
    chain = np.array(
        [
            min(job.resources, key=lambda r: (caps[r], -remaining[r], r)) if job.resources else pad
            for job in inst.jobs
        ],
        dtype=np.int64,
    )
    chains, chain_row = np.unique(chain, return_inverse=True)
    free_left = _free_slots_left(inst, chains, target_span) if rule == "urgency" else None
    # Per night: every start range of every job, as flat arrays (job, first, last slot).
    span_job: list[np.ndarray] = []
    span_lo: list[np.ndarray] = []
    span_hi: list[np.ndarray] = []
    opens: list[set[int]] = []
    for n in range(len(inst.nights)):
        rows = [(j, lo, hi) for j, job in enumerate(inst.jobs) for lo, hi in job.allowed[n]]
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        span_job.append(arr[:, 0])
        span_lo.append(arr[:, 1])
        span_hi.append(arr[:, 2])
        opens.append(set(arr[:, 1].tolist()))
    # Scalar bookkeeping in plain lists (numpy indexing one element at a time is slow).
    usage = [[0] * (n_res + 1) for _ in inst.nights]  # jobs running at the current slot
    cap_of = caps.tolist()
    job_res = [job.resources for job in inst.jobs]
    job_dur = dur.tolist()
    ends: list[dict[int, list[int]]] = [defaultdict(list) for _ in inst.nights]
    group_of = [job.group for job in inst.jobs]
    taken: set[tuple[int, int]] = set()  # (group, night): the group's job runs that night
    pending = np.ones(n_jobs, dtype=bool)
    left = n_jobs
    starts: Starts = {}
    length = max((n.end - n.start for n in inst.nights), default=0)
    for offset in range(length):
        if not left:
            break
        for n, night in enumerate(inst.nights):
            slot = night.start + offset
            if slot >= night.end:
                continue
            ended = ends[n].pop(slot, None)
            for j in ended or ():
                if job_dem is None:
                    for r in job_res[j]:
                        usage[n][r] -= 1
                else:
                    for r, d in zip(job_res[j], job_dem[j], strict=False):
                        usage[n][r] -= d
            if not (offset == 0 or ended or slot in opens[n]):
                continue  # nothing freed, nothing opened: what did not fit before still doesn't
            sj = span_job[n]
            cand = sj[pending[sj] & (span_lo[n] <= slot) & (slot <= span_hi[n])]
            if not cand.size:
                continue
            if dem is None:
                full = np.array(usage[n]) >= caps
                cand = cand[~full[res[cand]].any(axis=1)]
            else:
                rows = res[cand]
                over = np.array(usage[n])[rows] + dem[cand] > caps[rows]
                cand = cand[~over.any(axis=1)]
            if not cand.size:
                continue
            # np.lexsort sorts by its last key first; the job index breaks the last ties.
            c = chain[cand]
            need = remaining[c] / caps[c]
            if free_left is not None:
                have = free_left[chain_row[cand], slot]
                # No free slot left before the target: more urgent than any chain with some.
                need = np.where(have > 0, need / np.maximum(have, 1), need + 1e9)
            cand = cand[np.lexsort((cand, -dur[cand], -need))]
            # How many of this slot's candidates use each resource: when one that many use
            # fills up, they are dropped in one numpy step instead of being checked one by one.
            users = np.bincount(res[cand].ravel(), minlength=n_res + 1)
            users[pad] = 0
            users_of = users.tolist()
            order = cand.tolist()  # the same jobs as ``cand``, for fast scalar access
            use = usage[n]
            k = 0
            while k < len(order):
                j = order[k]
                k += 1
                used = job_res[j]
                if job_dem is None:
                    if any(use[r] >= cap_of[r] for r in used):
                        continue  # a resource it needs filled up during this slot
                elif any(use[r] + d > cap_of[r] for r, d in zip(used, job_dem[j], strict=False)):
                    continue  # a resource it needs filled up during this slot
                g = group_of[j]
                if g is not None:
                    if (g, n) in taken:
                        continue  # a job of its group runs this night: another night
                    taken.add((g, n))
                d = job_dur[j]
                starts[j] = slot
                pending[j] = False
                left -= 1
                remaining[list(used)] -= d
                if d <= 0:
                    continue
                ends[n][slot + d].append(j)
                if job_dem is None:
                    for r in used:
                        use[r] += 1
                else:
                    for r, units in zip(used, job_dem[j], strict=False):
                        use[r] += units
                # Only when they are a good share of those left (a quarter): each such step
                # then shrinks the list geometrically, so a slot costs linear time in its
                # candidates (filtering the rest for every small resource that fills up
                # made it quadratic on estates of many RAID groups).
                rest = len(order) - k
                wide = [
                    r
                    for r in used
                    if use[r] >= cap_of[r]
                    and users_of[r] > _SHARED_JOBS
                    and 4 * users_of[r] >= rest
                ]
                if wide:
                    cand = cand[k:]
                    for r in wide:
                        cand = cand[~(res[cand] == r).any(axis=1)]
                    order, k = cand.tolist(), 0
    dropped = [j for j in range(n_jobs) if pending[j]]
    return Solution(starts, dropped)


def _free_slots_left(inst: Instance, chains: np.ndarray, target_span: int | None) -> np.ndarray:
    """Per chain resource (rows in the order of ``chains``) and slot: the slots from there to
    the target end of that slot's night (its window end without a target) in which the
    resource is not blocked by a blackout."""
    horizon = inst.horizon + 1
    window = np.zeros(horizon, dtype=np.int32)
    for night in inst.nights:
        end = night.end if target_span is None else min(night.end, night.start + target_span)
        window[night.start : end] = 1
    out = np.empty((len(chains), horizon), dtype=np.int32)
    for row, c in enumerate(chains.tolist()):
        free = window.copy()
        for lo, hi in inst.resource_blocked.get(c, []):
            free[lo:hi] = 0
        out[row] = np.cumsum(free[::-1])[::-1]
    return out


def start_order(inst: Instance, sol: Solution) -> list[int]:
    """The jobs by start slot relative to their night (ties: job index), unplaced ones last."""
    rel = {j: s - inst.nights[inst.night_of(s)].start for j, s in sol.starts.items()}
    placed = sorted(sol.starts, key=lambda j: (rel[j], j))
    return placed + sorted(sol.dropped)


def backward_order(inst: Instance, sol: Solution) -> list[int]:
    """The order for one backward-forward improvement pass (justification, a classic RCPSP
    step): each job of ``sol``, latest end first, moved as late as it fits before its night's
    span end; the jobs by their start there. The serial schedule on that order pulls every
    job back as early as it fits: jobs bunched against the end keep the order that fills the
    night best, which can remove a tail. Unplaced jobs stay last."""
    spans = night_spans(inst, sol.starts)
    timeline = Timeline(inst)
    late: Starts = {}
    for j in sorted(sol.starts, key=lambda j: (-(sol.starts[j] + inst.jobs[j].duration), j)):
        job = inst.jobs[j]
        n = inst.night_of(sol.starts[j])
        latest = inst.nights[n].start + spans[n] - job.duration
        within = timeline.free_starts(job)
        # Its own start fits unless a job moved there first; then it keeps it in the order.
        late[j] = sol.starts[j]
        for lo, hi in job.allowed[n]:
            if lo > latest:
                break
            ok = within(lo, min(hi, latest))
            if ok.size:
                late[j] = int(ok[-1])
        timeline.place(job, late[j])
    return start_order(inst, Solution(late, sol.dropped))


def _key(inst: Instance, sol: Solution) -> tuple[int, int, int]:
    """Fewest dropped jobs, then smallest worst night, then smallest summed night spans."""
    spans = night_spans(inst, sol.starts)
    return (len(sol.dropped), max(spans, default=0), sum(spans))


def sgs_candidates(
    inst: Instance,
    bound_slots: int = 0,
    best_slots: int | None = None,
    target_runs: int = TARGET_RUNS,
) -> list[Solution]:
    """Time-stepping plans to compare with the serial schedule's: the ``urgency`` rule towards
    the window end, then up to ``target_runs`` urgency plans towards a target span between
    ``bound_slots`` (a lower bound on the worst night, 0 if unknown) and the best span so far
    (``best_slots``: the worst night of a plan found otherwise, e.g. by the serial schedule),
    halving that interval (a target too low makes every chain urgent at once, one too high
    none: either way no better plan, and the next target is higher).
    (The ``chain`` rule is not among them: on the issue 13 estates it was never better than
    ``urgency`` towards the window end, see ``benchmarks/RESULTS-lns.md``.)"""
    out = [parallel_schedule(inst, "urgency")]
    hi = min(_key(inst, s) for s in out)[1]
    if best_slots is not None:
        hi = min(hi, best_slots)
    lo = min(bound_slots, hi)
    for _ in range(target_runs):
        if lo >= hi:
            break
        target = hi - max(1, (hi - lo) // 2 if lo else hi // 32)
        run = parallel_schedule(inst, "urgency", target)
        out.append(run)
        span = _key(inst, run)[1]
        if not run.dropped and span < hi:
            hi = span
        else:
            lo = target + 1
    return out

"""The stability warm start: repair the baseline rather than plan from scratch.

Every job that still fits stays where it was (pinned jobs first, then in baseline order); the
rest go, one at a time on the earliest-fit timeline, to the start nearest their baseline (or,
new jobs, the earliest end), preferring starts that keep each night within its baseline span
plus the tolerance.

With an infrastructure file the options are chosen first (:func:`choose_options`): a job keeps
its baseline option (proxy, mode, repository) when it still has it; the others take the
greedy's choice around the kept jobs. The repair then works on the options fixed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from stagger.instance import Instance, Job
from stagger.solve.baseline import BaselineMap, allowed_at
from stagger.solve.greedy import job_order, solve_greedy
from stagger.solve.solution import GroupNights, Solution
from stagger.solve.timeline import Timeline


def _single_start(inst: Instance, j: int) -> bool:
    spans = [s for n in inst.jobs[j].allowed for s in n]
    return len(spans) == 1 and spans[0][0] == spans[0][1]


def repair_greedy(inst: Instance, base: BaselineMap, tolerance_slots: int = 0) -> Solution:
    """Keep every baseline job that still fits where it was; place the others nearby. Jobs
    with options must have them fixed first (:func:`stagger.instance.fix_options`)."""
    if any(job.options for job in inst.jobs):
        raise ValueError("repair_greedy plans fixed options only (see fix_options)")
    timeline = Timeline(inst)
    starts: dict[int, int] = {}
    deferred: list[int] = []

    taken = GroupNights(inst)

    def fits(j: int, s: int) -> bool:
        return taken.free(j, inst.night_of(s)) and timeline.fits(inst.jobs[j], s)

    def place(j: int, s: int) -> None:
        timeline.place(inst.jobs[j], s)
        taken.take(j, inst.night_of(s))
        starts[j] = s

    pinned = [j for j in range(len(inst.jobs)) if _single_start(inst, j)]
    keep = sorted(
        (j for j in base.starts if j not in set(pinned)),
        key=lambda j: (base.starts[j], inst.jobs[j].vm),
    )
    for j in pinned:
        s = inst.jobs[j].allowed[next(n for n, a in enumerate(inst.jobs[j].allowed) if a)][0][0]
        if fits(j, s):
            place(j, s)
        else:
            deferred.append(j)
    for j in keep:
        b = base.starts[j]
        if allowed_at(inst, j, b) and fits(j, b):
            place(j, b)
        else:
            deferred.append(j)
    placed = set(starts) | set(deferred)
    rest = [j for j in job_order(inst) if j not in placed]
    dropped: list[int] = []
    cap_rel = [c + tolerance_slots for c in base.spans]
    for j in deferred + rest:
        job = inst.jobs[j]
        within = timeline.free_starts(job)
        target = base.starts.get(j, base.near.get(j))
        best: tuple[int, int, int] | None = None  # (excess, distance or relative end, start)
        for n, spans in enumerate(job.allowed):
            if job.group is not None and not taken.free(j, n):
                continue  # a job of its group runs that night
            ws = inst.nights[n].start
            for lo, hi in spans:
                ok = within(lo, hi)
                if not ok.size:
                    continue
                rel_end = ok + job.duration - ws
                over = np.maximum(0, rel_end - cap_rel[n])
                score = np.abs(ok - target) if target is not None else rel_end
                k = int(np.lexsort((ok, score, over))[0])
                key = (int(over[k]), int(score[k]), int(ok[k]))
                if best is None or key < best:
                    best = key
        if best is None:
            dropped.append(j)
            continue
        place(j, best[2])
    return Solution(starts, sorted(dropped))


def _kept_job(job: Job, k: int, start: int | None) -> Job:
    """``job`` with its one option ``k``, at ``start`` when that option may start there
    (else anywhere that option may)."""
    o = job.options[k]
    if start is not None and any(lo <= start <= hi for spans in o.allowed for lo, hi in spans):
        o = replace(
            o,
            allowed=tuple(
                ((start, start),) if any(lo <= start <= hi for lo, hi in spans) else ()
                for spans in o.allowed
            ),
        )
    return replace(job, options=(o,), duration=o.duration, minutes=o.minutes, allowed=o.allowed)


def choose_options(inst: Instance, base: BaselineMap, kept: dict[int, int]) -> dict[int, int]:
    """Every job's option for a stable re-plan with an infrastructure file (job index ->
    index into its ``Job.options``): the jobs of ``kept`` (their baseline option, by
    :func:`stagger.solve.baseline.baseline_options`) keep it; the others (new jobs, jobs whose
    baseline option is gone) take the option the greedy (:func:`solve_greedy`) gives them
    after placing the kept jobs first, in baseline order at their baseline starts where
    their option still allows them, so the free jobs' choice sees the load the kept jobs
    bring to each proxy and repository. A free job the greedy cannot place is left out (it
    runs in its shortest option, :func:`stagger.instance.fix_options`). Deterministic."""
    jobs = [
        _kept_job(job, kept[j], base.starts.get(j)) if j in kept else job
        for j, job in enumerate(inst.jobs)
    ]
    around = replace(inst, jobs=jobs)
    first = sorted(kept, key=lambda j: (base.starts.get(j, base.near.get(j, 0)), inst.jobs[j].vm))
    order = first + [j for j in job_order(around) if j not in kept]
    sol = solve_greedy(around, order)
    out = dict(kept)
    for j, k in sol.options.items():
        if j not in kept and inst.jobs[j].options:
            out[j] = k
    return out

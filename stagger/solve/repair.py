"""The stability warm start: repair the baseline rather than plan from scratch.

Every job that still fits stays where it was (pinned jobs first, then in baseline order); the
rest go, one at a time on the earliest-fit timeline, to the start nearest their baseline (or,
new jobs, the earliest end), preferring starts that keep each night within its baseline span
plus the tolerance.
"""

from __future__ import annotations

import numpy as np

from stagger.instance import Instance
from stagger.solve.baseline import BaselineMap, allowed_at
from stagger.solve.greedy import job_order
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

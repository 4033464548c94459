"""Longest-first list scheduling: each job at its earliest feasible start.

Fast (numpy over the slot timeline), always valid, and the warm start for CP-SAT. On a cycle of
several nights a job goes to the night where it would end earliest relative to that night's
window start, which spreads load across nights instead of piling it onto the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stagger.instance import Instance

Starts = dict[int, int]  # job index -> start slot


@dataclass
class Solution:
    starts: Starts
    dropped: list[int] = field(default_factory=list)  # job indices with no feasible start


def job_order(inst: Instance) -> list[int]:
    """Longest first; ties: more resources first, then by VM name for determinism."""
    return sorted(
        range(len(inst.jobs)),
        key=lambda j: (-inst.jobs[j].duration, -len(inst.jobs[j].resources), inst.jobs[j].vm),
    )


def solve_greedy(inst: Instance, order: list[int] | None = None) -> Solution:
    horizon = inst.horizon
    usage = np.zeros((len(inst.resources), horizon + 1), dtype=np.int32)
    caps = np.array([r.capacity or 1 << 30 for r in inst.resources], dtype=np.int32)
    starts: Starts = {}
    dropped: list[int] = []
    for j in order if order is not None else job_order(inst):
        job = inst.jobs[j]
        d = job.duration
        res = list(job.resources)
        full = (usage[res] >= caps[res, None]).any(axis=0)
        busy = np.concatenate(([0], np.cumsum(full, dtype=np.int64)))
        best: tuple[int, int] | None = None  # (relative end, start)
        for n, spans in enumerate(job.allowed):
            ws = inst.nights[n].start
            for lo, hi in spans:
                cand = np.arange(lo, hi + 1)
                ok = np.flatnonzero(busy[cand + d] - busy[cand] == 0)
                if ok.size:
                    s = int(cand[ok[0]])
                    rel = s + d - ws
                    if best is None or rel < best[0]:
                        best = (rel, s)
                    break
        if best is None:
            dropped.append(j)
            continue
        s = best[1]
        usage[res, s : s + d] += 1
        starts[j] = s
    return Solution(starts, sorted(dropped))

"""The earliest-fit kernel of every list scheduler: resource use per slot, and where a job fits.

``solve_greedy`` (longest first), ``repair_greedy`` (keep the baseline, place the rest nearby)
and decompose's repaired warm start all place jobs one at a time on this timeline; they differ
only in the order of the jobs and in which of the starts that fit they take.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stagger.instance import Instance, Job

_UNLIMITED = 1 << 30  # capacity 0 means "no limit"


class Timeline:
    """Jobs in use per resource and slot, against each resource's capacity; optionally also a
    per-slot limit on the jobs running at once (``concurrency``: a profile of task slots)."""

    def __init__(self, inst: Instance, concurrency: np.ndarray | None = None) -> None:
        self.inst = inst
        horizon = inst.horizon + 1
        self.usage = np.zeros((len(inst.resources), horizon), dtype=np.int32)
        self.caps = np.array([r.capacity or _UNLIMITED for r in inst.resources], dtype=np.int32)
        self.concurrency = concurrency
        self.running = np.zeros(horizon, dtype=np.int64) if concurrency is not None else None

    def fits(self, job: Job, start_slot: int) -> bool:
        """Whether ``job`` can start at ``start_slot`` given what is placed (capacities only;
        its allowed starts are the caller's)."""
        end = start_slot + job.duration
        if end > self.usage.shape[1]:
            return False
        if (
            self.concurrency is not None
            and self.running is not None
            and (self.running[start_slot:end] >= self.concurrency[start_slot:end]).any()
        ):
            return False
        res = list(job.resources)
        return bool((self.usage[res, start_slot:end] < self.caps[res, None]).all())

    def place(self, job: Job, start_slot: int) -> None:
        end = start_slot + job.duration
        self.usage[list(job.resources), start_slot:end] += 1
        if self.running is not None:
            self.running[start_slot:end] += 1

    def remove(self, job: Job, start_slot: int) -> None:
        """Undo :meth:`place` (a VM released whole, a job moved by a post-pass)."""
        end = start_slot + job.duration
        self.usage[list(job.resources), start_slot:end] -= 1
        if self.running is not None:
            self.running[start_slot:end] -= 1

    def free_starts(self, job: Job) -> Callable[[int, int], np.ndarray]:
        """For ``job``: a function of a start range [lo, hi] giving, ascending, every start in
        it where the job fits for its whole duration (one prefix sum per job, then each range
        is a vectorised lookup)."""
        d = job.duration
        res = list(job.resources)
        full = (self.usage[res] >= self.caps[res, None]).any(axis=0)
        if self.concurrency is not None and self.running is not None:
            full |= self.running >= self.concurrency
        busy = np.concatenate(([0], np.cumsum(full, dtype=np.int64)))
        last = self.usage.shape[1] - d

        def within(lo: int, hi: int) -> np.ndarray:
            cand = np.arange(lo, min(hi, last) + 1)
            return cand[np.flatnonzero(busy[cand + d] - busy[cand] == 0)]

        return within

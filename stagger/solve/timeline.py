"""The earliest-fit kernel of every list scheduler: resource use per slot, and where a job fits.

``solve_greedy`` (longest first), ``repair_greedy`` (keep the baseline, place the rest nearby)
and decompose's repaired warm start all place jobs one at a time on this timeline; they differ
only in the order of the jobs and in which of the starts that fit they take.

Use is counted in units: a job takes :meth:`Job.demand` units of each of its resources (one
task slot; on a repository's ingest its MB/s) and fits where use + demand stays within the
capacity. A job with options (an infrastructure file) is placed in one of them: pass the
:class:`Option`, whose resources, demands and duration come on top of the job's own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stagger.instance import Instance, Job, Option

_UNLIMITED = 1 << 30  # capacity 0 means "no limit"


def _use(job: Job, option: Option | None) -> tuple[list[int], np.ndarray | None, int]:
    """(resources, their demands or None when each is 1, duration) of ``job`` in ``option``."""
    if option is None:
        demands = np.array(job.demands, dtype=np.int64) if job.demands else None
        return list(job.resources), demands, job.duration
    own = job.demands or (1,) * len(job.resources)
    return (
        list(job.resources + option.resources),
        np.array(own + option.demands, dtype=np.int64),
        option.duration,
    )


class Timeline:
    """Units in use per resource and slot, against each resource's capacity; optionally also a
    per-slot limit on the jobs running at once (``concurrency``: a profile of task slots)."""

    def __init__(self, inst: Instance, concurrency: np.ndarray | None = None) -> None:
        self.inst = inst
        horizon = inst.horizon + 1
        self.usage = np.zeros((len(inst.resources), horizon), dtype=np.int32)
        self.caps = np.array([r.capacity or _UNLIMITED for r in inst.resources], dtype=np.int32)
        self.concurrency = concurrency
        self.running = np.zeros(horizon, dtype=np.int64) if concurrency is not None else None

    def _full(self, res: list[int], demands: np.ndarray | None) -> np.ndarray:
        """Per resource of ``res`` and slot: True where one more job (its demand) overflows."""
        if demands is None:
            return self.usage[res] >= self.caps[res, None]
        return self.usage[res] + demands[:, None] > self.caps[res, None]

    def fits(self, job: Job, start_slot: int, option: Option | None = None) -> bool:
        """Whether ``job`` (in ``option``) can start at ``start_slot`` given what is placed
        (capacities only; its allowed starts are the caller's)."""
        res, demands, duration = _use(job, option)
        end = start_slot + duration
        if end > self.usage.shape[1]:
            return False
        if (
            self.concurrency is not None
            and self.running is not None
            and (self.running[start_slot:end] >= self.concurrency[start_slot:end]).any()
        ):
            return False
        if demands is None:
            return bool((self.usage[res, start_slot:end] < self.caps[res, None]).all())
        over = self.usage[res, start_slot:end] + demands[:, None] > self.caps[res, None]
        return not bool(over.any())

    def place(self, job: Job, start_slot: int, option: Option | None = None) -> None:
        self._add(job, start_slot, option, 1)

    def remove(self, job: Job, start_slot: int, option: Option | None = None) -> None:
        """Undo :meth:`place` (a VM released whole, a job moved by a post-pass)."""
        self._add(job, start_slot, option, -1)

    def _add(self, job: Job, start_slot: int, option: Option | None, sign: int) -> None:
        res, demands, duration = _use(job, option)
        end = start_slot + duration
        if demands is None:
            self.usage[res, start_slot:end] += sign
        else:
            self.usage[res, start_slot:end] += sign * demands[:, None]
        if self.running is not None:
            self.running[start_slot:end] += sign

    def own_blocked(self, job: Job) -> np.ndarray:
        """Per slot: True where one of ``job``'s own resources (its options' aside), or the
        concurrency profile, cannot take it."""
        demands = np.array(job.demands, dtype=np.int64) if job.demands else None
        full = self._full(list(job.resources), demands).any(axis=0)
        if self.concurrency is not None and self.running is not None:
            full |= self.running >= self.concurrency
        return np.asarray(full)

    def row_blocked(self, resource: int, demand: int) -> np.ndarray:
        """Per slot: True where ``resource`` cannot take ``demand`` more units."""
        return np.asarray(self.usage[resource] + demand > self.caps[resource])

    def starts_where_free(
        self, blocked: np.ndarray, duration: int
    ) -> Callable[[int, int], np.ndarray]:
        """As :meth:`free_starts`, from a per-slot ``blocked`` mask and a duration (a list
        scheduler that tries several options of one job builds the mask from
        :meth:`own_blocked` and :meth:`row_blocked`, each computed once)."""
        busy = np.concatenate(([0], np.cumsum(blocked, dtype=np.int64)))
        last = self.usage.shape[1] - duration

        def within(lo: int, hi: int) -> np.ndarray:
            cand = np.arange(lo, min(hi, last) + 1)
            return cand[np.flatnonzero(busy[cand + duration] - busy[cand] == 0)]

        return within

    def free_starts(
        self, job: Job, option: Option | None = None
    ) -> Callable[[int, int], np.ndarray]:
        """For ``job`` (in ``option``): a function of a start range [lo, hi] giving, ascending,
        every start in it where the job fits for its whole duration (one prefix sum per job,
        then each range is a vectorised lookup)."""
        res, demands, d = _use(job, option)
        full = np.asarray(self._full(res, demands).any(axis=0))
        if self.concurrency is not None and self.running is not None:
            full |= self.running >= self.concurrency
        return self.starts_where_free(full, d)


def overloaded(inst: Instance, starts: dict[int, int]) -> list[int]:
    """Resources (indices, ascending) whose capacity the plan ``starts`` (of plain jobs, or
    of jobs with fixed options) exceeds at some slot, counting each job's demands: empty
    for a plan that keeps every capacity."""
    timeline = Timeline(inst)
    for j, s in starts.items():
        timeline.place(inst.jobs[j], s)
    over = (timeline.usage > timeline.caps[:, None]).any(axis=1)
    return [int(r) for r in np.flatnonzero(over)]

"""Concurrency profiles: the global task-slot limit shared out among components, per slot.

A profile is a tuple of (start slot, end slot, capacity) steps; its arithmetic is plain numpy
over the slot timeline: the jobs running per slot, the slack a plan leaves, an even split of
it, and the squeeze that makes room for components that must keep their plans.
"""

from __future__ import annotations

import numpy as np

from stagger.instance import Instance

Profile = tuple[tuple[int, int, int], ...]  # (start slot, end slot, capacity) steps


def profile_steps(level: np.ndarray) -> Profile:
    """(start, end, level) runs of equal value of a per-slot array, covering all of it."""
    steps = []
    start = 0
    for t in range(1, len(level) + 1):
        if t == len(level) or level[t] != level[start]:
            steps.append((start, t, int(level[start])))
            start = t
    return tuple(steps)


def occupied_steps(level: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, level) runs of a usage profile where it is above zero."""
    return [step for step in profile_steps(level) if step[2] > 0]


def running_jobs(inst: Instance, starts: dict[int, int], jobs: list[int]) -> np.ndarray:
    """Per slot (0..horizon): how many of ``jobs`` run, by their ``starts``."""
    diff = np.zeros(inst.horizon + 2, dtype=np.int64)
    for j in jobs:
        if j in starts:
            diff[starts[j]] += 1
            diff[starts[j] + inst.jobs[j].duration] -= 1
    return np.cumsum(diff)[: inst.horizon + 1]


def split_evenly(slack: np.ndarray, n: int) -> list[np.ndarray]:
    """Per-slot ``slack`` split into ``n`` shares that add up to it; the first ones get the
    remainder, one slot each."""
    share = slack // n
    extra = slack - share * n
    return [share + (extra > i) for i in range(n)]


def squeeze_profiles(
    inst: Instance,
    groups: list[list[int]],
    starts: dict[int, int],
    fixed: list[int],
    cap: int,
) -> dict[int, np.ndarray] | None:
    """Capacity profiles for every component not in ``fixed`` such that, with the ``fixed``
    components' plans, the global limit holds: where the plans together overflow ``cap``, the
    others give up task slots in proportion to their use (largest users first for the rest);
    the slack left elsewhere is shared evenly. Only components whose profile drops below their
    current use anywhere are returned (the others keep their plans). None if the ``fixed``
    components alone overflow ``cap``."""
    others = [k for k in range(len(groups)) if k not in fixed]
    if not others:
        return {}
    fixed_use = np.zeros(inst.horizon + 1, dtype=np.int64)
    for k in fixed:
        fixed_use += running_jobs(inst, starts, groups[k])
    if (fixed_use > cap).any():
        return None
    use = {k: running_jobs(inst, starts, groups[k]) for k in others}
    total = sum(use.values(), np.zeros_like(fixed_use))
    over = np.maximum(fixed_use + total - cap, 0)
    prof = {k: use[k] - over * use[k] // np.maximum(total, 1) for k in others}
    rem = over - sum((use[k] - prof[k] for k in others), np.zeros_like(over))
    for t in np.nonzero(rem > 0)[0]:
        order = sorted(others, key=lambda k: (-int(prof[k][t]), k))
        i = 0
        while rem[t] > 0:  # ends: the others use at least rem[t] here (fixed_use <= cap)
            k = order[i % len(order)]
            if prof[k][t] > 0:
                prof[k][t] -= 1
                rem[t] -= 1
            i += 1
    slack = np.maximum(cap - fixed_use - total, 0)
    for k, share in zip(others, split_evenly(slack, len(others)), strict=True):
        prof[k] = prof[k] + share
    return {k: prof[k] for k in others if (prof[k] < use[k]).any()}

"""Choose the night of every group's jobs before any start: fulls first, balanced per resource
and night; then every group job has one night and the nights are independent problems.

In a tiered cycle the only choice that links nights is which night of an ``every`` block
carries the VM's full (:attr:`stagger.instance.Job.group`: the block's jobs take distinct
nights, one per night when the block has as many jobs as nights). A list scheduler makes that
choice start by start and fills night 0 first on ties (a week of 10,000 VMs: night 0 ran to the
window end while the other nights ended two hours earlier). Here it is made on loads:

- base load per (resource, night): the jobs whose night is fixed (one allowed night), a share
  of every other job without a group, and each group's smallest job (its incremental) spread
  over the group's nights;
- groups by decreasing extra (largest job minus smallest; ties by first job index), each job
  of a group, longest first, onto the free night of its group that minimises the worst
  normalised load over its resources (load / (capacity x the night's free slots for that
  job)), ties by the smaller sum, then by the night's total normalised load, the night index
  last: never night 0 because it comes first;
- a pass of improving moves: a full moves to another night of its block (swapping with the
  group's job there) when that lowers the worst normalised load of the two nights it touches.

:func:`with_nights` then narrows each assigned job to its night's starts (a pure function): a
plan of that instance is a plan of the original one, since every start it allows was allowed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from stagger.instance import Instance

NightOf = dict[int, int]  # job index -> its night
# Per group, for the order and the passes: (-extra, first job, group id, members, each
# member's candidate nights, the group's nights, its base load per night).
_GroupInfo = tuple[int, int, int, list[int], list[list[int]], list[int], float]


def _window_slots(inst: Instance, j: int, night: int) -> int:
    """Slots of ``night`` in which job ``j`` can run: the free stretches its allowed starts
    come from, summed (a blackout inside the window is not room; at least one slot, so the
    normalisation never divides by zero)."""
    d = inst.jobs[j].duration
    return max(1, sum(hi + d - lo for lo, hi in inst.jobs[j].allowed[night]))


def _matching(nights_of: list[list[int]], taken: dict[int, int]) -> bool:
    """Whether the jobs (their candidate nights, by position) not in ``taken`` (position ->
    night) can still take distinct nights that ``taken`` leaves free (augmenting paths: a
    block has at most a few dozen jobs)."""
    used = set(taken.values())
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for n in nights_of[i]:
            if n in used or n in seen:
                continue
            seen.add(n)
            if n not in owner or augment(owner[n], seen):
                owner[n] = i
                return True
        return False

    return all(augment(i, set()) for i in range(len(nights_of)) if i not in taken)


def assign_full_nights(inst: Instance, *, improve_passes: int = 1) -> NightOf:
    """Per job of every group (:meth:`Instance.groups`), the night it runs on. Groups whose
    jobs cannot take distinct allowed nights at all are left out (a planner drops them)."""
    groups = inst.groups()
    if not groups:
        return {}
    n_nights = len(inst.nights)
    n_res = len(inst.resources)
    cap = np.array([max(1, r.capacity or len(inst.jobs)) for r in inst.resources], dtype=float)
    load = np.zeros((n_res, n_nights))  # slots of work per (resource, night)
    # Capacity x free slots of the night, per (resource, night): the normaliser. The jobs'
    # own windows (a tier's 22:00-04:00 inside a 14 h policy window) are taken per job below;
    # here the policy window minus the resource's blocked time.
    room = np.zeros((n_res, n_nights))
    for n, night in enumerate(inst.nights):
        length = night.end - night.start
        for r in range(n_res):
            blocked = sum(
                max(0, min(e, night.end) - max(s, night.start))
                for s, e in inst.resource_blocked.get(r, ())
            )
            room[r, n] = cap[r] * max(1, length - blocked)

    in_group = {j for members in groups.values() for j in members}
    for j, job in enumerate(inst.jobs):
        if j in in_group:
            continue
        nights = job.nights
        if not nights:
            continue
        share = job.duration / len(nights)
        for r in job.resources:
            load[r, nights] += share

    # Per group: its members' candidate nights and its base (smallest job spread over the
    # group's nights, in the proportion of jobs to nights).
    info: list[_GroupInfo] = []
    for g, members in groups.items():
        cand = [inst.jobs[j].nights for j in members]
        g_nights = sorted({n for c in cand for n in c})
        if not g_nights:
            continue
        smallest = min(inst.jobs[j].duration for j in members)
        base = smallest * min(1.0, len(members) / len(g_nights))
        for r in inst.jobs[members[0]].resources:
            load[r, g_nights] += base
        extra = max(inst.jobs[j].duration for j in members) - smallest
        info.append((-extra, members[0], g, members, cand, g_nights, base))
    info.sort()

    night_of: NightOf = {}
    for _neg_extra, _first, _g, members, cand, g_nights, base in info:
        res = list(inst.jobs[members[0]].resources)
        res_a = np.array(res, dtype=np.intp)
        order = sorted(range(len(members)), key=lambda i: (-inst.jobs[members[i]].duration, i))
        taken: dict[int, int] = {}  # position in members -> night
        # The usual block: every job may take every night of it, one job per night. Then any
        # distinct nights will do (no matching to check), and once the jobs left are all the
        # smallest (the incrementals, adding nothing to the base) they take the nights left.
        same = all(c == g_nights for c in cand)
        fills = same and len(members) == len(g_nights)
        smallest = min(inst.jobs[j].duration for j in members)
        ok = same or _matching(cand, taken)
        if ok:
            for pos, i in enumerate(order):
                j = members[i]
                job = inst.jobs[j]
                if fills and job.duration == smallest:
                    free = [n for n in g_nights if n not in taken.values()]
                    for i2, n in zip(order[pos:], free, strict=True):
                        taken[i2] = n
                    break
                add = job.duration - base
                free = [n for n in cand[i] if n not in taken.values()]
                if not same:
                    free = [n for n in free if _matching(cand, {**taken, i: n})]
                if not free:  # pragma: no cover - the matching said one exists
                    ok = False
                    break
                if not res:  # limits nothing: any night will do
                    taken[i] = free[0]
                    continue
                ns = ns_a = np.array(free, dtype=np.intp)
                window = np.array([_window_slots(inst, j, n) for n in free], dtype=float)
                now = load[np.ix_(res_a, ns_a)]
                room_now = room[np.ix_(res_a, ns_a)]
                per_res = (now + add) / np.minimum(room_now, cap[res_a, None] * window)
                night_total = (now / room_now).sum(axis=0)
                # Worst normalised load, then the sum, then the night's load; the index last.
                pick = np.lexsort((ns, night_total, per_res.sum(axis=0), per_res.max(axis=0)))[0]
                n = int(ns[pick])
                taken[i] = n
                for r in res:
                    load[r, n] += add
        # The group's nights without one of its jobs carry no base after all; a group that
        # cannot take distinct nights is not assigned (its jobs keep every night).
        for n in g_nights:
            if not ok or n not in taken.values():
                for r in res:
                    load[r, n] -= base
        if not ok:
            for i, n in taken.items():
                for r in res:
                    load[r, n] -= inst.jobs[members[i]].duration - base
            continue
        for i, n in taken.items():
            night_of[members[i]] = n

    for _ in range(improve_passes):
        if not _improve(inst, info, night_of, load, room, cap):
            break
    return night_of


def _improve(
    inst: Instance,
    info: list[_GroupInfo],
    night_of: NightOf,
    load: np.ndarray,
    room: np.ndarray,
    cap: np.ndarray,
) -> bool:
    """One pass of swaps: a group's longest job trades nights with the group's job on another
    night when the worst normalised load of the two nights over its resources goes down
    (strictly: the pass ends). Returns whether anything moved."""
    moved = False
    for _neg_extra, _first, _g, members, cand, _g_nights, _base in info:
        if any(j not in night_of for j in members):
            continue
        res = list(inst.jobs[members[0]].resources)
        if not res:
            continue
        longest = min(range(len(members)), key=lambda i: (-inst.jobs[members[i]].duration, i))
        j = members[longest]
        here = night_of[j]
        pos_on = {night_of[members[i]]: i for i in range(len(members))}
        # Candidate nights and the duration that moves between ``here`` and each of them.
        ns: list[int] = []
        diffs: list[int] = []
        for n in cand[longest]:
            other = pos_on.get(n)
            if n == here or (other is not None and here not in cand[other]):
                continue
            d_other = inst.jobs[members[other]].duration if other is not None else 0
            if inst.jobs[j].duration - d_other > 0:
                ns.append(n)
                diffs.append(inst.jobs[j].duration - d_other)
        if not ns:
            continue
        d = np.array(diffs, dtype=float)
        res_a, ns_a = np.array(res, dtype=np.intp), np.array(ns, dtype=np.intp)
        at_here = load[res, here][:, None]
        room_here = room[res, here][:, None]
        there = load[np.ix_(res_a, ns_a)]
        room_there = room[np.ix_(res_a, ns_a)]
        before = np.maximum((at_here / room_here).max(), (there / room_there).max(axis=0))
        after = np.maximum(
            ((at_here - d) / room_here).max(axis=0), ((there + d) / room_there).max(axis=0)
        )
        gain = before - after
        k = int(np.argmax(gain))  # the first best: candidates in night order
        best = (float(after[k]), ns[k]) if gain[k] > 1e-12 else None
        if best is None:
            continue
        n = best[1]
        other = pos_on.get(n)
        d_other = inst.jobs[members[other]].duration if other is not None else 0
        diff = inst.jobs[j].duration - d_other
        load[res, here] -= diff
        load[res, n] += diff
        night_of[j] = n
        if other is not None:
            night_of[members[other]] = here
        moved = True
    return moved


def with_nights(inst: Instance, night_of: NightOf) -> Instance:
    """A copy of ``inst`` in which each job of ``night_of`` keeps only its night's allowed
    starts (the other jobs and the instance itself unchanged)."""
    jobs = list(inst.jobs)
    for j, n in night_of.items():
        job = jobs[j]
        jobs[j] = dataclasses.replace(
            job, allowed=tuple(spans if k == n else () for k, spans in enumerate(job.allowed))
        )
    return dataclasses.replace(inst, jobs=jobs)

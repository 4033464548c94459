"""The night-aware load bound of a tiered cycle: the fulls must land somewhere.

The plain load bound (:mod:`stagger.solve.bounds`) divides a resource's whole load by its
free time over every night: it lets a VM's jobs pile on one night. A tiered cycle says more
about where jobs go, and each fact below is a *lower* bound on the slots of a resource's jobs
that any plan with every job puts on the nights of a set ``S``:

1. A job whose allowed nights all lie in ``S`` runs on a night of ``S`` (it runs once, on one
   of its nights). A fixed-night job (a ``full.on`` night, an incremental of a tier with fixed
   or no fulls, a pin) loads its one night.
2. A group ``G`` (a VM's full and incrementals of one ``every`` block, see
   :mod:`stagger.cycle`) takes distinct nights (the rule every solver keeps), each one of its
   jobs' allowed nights; let ``U`` be the union of those nights. At most one job of ``G`` runs
   on each night of ``U`` outside ``S``, so at least ``k = |G| - |U \\ S|`` of them run on
   nights of ``S``, and those are at least the ``k`` shortest jobs of ``G`` (any ``k`` of its
   jobs take at least as many slots as its ``k`` shortest). With ``|G| = |U|`` (a block: one
   job on each of its nights) ``k = |S ∩ U|``: a single night carries at least the group's
   shortest job (an incremental), and a set ``S`` holding the whole block carries all of it,
   the full included: the full must land somewhere in ``S``. (Per-job nights inside ``U``
   are not used: a relaxation, so the count stays valid when a full fits fewer nights than
   its incrementals.)

The jobs of a resource ``r`` counted this way, ``minload_S(r)``, run on ``S``, at most
``cap_eff(r)`` at once (its effective capacity, :mod:`stagger.solve.bound_capacity`), in
the free slots of the nights of ``S`` (the blackouts that apply to every job of ``r``
removed). In a plan whose every night ends within ``M`` slots of its window start only the
first ``M`` free slots of each night serve, ``free_n(r, M)``; so the plan's worst night is at
least the smallest ``M`` with ``cap_eff(r) * sum_{n in S} free_n(r, M) >= minload_S(r)``
(one past the longest night when no ``M`` does: the jobs cannot fit). For ``S = {n}`` the
same ``M`` bounds night ``n``'s own span (window start to its last job's end): nothing of
other nights enters that count. That per-night bound also takes the earliest end, on night
``n``, of every job that must run there (rule 1 with ``S = {n}``), and for every group
with ``|G| >= |U|`` (one of its jobs on each night of ``U``) the earliest end on ``n`` of
the first of its jobs to end there.

3. *The fulls cannot spread evenly* (P||Cmax). Take the groups of ``r`` with ``|G| = |U|``
   for one union ``U`` (an ``every`` block: one job on each night of ``U``). Each night ``n``
   carries ``base_n`` = minload of ``{n}`` (rules 1 and 2: the shortest job of every such
   group, the jobs fixed on ``n``), plus, for each of these groups, its job's slots beyond the
   group's shortest (its *excess*: a full's minus an incremental's). Those excess items land
   on nights of ``U`` (the relaxation drops "distinct nights"), so the night that gets the
   most of them gets at least :func:`spread_bound` of them (the largest item; for every
   ``t >= 1`` some night holds ``t + 1`` of the ``t |U| + 1`` largest); that night ``n``
   needs ``cap_eff(r) * free_n(r, M) >= base_n + spread``, so the worst night is at least the
   smallest such ``M`` over the nights of ``U``. This is the rule that closes the gap of a
   week of nightly incrementals with one staggered full: at 1,000 VMs the load over all
   nights says 665 min, this rule 690 min, the planner's worst night.

Sets of nights tried: every subset of the cycle when it has at most :data:`ALL_SUBSETS_UP_TO`
nights (1,023 sets at 10 nights); above, every single night, every run of consecutive nights
and the whole cycle (``N (N + 1) / 2`` sets). Every set gives a valid bound, so trying fewer
only weakens it. Cost: per resource, the jobs are summed per night mask (rule 1) and per
(union, job count) of groups (rule 2), then evaluated for all sets at once with numpy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from stagger.instance import Instance, free_segments
from stagger.solve.bound_packing import Packing

ALL_SUBSETS_UP_TO = 10


@dataclass(frozen=True)
class NightBound:
    """The night-aware bound on one resource: the worst-night bound and the set of nights
    that sets it; and per night, the bound on that night's span."""

    resource: int
    makespan: int  # slots; > longest night: the jobs cannot fit
    nights: tuple[int, ...]  # the set S that gives ``makespan`` (() when 0)
    load: int  # minload over that set, slots; -1 when rule 3 (fulls spread) sets it
    per_night: tuple[int, ...]  # bound on each night's own span, slots


def night_sets(n_nights: int) -> np.ndarray:
    """The sets of nights tried (module doc), as a boolean matrix [set, night]."""
    if n_nights <= ALL_SUBSETS_UP_TO:
        masks = np.arange(1, 1 << n_nights, dtype=np.int64)
        return (masks[:, None] >> np.arange(n_nights)) & 1 == 1
    rows = []
    for a in range(n_nights):
        for b in range(a + 1, n_nights + 1):
            row = np.zeros(n_nights, dtype=bool)
            row[a:b] = True
            rows.append(row)
    return np.array(rows)


def describe_nights(nights: tuple[int, ...]) -> str:
    """'night 3', 'nights 0-6', 'nights 0, 2, 5'."""
    if len(nights) == 1:
        return f"night {nights[0]}"
    if list(nights) == list(range(nights[0], nights[-1] + 1)):
        return f"nights {nights[0]}-{nights[-1]}"
    return "nights " + ", ".join(str(n) for n in nights)


_NOWHERE = 1 << 40  # the earliest end on a night the job may not use


def _first_starts(inst: Instance) -> np.ndarray:
    """[job, night]: the job's first allowed start on the night, or -1 (one pass over the
    jobs, shared by the masks and the earliest ends)."""
    return np.array(
        [[spans[0][0] if spans else -1 for spans in job.allowed] for job in inst.jobs],
        dtype=np.int64,
    ).reshape(len(inst.jobs), len(inst.nights))


def _job_masks(first: np.ndarray) -> np.ndarray:
    """[job, night]: whether the job may run on the night."""
    return first >= 0


def _earliest_ends(inst: Instance, first: np.ndarray) -> np.ndarray:
    """[job, night]: the job's earliest end on the night, slots from its window start; a
    large value where the job may not run."""
    origin = np.array([n.start for n in inst.nights], dtype=np.int64)
    duration = np.array([job.duration for job in inst.jobs], dtype=np.int64)
    return np.where(first >= 0, first + duration[:, None] - origin[None, :], _NOWHERE)


@dataclass(frozen=True)
class _Groups:
    """Every group once: its union of nights and its sorted durations' prefix sums."""

    key: dict[int, tuple[bytes, int]]  # group -> (union of nights, job count)
    prefix: dict[int, np.ndarray]  # group -> [0, d1, d1 + d2, ...], shortest first
    excess: dict[int, list[int]]  # group -> each job's slots beyond its shortest (> 0 only)
    exact: dict[int, bool]  # group -> one job on each night of its union (|G| = |U|)

    @classmethod
    def of(cls, inst: Instance, masks: np.ndarray) -> _Groups:
        key: dict[int, tuple[bytes, int]] = {}
        prefix: dict[int, np.ndarray] = {}
        excess: dict[int, list[int]] = {}
        exact: dict[int, bool] = {}
        by_group = inst.groups()
        if not by_group:
            return cls(key, prefix, excess, exact)
        # Unions of nights of every group at once (its jobs made consecutive).
        ids = list(by_group)
        order = np.array([j for g in ids for j in by_group[g]], dtype=np.int64)
        sizes = np.array([len(by_group[g]) for g in ids], dtype=np.int64)
        cut = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        unions = np.logical_or.reduceat(masks[order], cut, axis=0)
        counts = unions.sum(axis=1)
        for i, g in enumerate(ids):
            durations = sorted(inst.jobs[j].duration for j in by_group[g])
            key[g] = (unions[i].tobytes(), len(durations))
            prefix[g] = np.array(list(accumulate(durations, initial=0)), dtype=np.int64)
            excess[g] = [d - durations[0] for d in durations if d > durations[0]]
            exact[g] = len(durations) == int(counts[i])
        return cls(key, prefix, excess, exact)


def _groups_of(inst: Instance, members: list[int]) -> list[int]:
    """The groups with jobs among ``members``, each once (a group's jobs are one VM's: all
    on the same resources)."""
    return list(dict.fromkeys(g for j in members if (g := inst.jobs[j].group) is not None))


def spread_bound(excess: np.ndarray, bins: int) -> int:
    """A lower bound on the largest bin when the items ``excess`` go to ``bins`` bins
    (P||Cmax): the largest item; the average; and for every t >= 1, some bin holds t + 1 of
    the t * bins + 1 largest items, so at least the t + 1 smallest of them."""
    if not len(excess):
        return 0
    p = np.sort(excess)[::-1]
    c = np.concatenate(([0], np.cumsum(p)))
    t = np.arange(0, (len(p) - 1) // bins + 1)
    hi = t * bins + 1
    return max(int((c[hi] - c[hi - t - 1]).max()), -(-int(c[-1]) // bins))


def _min_loads(
    inst: Instance,
    members: list[int],
    masks: np.ndarray,
    groups: _Groups,
    mine: list[int],
    sets: np.ndarray,
) -> np.ndarray:
    """minload_S (slots) of the jobs ``members`` (their groups ``mine``) for every set of
    ``sets`` (module doc)."""
    load = np.zeros(len(sets), dtype=np.int64)
    alone: dict[bytes, int] = defaultdict(int)  # rule 1, summed per night mask
    for j in members:
        if inst.jobs[j].group is None:
            alone[masks[j].tobytes()] += inst.jobs[j].duration
    # Rule 2, per (union of nights, job count): the groups' prefix sums added up, so that
    # table[k] is the sum over those groups of their k shortest jobs.
    tables: dict[tuple[bytes, int], np.ndarray] = {}
    for g in mine:
        key = groups.key[g]
        tables[key] = tables[key] + groups.prefix[g] if key in tables else groups.prefix[g]
    for key_bytes, slots in alone.items():
        mask = np.frombuffer(key_bytes, dtype=bool)
        # On S only when S holds every night the job may take.
        inside = ~((~sets) & mask).any(axis=1)
        load += slots * inside
    for (key_bytes, size), prefix in tables.items():
        union = np.frombuffer(key_bytes, dtype=bool)
        outside = (union & ~sets).sum(axis=1)  # |U \ S| per set
        load += prefix[np.clip(size - outside, 0, size)]
    return load


def night_bounds(
    inst: Instance,
    by_res: list[tuple[int, list[int]]],
    caps: dict[int, int],
    per_night_free: Callable[[int], np.ndarray],
) -> list[NightBound]:
    """The bound of the module doc per resource of ``by_res`` (resource, its jobs).
    ``caps``: effective capacities; ``per_night_free(r)``: [night, M] free slots of resource
    ``r`` within the first M slots of each night (``M`` = 0 .. longest night)."""
    n_nights = len(inst.nights)
    sets = night_sets(n_nights)
    singles = np.eye(n_nights, dtype=bool)
    sets_count = sets.astype(np.int64)
    masks = _job_masks(_first_starts(inst))
    groups = _Groups.of(inst, masks)
    out = []
    # Free slots of every set, [set, M], once per profile (resources share them); the
    # profile is kept beside it so that its id stays its own.
    free_sets: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for r, members in by_res:
        cap = caps[r]
        free = per_night_free(r)  # [night, M]
        if id(free) not in free_sets:
            free_sets[id(free)] = (free, sets_count @ free)

        def smallest(need: np.ndarray, free_rows: np.ndarray, cap: int = cap) -> np.ndarray:
            """Per row, the first M with cap * free >= need, else one past the longest
            night (the jobs cannot fit)."""
            enough = cap * free_rows >= need[:, None]
            return np.where(enough.any(axis=1), enough.argmax(axis=1), free_rows.shape[1])

        mine = _groups_of(inst, members)
        load = _min_loads(inst, members, masks, groups, mine, sets)
        first = smallest(load, free_sets[id(free)][1])
        best = int(np.argmax(first))
        nb = NightBound(
            r,
            int(first[best]),
            tuple(int(n) for n in np.flatnonzero(sets[best])) if first[best] else (),
            int(load[best]),
            (),
        )
        # base[n] = minload of {n}: what night n carries whatever the plan.
        base = _min_loads(inst, members, masks, groups, mine, singles)
        per_night = smallest(base, free)
        # Rule 3: the excess items of the groups with one job on each of their nights,
        # per union U; the night of U that gets the most of them carries its base too.
        items: dict[bytes, list[int]] = defaultdict(list)
        for g in mine:
            if groups.exact[g] and groups.excess[g]:
                items[groups.key[g][0]] += groups.excess[g]
        for key, excess in items.items():
            union = np.frombuffer(key, dtype=bool)
            spread = spread_bound(np.array(excess, dtype=np.int64), int(union.sum()))
            at = np.flatnonzero(union)
            m = int(smallest(base[at] + spread, free[at]).min())
            if m > nb.makespan:
                nb = NightBound(r, m, tuple(int(n) for n in at), -1, ())
        out.append(
            NightBound(
                nb.resource, nb.makespan, nb.nights, nb.load, tuple(int(m) for m in per_night)
            )
        )
    return out


def forced_ends(inst: Instance) -> tuple[int, ...]:
    """Per night, the latest of the earliest ends of the jobs that must run on it (module
    doc): a job allowed on that night alone; a group with a job on each of its nights."""
    n_nights = len(inst.nights)
    out = np.zeros(n_nights, dtype=np.int64)
    if not inst.jobs:
        return tuple(int(x) for x in out)
    first = _first_starts(inst)
    masks = _job_masks(first)
    ends = _earliest_ends(inst, first)
    group = np.array([-1 if job.group is None else job.group for job in inst.jobs])
    alone = (group < 0) & (masks.sum(axis=1) == 1)
    if alone.any():
        out = np.maximum(out, np.where(masks[alone], ends[alone], 0).max(axis=0))
    grouped = np.flatnonzero(group >= 0)
    if len(grouped):
        # Per group (its jobs made consecutive): its first end per night and its nights.
        order = grouped[np.argsort(group[grouped], kind="stable")]
        cut = np.flatnonzero(np.diff(group[order], prepend=-2))
        first = np.minimum.reduceat(ends[order], cut, axis=0)
        union = np.logical_or.reduceat(masks[order], cut, axis=0)
        size = np.diff(np.append(cut, len(order)))
        each_night = union & (size >= union.sum(axis=1))[:, None]
        out = np.maximum(out, np.where(each_night, first, 0).max(axis=0))
    return tuple(int(x) for x in out)


@dataclass(frozen=True)
class VmDrops:
    """The VMs no plan can fit on one resource and night (:func:`vms_that_cannot_fit`)."""

    resource: int
    night: int
    must: int  # VMs that must run a job on the night through the resource
    fit: int  # at most this many of them fit

    @property
    def dropped(self) -> int:
        return self.must - self.fit


def vms_that_cannot_fit(
    inst: Instance, by_res: list[tuple[int, list[int]]], caps: dict[int, int]
) -> VmDrops | None:
    """A lower bound on how many VMs every plan of a tiered cycle leaves out (the VM is the
    unit dropped: all its jobs or none), with the resource and night that give it; None when
    no resource and night show one.

    A VM ``v`` *must run on night n through resource r* when one of its jobs on ``r`` may
    run on ``n`` only (a fixed night: a ``full.on`` night, a pin, an incremental of a tier
    with fixed or no fulls), or one of its groups with jobs on ``r`` has one job on each night
    of its union ``U`` (``|G| = |U|``, an ``every`` block) and ``n`` is in ``U``. Let
    ``d_v`` be the shortest of ``v``'s jobs on ``r`` that may run on ``n``.

    Proof. Take any plan ``P`` and let ``D`` be the VMs it leaves out. Every VM of the set
    ``S(r, n)`` above that ``P`` plans has all its jobs planned, so a job of it runs on ``n``
    through ``r``, of at least ``d_v`` slots, inside one free stretch of ``n`` (the blackouts
    that apply to every job of ``r``), at most ``cap_eff(r)`` of the jobs of ``r`` at once
    (:mod:`stagger.solve.bound_capacity`). Cut each such job to its first ``d_v`` slots: the
    cut jobs still lie in those stretches, no more than ``cap_eff(r)`` deep, so they pass the
    necessary tests of :class:`~stagger.solve.bound_packing.Packing` on night ``n``'s
    stretches alone, and :meth:`~stagger.solve.bound_packing.Packing.most_placeable` of the
    durations ``{d_v : v in S(r, n)}`` is at least ``|S(r, n) \\ D|``. Hence
    ``|D| >= |S(r, n)| - most_placeable``, for every ``(r, n)``: the bound is the largest.
    (A sum over resources would count a VM left out for two of them twice: not used.)"""
    n_nights = len(inst.nights)
    if not inst.jobs or not n_nights:
        return None
    big = 1 << 40
    first = _first_starts(inst)
    masks = _job_masks(first)
    ends = _earliest_ends(inst, first)
    by_group = inst.groups()
    duration = np.array([job.duration for job in inst.jobs], dtype=np.int64)
    vm_ids: dict[str, int] = {}
    vm_of = np.array([vm_ids.setdefault(job.vm, len(vm_ids)) for job in inst.jobs])
    # [job, night]: the nights the job makes its VM run on: its own night when it has one
    # (no group), every night of its group's union when the group has one job on each.
    must_job = np.zeros_like(masks)
    alone = np.array([job.group is None for job in inst.jobs]) & (masks.sum(axis=1) == 1)
    must_job[alone] = masks[alone]
    for js in by_group.values():
        union = masks[js].any(axis=0)
        if len(js) >= int(union.sum()):
            must_job[js] = union
    best: VmDrops | None = None
    for r, members in by_res:
        res = inst.resources[r]
        if not res.capacity:
            continue  # unlimited
        cap = caps[r]
        m = np.array(members, dtype=np.int64)
        _, vm_local = np.unique(vm_of[m], return_inverse=True)
        n_vms = int(vm_local.max()) + 1
        need = np.zeros((n_vms, n_nights), dtype=bool)  # [VM, night]: must run there
        np.logical_or.at(need, vm_local, must_job[m])
        if not (need.sum(axis=0) > cap).any():
            continue
        # [VM, night]: its shortest job on r allowed there (slots), and the earliest end
        # of its jobs there (only "fits the night" is asked of it).
        short = np.full((n_vms, n_nights), big, dtype=np.int64)
        np.minimum.at(short, vm_local, np.where(masks[m], duration[m][:, None], big))
        end_at = np.full((n_vms, n_nights), big, dtype=np.int64)
        np.minimum.at(end_at, vm_local, ends[m])
        need &= short < big  # (a VM's jobs share their resources: never cleared in practice)
        blocked = inst.resource_blocked.get(r, [])
        for n in np.flatnonzero(need.sum(axis=0) > cap):
            rows = need[:, n]
            durations = short[rows, n]
            earliest = np.full((len(durations), n_nights), big, dtype=np.int64)
            earliest[:, n] = end_at[rows, n]
            stretches = [
                free_segments(night, blocked) if i == n else []
                for i, night in enumerate(inst.nights)
            ]
            fit = Packing(inst, durations, earliest, stretches, cap).most_placeable()
            found = VmDrops(r, int(n), len(durations), fit)
            if found.dropped > 0 and (best is None or found.dropped > best.dropped):
                best = found
    return best

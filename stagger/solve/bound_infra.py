"""Lower bounds over the backup infrastructure: proxies, repository tasks, repository ingest.

With an infrastructure file a job runs in one of its *options* (:class:`stagger.instance.Option`:
a proxy, a mode, a repository; each with its own duration and starts), or, once folded
(``instance.fix_options``), as a plain job whose ``resources`` hold its proxy, repository and
ingest with ``demands`` (ingest in MB/s). This module reads both forms the same way: a job has
one or more *ways* to run, each a (duration, allowed starts, units per resource); a job
without options has one way, itself.

Rules (each a necessary condition on every plan with every job, so the makespan bound it gives
is valid; the makespan is the largest per-night span, window start to last job end):

(c) *Shortest way.* A job ends no earlier than the earliest end of its ways: on each night the
    first allowed start of a way plus that way's duration (:func:`earliest_end`). A plan runs
    the job in one way, at one of its starts, for its duration.

(a), (b) *Energy of a resource set.* Take a set ``S`` of resources of one kind (proxies: task
    slots; repositories: tasks; ingest: MB/s) with capacities ``cap_r``. A job is *forced
    into S* when every one of its ways takes units of some resource of ``S``. In a plan, the
    way it runs takes, for its whole duration ``d_w``, ``u_w(S)`` = the sum of its units on
    ``S``; so it puts at least ``e_j = min over ways of d_w * u_w(S)`` unit-slots on ``S``.
    At every slot the jobs together take at most ``C_S = sum of cap_r`` units of ``S`` (each
    ``r`` at most ``cap_r``). A job occupies only slots of its *region*: the slots some way of
    it can cover when every night ends within ``M`` slots of its window start (its allowed
    starts ``s`` with ``s + d_w <= night start + M``, each covering ``[s, s + d_w)``). So with
    ``R(M)`` the union of the regions of a set ``J`` of jobs forced into ``S``::

        sum_{j in J} e_j  <=  C_S * |R(M)|

    and every plan's makespan is at least the smallest ``M`` for which this holds. ``R(M)``
    only grows with ``M`` (a larger ``M`` only adds starts), so the smallest such ``M`` is
    found by binary search; when even the longest night fails, the jobs cannot all fit (the
    bound is one past the longest night). On task resources (every way takes at most one unit
    of ``S``, as a proxy or repository slot) no more than ``|J|`` units are ever taken, nor
    more than the jobs' hosts, datastores, RAID groups and global task slots let run at once
    (:func:`stagger.solve.bound_capacity.max_running`), so ``C_S`` is lowered to those.
    Sets tried per kind: each resource alone, each distinct set of a job's ways (a *reach
    group*: the proxies that reach it; the repositories it may write to), and the whole kind
    (up to :data:`_MAX_SETS` groups, else singles and the whole kind). ``J``: per set, every
    job forced into it, and for each distinct set of nights its jobs may use (up to
    :data:`_NIGHT_SETS`), those whose nights lie inside (Hall's condition over nights: jobs
    that must run on some nights fill those nights' time alone).

    A night set of one night ``n`` bounds that night's own span: the jobs forced into ``S``
    that may only run on ``n`` occupy slots of ``n`` alone.

(d) *Night packing on task resources* (:mod:`stagger.solve.bound_packing`): a set ``S`` of
    proxies (or repositories) whose every way takes one unit is ``C_S`` machines, and each job
    forced into it lies inside one night; the packing tests on whole nights (no common
    blackout assumed, a relaxation) with the jobs' shortest durations
    (``Job.duration``: the shortest way's; every way's starts lie inside the shortest way's,
    the instance's contract) are necessary conditions, monotone in ``M``.

(e) *Heavy jobs on ingest.* On a set ``S`` of ingest resources of total capacity ``C_S``
    (MB/s), jobs each of whose ways takes more than ``C_S / (k + 1)`` of ``S`` can run at most
    ``k`` at once (``k + 1`` of them would take more than ``C_S``, and at every slot the jobs
    together take at most ``C_S``). They are then ``k`` machines: the night packing of (d)
    with capacity ``k`` over their shortest durations holds for them (tried for ``k`` = 1 ..
    :data:`_HEAVY_K`). Two 600 MB/s jobs on a 1,000 MB/s repository run one after the other:
    the bound is their two durations, where the energy says 1.2 of one.

Dropped jobs (:meth:`InfraBounds.min_dropped`): of the jobs forced into ``S`` at most the ``k``
with the smallest ``e_j`` whose energies sum to at most ``C_S * |R(longest night)|`` can all
be placed (any placed subset obeys the energy inequality, and its ``k`` smallest energies are
no more than any ``k`` of them), and on task resources at most what the night packing places.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stagger.instance import Instance, Span
from stagger.solve.bound_capacity import max_running
from stagger.solve.bound_packing import Packing

# The kinds of resource an infrastructure file adds; ingest is in MB/s, the others in tasks.
INFRA_KINDS = ("proxy", "repository", "ingest")
_TASK_KINDS = ("proxy", "repository")
# Distinct reach groups tried per kind; above, each resource alone and the whole kind.
_MAX_SETS = 64
# Distinct night sets tried per resource set; above, only every night together.
_NIGHT_SETS = 16
# Rule (e): "at most k heavy jobs at once" tried for k = 1 .. this.
_HEAVY_K = 4


@dataclass(frozen=True)
class Way:
    """One way a job can run: its duration (slots), allowed starts per night, and the units it
    takes of each resource (only the resources with units > 0)."""

    duration: int
    allowed: tuple[tuple[Span, ...], ...]
    units: dict[int, int]


def ways(inst: Instance, j: int) -> list[Way]:
    """The ways job ``j`` can run (module doc): one per option, each adding the option's
    resources to the job's own; the job itself when it has no options."""
    job = inst.jobs[j]
    own: dict[int, int] = {}
    for i, r in enumerate(job.resources):
        if job.demand(i) > 0:
            own[r] = own.get(r, 0) + job.demand(i)
    if not job.options:
        return [Way(job.duration, job.allowed, own)]
    out = []
    for opt in job.options:
        units = dict(own)
        for i, r in enumerate(opt.resources):
            d = opt.demands[i] if opt.demands else 1
            if d > 0:
                units[r] = units.get(r, 0) + d
        out.append(Way(opt.duration, opt.allowed, units))
    return out


def earliest_end(inst: Instance, j: int) -> int:
    """Rule (c): the earliest end of job ``j`` over its ways and nights, slots from its night's
    window start; ``1 << 40`` when no way has a start."""
    best = 1 << 40
    for w in ways(inst, j):
        for n, spans in enumerate(w.allowed):
            if spans:
                best = min(best, spans[0][0] + w.duration - inst.nights[n].start)
    return best


def _region(inst: Instance, w: Way, prefix: int) -> np.ndarray:
    """Slots way ``w`` may cover when every night ends within ``prefix`` slots."""
    mask = np.zeros(inst.horizon + 1, dtype=bool)
    for n, spans in enumerate(w.allowed):
        last = inst.nights[n].start + prefix - w.duration
        for lo, hi in spans:
            if lo <= min(hi, last):
                mask[lo : min(hi, last) + w.duration] = True
    return mask


@dataclass(frozen=True)
class InfraLoad:
    """The energy rule on one resource set and night set (module doc, rules (a) and (b))."""

    kind: str  # proxy, repository or ingest
    resources: tuple[int, ...]
    capacity: int  # C_S: units at once (tasks, or MB/s on ingest)
    energy: int  # sum of e_j: unit-slots the jobs need at least
    jobs: int  # |J|
    nights: tuple[int, ...]  # the night set (every night: the whole cycle)
    free: int  # |R(longest night)|: slots the jobs may use at all
    bound: int  # smallest makespan (slots); > longest night: cannot fit

    @property
    def overloaded(self) -> bool:
        return self.energy > self.capacity * self.free


@dataclass
class _Job:
    ways: list[Way]
    nights: int  # bit mask of the nights some way may use


class InfraBounds:
    """The rules of the module doc over one instance (built once, then queried)."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.longest = max(n.end - n.start for n in inst.nights) if inst.nights else 0
        self.jobs = []
        for j in range(len(inst.jobs)):
            ws = ways(inst, j)
            mask = 0
            for w in ws:
                for n, spans in enumerate(w.allowed):
                    if spans:
                        mask |= 1 << n
            self.jobs.append(_Job(ws, mask))
        self._regions: dict[tuple[int, int, int], np.ndarray] = {}
        self._loads: list[InfraLoad] | None = None

    def resource_sets(self) -> list[tuple[str, tuple[int, ...]]]:
        """(kind, resources) sets tried (module doc), each once, in a stable order."""
        out: list[tuple[str, tuple[int, ...]]] = []
        for kind in INFRA_KINDS:
            # Capacity 0 is "unlimited" (:class:`stagger.instance.Resource`): never in a set.
            of_kind = {
                r
                for r, res in enumerate(self.inst.resources)
                if res.kind == kind and res.capacity > 0
            }
            if not of_kind:
                continue
            groups: set[tuple[int, ...]] = set()
            for job in self.jobs:
                used = tuple(sorted({r for w in job.ways for r in w.units if r in of_kind}))
                if used:
                    groups.add(used)
            if not groups:
                continue
            found: set[tuple[int, ...]] = {(r,) for g in groups for r in g}
            if len(groups) <= _MAX_SETS:
                found |= groups
            found.add(tuple(sorted({r for g in groups for r in g})))
            out += [(kind, s) for s in sorted(found, key=lambda s: (len(s), s))]
        return out

    def _forced(self, members: frozenset[int]) -> list[tuple[int, int]]:
        """(job, e_j) of every job forced into ``members`` (module doc)."""
        out = []
        for j, job in enumerate(self.jobs):
            energy = None
            for w in job.ways:
                units = sum(u for r, u in w.units.items() if r in members)
                if units == 0:
                    energy = None
                    break
                e = w.duration * units
                energy = e if energy is None else min(energy, e)
            if energy is not None:
                out.append((j, energy))
        return out

    def _units_at_most_one(self, members: frozenset[int], js: list[int]) -> bool:
        return all(
            sum(u for r, u in w.units.items() if r in members) <= 1
            for j in js
            for w in self.jobs[j].ways
        )

    def way_keys(self, js: list[int]) -> list[tuple[int, int]]:
        """The distinct ways of the jobs ``js`` (job, way index), one per (starts, duration):
        the jobs of a compiled instance share their allowed starts."""
        seen: dict[tuple[int, int], tuple[int, int]] = {}
        for j in js:
            for k, w in enumerate(self.jobs[j].ways):
                seen.setdefault((id(w.allowed), w.duration), (j, k))
        return list(seen.values())

    def region_size(self, keys: list[tuple[int, int]], prefix: int) -> int:
        """|R(prefix)| of the ways ``keys`` (:meth:`way_keys`)."""
        mask = np.zeros(self.inst.horizon + 1, dtype=bool)
        for j, k in keys:
            w = self.jobs[j].ways[k]
            key = (id(w.allowed), w.duration, prefix)
            if key not in self._regions:
                self._regions[key] = _region(self.inst, w, prefix)
            mask |= self._regions[key]
        return int(mask.sum())

    def capacity(self, kind: str, members: frozenset[int], js: list[int]) -> int:
        """C_S, lowered on task kinds to the jobs that can run at once (module doc)."""
        cap = sum(self.inst.resources[r].capacity for r in members)
        if kind in _TASK_KINDS and self._units_at_most_one(members, js):
            cap = min(cap, max_running(self.inst, js))
        return cap

    def _smallest(self, energy: int, cap: int, keys: list[tuple[int, int]], start: int) -> int:
        """Smallest M >= start with cap * |R(M)| >= energy; longest + 1 when none."""
        if start > self.longest:
            return start

        def holds(m: int) -> bool:
            return cap * self.region_size(keys, m) >= energy

        if holds(start):
            return start
        if not holds(self.longest):
            return self.longest + 1
        lo, hi = start, self.longest
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if holds(mid):
                hi = mid
            else:
                lo = mid
        return hi

    def loads(self) -> list[InfraLoad]:
        """The energy rule per resource set and night set (module doc), each with its bound."""
        if self._loads is not None:
            return self._loads
        out = []
        every = (1 << len(self.inst.nights)) - 1
        for kind, res in self.resource_sets():
            members = frozenset(res)
            forced = self._forced(members)
            if not forced:
                continue
            masks = sorted({self.jobs[j].nights for j, _ in forced})
            sets = [every] + [m for m in masks if m != every] if len(masks) <= _NIGHT_SETS else []
            for night_set in sets or [every]:
                inside = [(j, e) for j, e in forced if self.jobs[j].nights & ~night_set == 0]
                if not inside:
                    continue
                js = [j for j, _ in inside]
                energy = sum(e for _, e in inside)
                cap = self.capacity(kind, members, js)
                keys = self.way_keys(js)
                free = self.region_size(keys, self.longest)
                out.append(
                    InfraLoad(
                        kind,
                        res,
                        cap,
                        energy,
                        len(js),
                        tuple(n for n in range(len(self.inst.nights)) if night_set >> n & 1),
                        free,
                        self._smallest(energy, cap, keys, 0) if cap else self.longest + 1,
                    )
                )
        self._loads = out
        return out

    def packing(self, start: int) -> tuple[int, InfraLoad | None]:
        """Rule (d) on every task-kind set: (bound, the set that sets it) from ``start``."""
        best, why = start, None
        for load in self.loads():
            if load.kind not in _TASK_KINDS or len(load.nights) != len(self.inst.nights):
                continue
            members = frozenset(load.resources)
            js = [j for j, _ in self._forced(members)]
            if not self._units_at_most_one(members, js) or load.capacity >= len(js):
                continue
            packed = Packing.of(self.inst, js, [], load.capacity).smallest_horizon(best)
            if packed > best:
                best, why = packed, load
        return best, why

    def heavy(self, start: int) -> tuple[int, InfraLoad | None, int, int]:
        """Rule (e) on every ingest set: (bound, the set, k, how many heavy jobs) from
        ``start``; the set None when the rule does not raise ``start``."""
        best: tuple[int, InfraLoad | None, int, int] = (start, None, 0, 0)
        for load in self.loads():
            if load.kind != "ingest" or len(load.nights) != len(self.inst.nights):
                continue
            members = frozenset(load.resources)
            cap = load.capacity
            least = {j: self._least_units(j, members) for j, _ in self._forced(members)}
            for k in range(1, _HEAVY_K + 1):
                js = [j for j, u in least.items() if u * (k + 1) > cap]
                if len(js) <= k:
                    continue  # k at once: every one of them may run together
                packed = Packing.of(self.inst, js, [], k).smallest_horizon(best[0])
                if packed > best[0]:
                    best = (packed, load, k, len(js))
        return best

    def _least_units(self, j: int, members: frozenset[int]) -> int:
        """The fewest units of ``members`` any way of job ``j`` takes."""
        return min(sum(u for r, u in w.units.items() if r in members) for w in self.jobs[j].ways)

    def min_dropped(self) -> tuple[int, InfraLoad | None]:
        """A lower bound on the jobs no plan places (module doc), with the set that gives it."""
        best, why = 0, None
        for load in self.loads():
            if len(load.nights) != len(self.inst.nights):
                continue
            members = frozenset(load.resources)
            forced = self._forced(members)
            energies = np.sort(np.array([e for _, e in forced], dtype=np.int64))
            budget = load.capacity * load.free
            fit = int(np.searchsorted(np.cumsum(energies), budget, side="right"))
            js = [j for j, _ in forced]
            if (
                load.kind in _TASK_KINDS
                and self._units_at_most_one(members, js)
                and load.capacity < len(js)
            ):
                fit = min(fit, Packing.of(self.inst, js, [], load.capacity).most_placeable())
            if len(js) - fit > best:
                best, why = len(js) - fit, load
        return best, why

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
from stagger.solve.bound_packing import Packing, occupiable

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


class InfraBounds:
    """The rules of the module doc over one instance (built once, then queried). The ways of
    every job are flattened into arrays (job, duration, distinct starts, units per resource of
    an infrastructure kind), so that each set costs a few vector operations."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.longest = max(n.end - n.start for n in inst.nights) if inst.nights else 0
        # Capacity 0 is "unlimited" (:class:`stagger.instance.Resource`): never in a set.
        self.columns = [
            r
            for r, res in enumerate(inst.resources)
            if res.kind in INFRA_KINDS and res.capacity > 0
        ]
        col = {r: c for c, r in enumerate(self.columns)}
        key_of: dict[tuple[int, int], int] = {}
        self.keys: list[Way] = []  # one way per distinct (starts, duration)
        job_of: list[int] = []
        duration: list[int] = []
        key: list[int] = []
        cells: list[tuple[int, int, int]] = []  # (way, column, units)
        self.first = np.zeros(len(inst.jobs), dtype=np.int64)  # first way of each job
        for j, job in enumerate(inst.jobs):
            self.first[j] = len(job_of)
            own = [
                (col[r], job.demand(i))
                for i, r in enumerate(job.resources)
                if r in col and job.demand(i) > 0
            ]
            # (starts, duration, resources, demands) of each way: as :func:`ways`, without
            # building a dict per option (10,000 jobs x 10 options).
            plain: tuple[tuple[tuple[Span, ...], ...], int, tuple[int, ...], tuple[int, ...]] = (
                job.allowed,
                job.duration,
                (),
                (),
            )
            for allowed, dur, o_res, o_dem in (
                [(o.allowed, o.duration, o.resources, o.demands) for o in job.options]
                if job.options
                else [plain]
            ):
                w = len(job_of)
                k = key_of.setdefault((id(allowed), dur), len(self.keys))
                if k == len(self.keys):
                    self.keys.append(Way(dur, allowed, {}))
                job_of.append(j)
                duration.append(dur)
                key.append(k)
                cells += [(w, c, u) for c, u in own]
                for i, r in enumerate(o_res):
                    u = o_dem[i] if o_dem else 1
                    if r in col and u > 0:
                        cells.append((w, col[r], u))
        self.duration = np.array(duration, dtype=np.int64)
        self.key = np.array(key, dtype=np.int64)
        self.job_of = np.array(job_of, dtype=np.int64)
        self.units = np.zeros((len(job_of), len(self.columns)), dtype=np.int64)
        if cells:
            at = np.array(cells, dtype=np.int64)
            np.add.at(self.units, (at[:, 0], at[:, 1]), at[:, 2])
        key_nights = np.array(
            [sum(1 << n for n, spans in enumerate(w.allowed) if spans) for w in self.keys],
            dtype=np.int64,
        )
        # Per job, the nights some way of it may use (bit mask; up to 62 nights exactly,
        # longer cycles as every night: a relaxation, the night sets then add nothing).
        self.masked = len(inst.nights) <= 62 and bool(len(job_of))
        if self.masked:
            self.nights = np.bitwise_or.reduceat(key_nights[self.key], self.first)
        else:
            self.nights = np.zeros(len(inst.jobs), dtype=np.int64)
        self._regions: dict[int, np.ndarray] = {}  # prefix -> [key, slot]
        self._loads: list[InfraLoad] | None = None

    def resource_sets(self) -> list[tuple[str, tuple[int, ...]]]:
        """(kind, resources) sets tried (module doc), each once, in a stable order."""
        out: list[tuple[str, tuple[int, ...]]] = []
        for kind in INFRA_KINDS:
            cols = [c for c, r in enumerate(self.columns) if self.inst.resources[r].kind == kind]
            if not cols or not len(self.job_of):
                continue
            used = self.units[:, cols] > 0  # [way, resource of the kind]
            per_job = np.logical_or.reduceat(used, self.first, axis=0)
            groups = {
                tuple(self.columns[cols[c]] for c in np.flatnonzero(row))
                for row in np.unique(per_job, axis=0)
                if row.any()
            }
            if not groups:
                continue
            found: set[tuple[int, ...]] = {(r,) for g in groups for r in g}
            if len(groups) <= _MAX_SETS:
                found |= groups
            found.add(tuple(sorted({r for g in groups for r in g})))
            out += [(kind, s) for s in sorted(found, key=lambda s: (len(s), s))]
        return out

    def _on(self, members: tuple[int, ...]) -> np.ndarray:
        """[way]: units the way takes of ``members``."""
        cols = [self.columns.index(r) for r in members]
        return np.asarray(self.units[:, cols].sum(axis=1), dtype=np.int64)

    def _forced(self, members: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(jobs forced into ``members``, their e_j) (module doc)."""
        if not len(self.job_of):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        u = self._on(members)
        forced = np.logical_and.reduceat(u > 0, self.first)
        energy = np.minimum.reduceat(self.duration * u, self.first)
        js = np.flatnonzero(forced)
        return js, energy[js]

    def _least_units(self, members: tuple[int, ...]) -> np.ndarray:
        """[job]: the fewest units of ``members`` any way of it takes."""
        return np.minimum.reduceat(self._on(members), self.first)

    def _units_at_most_one(self, members: tuple[int, ...], js: np.ndarray) -> bool:
        most = np.maximum.reduceat(self._on(members), self.first)
        return bool((most[js] <= 1).all())

    def way_keys(self, js: np.ndarray) -> np.ndarray:
        """The distinct ways (by starts and duration) of the jobs ``js``."""
        inside = np.zeros(len(self.inst.jobs), dtype=bool)
        inside[js] = True
        return np.unique(self.key[inside[self.job_of]])

    def region_size(self, keys: np.ndarray, prefix: int) -> int:
        """|R(prefix)| of the ways ``keys`` (:meth:`way_keys`)."""
        if prefix not in self._regions:
            self._regions[prefix] = np.array(
                [occupiable(self.inst, w.allowed, w.duration, prefix) for w in self.keys],
                dtype=bool,
            ).reshape(len(self.keys), self.inst.horizon + 1)
        return int(self._regions[prefix][keys].any(axis=0).sum())

    def capacity(self, kind: str, members: tuple[int, ...], js: np.ndarray) -> int:
        """C_S, lowered on task kinds to the jobs that can run at once (module doc)."""
        cap = sum(self.inst.resources[r].capacity for r in members)
        if kind in _TASK_KINDS and self._units_at_most_one(members, js):
            cap = min(cap, max_running(self.inst, [int(j) for j in js]))
        return cap

    def _smallest(self, energy: int, cap: int, keys: np.ndarray, start: int) -> int:
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
            forced, energies = self._forced(res)
            if not len(forced):
                continue
            masks = sorted(int(m) for m in np.unique(self.nights[forced]))
            sets = [every] + [m for m in masks if m != every]
            if not self.masked or len(masks) > _NIGHT_SETS:
                sets = [every]
            for night_set in sets:
                if night_set == every:
                    inside = np.ones(len(forced), dtype=bool)
                else:
                    inside = (self.nights[forced] & ~night_set) == 0
                if not inside.any():
                    continue
                js = forced[inside]
                energy = int(energies[inside].sum())
                cap = self.capacity(kind, res, js)
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

    def _whole(self) -> list[InfraLoad]:
        """The loads over every night (one per resource set)."""
        return [ld for ld in self.loads() if len(ld.nights) == len(self.inst.nights)]

    def packing(self, start: int) -> tuple[int, InfraLoad | None]:
        """Rule (d) on every task-kind set: (bound, the set that sets it) from ``start``."""
        best, why = start, None
        for load in self._whole():
            if load.kind not in _TASK_KINDS:
                continue
            js, _ = self._forced(load.resources)
            if not self._units_at_most_one(load.resources, js) or load.capacity >= len(js):
                continue
            members = [int(j) for j in js]
            packed = Packing.of(self.inst, members, [], load.capacity).smallest_horizon(best)
            if packed > best:
                best, why = packed, load
        return best, why

    def heavy(self, start: int) -> tuple[int, InfraLoad | None, int, int]:
        """Rule (e) on every ingest set: (bound, the set, k, how many heavy jobs) from
        ``start``; the set None when the rule does not raise ``start``."""
        best: tuple[int, InfraLoad | None, int, int] = (start, None, 0, 0)
        for load in self._whole():
            if load.kind != "ingest":
                continue
            js, _ = self._forced(load.resources)
            least = self._least_units(load.resources)[js]
            for k in range(1, _HEAVY_K + 1):
                heavy = js[least * (k + 1) > load.capacity]
                if len(heavy) <= k:
                    continue  # k at once: every one of them may run together
                members = [int(j) for j in heavy]
                packed = Packing.of(self.inst, members, [], k).smallest_horizon(best[0])
                if packed > best[0]:
                    best = (packed, load, k, len(heavy))
        return best

    def min_dropped(self) -> tuple[int, InfraLoad | None]:
        """A lower bound on the jobs no plan places (module doc), with the set that gives it."""
        best, why = 0, None
        for load in self._whole():
            js, energies = self._forced(load.resources)
            budget = load.capacity * load.free
            fit = int(np.searchsorted(np.cumsum(np.sort(energies)), budget, side="right"))
            if (
                load.kind in _TASK_KINDS
                and self._units_at_most_one(load.resources, js)
                and load.capacity < len(js)
            ):
                members = [int(j) for j in js]
                placeable = Packing.of(self.inst, members, [], load.capacity).most_placeable()
                fit = min(fit, placeable)
            if len(js) - fit > best:
                best, why = len(js) - fit, load
        return best, why

"""Lower bounds on the makespan, and the load of every resource against its free window time.

CP-SAT's own bound is weak on these models, so we compute one from first principles:
- a resource of capacity c with load L (slot-sum of its jobs) needs M with c * free(M) >= L,
  where free(M) counts, over every night, the slots in the first M of the window that no
  blackout applying to all of its jobs covers;
- a job can end no earlier than its earliest allowed start plus its duration;
- Hall's condition on each resource: the jobs that can only run inside a region R (the slots a
  job may occupy if every night ends by M: its own blackouts, whole-job fit) must fit in
  capacity x |R|. This catches jobs on one datastore whose hosts have *different* blackouts at
  the same hours, which the first rule, looking only at blackouts shared by all jobs, misses.
- night bin-packing (:mod:`stagger.solve.bound_packing`): jobs cannot be split between
  nights nor across a blackout, so each lies in one free stretch of one night;
- every capacity above is the resource's *effective* capacity
  (:mod:`stagger.solve.bound_capacity`): no more of its jobs than their hosts, datastores and
  RAID groups let run at once (a RAID group of capacity 3 over two datastores of capacity 1
  runs at most 2).
- with an infrastructure file (:mod:`stagger.solve.bound_infra`): a job ends no earlier than
  its fastest option allows; the jobs that only some proxies reach need those proxies' task
  slots; the jobs that only some repositories take need their tasks and their ingest (MB/s).
The makespan is the largest per-night span (window start to last job end), in slots.

Weighted resources (a folded job's ``demands``: ingest in MB/s): the load rule counts units
(demand x slots) against the capacity in units; the rules that count jobs at once (Hall,
packing, effective capacity) count each job as one unit of at most ``min(capacity, jobs)``,
valid because every job that runs takes at least one unit. A job that takes 0 units of a
resource does not use it (it is left out of that resource's jobs: counting it would make a
bound too high).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stagger.fmt import hm
from stagger.instance import Instance, Resource
from stagger.solve.bound_capacity import effective_capacity
from stagger.solve.bound_infra import InfraBounds, InfraLoad, earliest_end
from stagger.solve.bound_nights import (
    describe_nights,
    forced_ends,
    night_bounds,
    vms_that_cannot_fit,
)
from stagger.solve.bound_packing import Packing, occupiable


@dataclass(frozen=True)
class ResourceLoad:
    resource: int
    load: int  # slots of jobs (units x slots on a weighted resource: ingest MB/s)
    free: int  # slots of window left after blackouts (per unit of capacity)
    bound: int  # smallest makespan (slots) this resource allows; > longest night = cannot fit
    # Jobs of this resource that can run at once (its capacity, or fewer when their other
    # resources allow fewer; its job count when unlimited). 0: not computed.
    effective_capacity: int = 0

    def overloaded(self, capacity: int) -> bool:
        return self.load > capacity * self.free


@dataclass(frozen=True)
class Bound:
    makespan: int  # slots
    reason: str
    loads: list[ResourceLoad]
    # Per night, a lower bound on that night's span (window start to its last job's end) in
    # any plan with every job (slots); () when not computed (the single regime).
    nights: tuple[int, ...] = ()
    # With an infrastructure: the energy rule on each set of proxies / repositories
    # (:mod:`stagger.solve.bound_infra`), for the bottleneck report.
    infra: tuple[InfraLoad, ...] = ()
    # The infrastructure rules as computed (their arrays), for :func:`min_dropped` of the same
    # instance: building them again is most of its time at 10,000 jobs with options.
    infra_rules: InfraBounds | None = field(default=None, compare=False, repr=False)

    def effective_capacities(self) -> dict[int, int]:
        """Resource -> the effective capacity the bound used (0 where not computed)."""
        return {ld.resource: ld.effective_capacity for ld in self.loads}


def jobs_by_resource(inst: Instance) -> dict[int, list[int]]:
    """Resource -> the jobs that take at least one unit of it (module doc: a job that takes 0
    units of a resource does not count towards it)."""
    out: dict[int, list[int]] = {}
    for j, job in enumerate(inst.jobs):
        for i, r in enumerate(job.resources):
            if job.demand(i) > 0:
                out.setdefault(r, []).append(j)
    return out


def _weighted(inst: Instance, members: list[int], r: int) -> int:
    """Units x slots of resource ``r`` taken by ``members``; their slots when every job takes
    one unit."""
    total = 0
    for j in members:
        job = inst.jobs[j]
        units = sum(job.demand(i) for i, x in enumerate(job.resources) if x == r)
        total += units * job.duration
    return total


def night_free_profiles(inst: Instance, blocked: list[tuple[int, int]]) -> np.ndarray:
    """cs[n, M] = free slots within the first M slots of night n (M = 0 .. longest night;
    past a night's end its total)."""
    longest = max(n.end - n.start for n in inst.nights)
    counts = np.zeros((len(inst.nights), longest), dtype=np.int64)
    for i, night in enumerate(inst.nights):
        avail = counts[i, : night.end - night.start]
        avail[:] = 1
        for s, e in blocked:
            lo, hi = max(s, night.start), min(e, night.end)
            if lo < hi:
                avail[lo - night.start : hi - night.start] = 0
    return np.concatenate(
        (np.zeros((len(inst.nights), 1), dtype=np.int64), counts.cumsum(axis=1)), axis=1
    )


def job_earliest_end(inst: Instance, j: int) -> int:
    """Earliest end of job ``j`` (slots from its night's window start); with options, over
    its options (rule (c) of :mod:`stagger.solve.bound_infra`)."""
    job = inst.jobs[j]
    if job.options:
        return earliest_end(inst, j)
    return min(
        spans[0][0] + job.duration - inst.nights[n].start
        for n, spans in enumerate(job.allowed)
        if spans
    )


# Above this many distinct job regions on one resource only each region alone and the union
# of all are tried, keeping the check linear.
_HALL_PAIRWISE = 64


def _hall_holds(inst: Instance, members: list[int], cap: int, prefix: int) -> bool:
    groups: dict[tuple[int, int], list[int]] = {}  # by allowed starts (identity), duration
    for j in members:
        job = inst.jobs[j]
        groups.setdefault((id(job.allowed), job.duration), []).append(j)
    regions = np.array(
        [
            occupiable(inst, inst.jobs[js[0]].allowed, inst.jobs[js[0]].duration, prefix)
            for js in groups.values()
        ]
    )
    loads = np.array(
        [sum(inst.jobs[j].duration for j in js) for js in groups.values()], dtype=np.int64
    )
    if cap * int(regions.any(axis=0).sum()) < int(loads.sum()):
        return False
    sizes = cap * regions.sum(axis=1)
    if len(loads) > _HALL_PAIRWISE:
        inside = loads
    else:
        # outside[a, b]: slots of region a outside region b; 0 when a lies inside b. Region
        # b must hold the load of every region inside it (itself included).
        as_int = regions.astype(np.int32)
        outside = as_int @ (1 - as_int).T
        inside = loads @ (outside == 0)
    return not bool((inside > sizes).any())


def hall_bound(inst: Instance, start: int, caps: dict[int, int] | None = None) -> tuple[int, str]:
    """Raise ``start`` while some resource breaks Hall's condition; scanning upward one slot at
    a time keeps the result a valid bound (the condition is necessary, not monotone).
    ``caps``: effective capacities by resource (default: their own)."""
    best, reason = start, ""
    longest = max(n.end - n.start for n in inst.nights)
    for r, members in sorted(jobs_by_resource(inst).items()):
        res = inst.resources[r]
        cap = min(res.capacity, len(members)) if res.capacity else len(members)
        if caps is not None:
            cap = min(cap, caps.get(r, cap))
        prefix = best
        while prefix <= longest and not _hall_holds(inst, members, cap, prefix):
            prefix += 1
        if prefix > best:
            best, reason = prefix, f"jobs on {res.label} and their own blackouts"
    return best, reason


def _capacity_note(res: Resource, cap: int) -> str:
    """' (at most 2 of its jobs at once: their hosts, datastores and RAID groups)' when the
    effective capacity is below the resource's own."""
    if res.capacity and cap < res.capacity:
        return (
            f" (at most {cap} of its jobs at once: their hosts, datastores and RAID groups"
            " allow no more)"
        )
    return ""


def lower_bound(
    inst: Instance, *, packing: bool = True, effective: bool = True, nights_aware: bool = True
) -> Bound:
    """The largest of the bounds in the module doc, with the rule that set it. ``packing``,
    ``effective`` and ``nights_aware`` switch the night bin-packing, the effective capacities
    and the night-aware bound of tiered cycles off, to measure what they add
    (benchmarks/bounds.py); the first two off is the bound before issue 13."""
    if not inst.jobs:
        return Bound(0, "no jobs", [])
    best, reason = 0, ""
    for j, job in enumerate(inst.jobs):
        end = job_earliest_end(inst, j)
        if end > best:
            best, reason = end, f"job {job.vm} cannot end earlier"
    per_night: dict[tuple[tuple[int, int], ...], np.ndarray] = {}  # by blocked slots

    def night_profile(r: int) -> np.ndarray:
        key = tuple(inst.resource_blocked.get(r, []))
        if key not in per_night:
            per_night[key] = night_free_profiles(inst, list(key))
        return per_night[key]

    loads = []
    caps: dict[int, int] = {}  # effective
    lowered: set[int] = set()  # resources whose effective capacity is below their own
    weighted: set[int] = set()  # resources some job takes more than one unit of
    by_res = sorted(jobs_by_resource(inst).items())
    for r, members in by_res:
        res: Resource = inst.resources[r]
        load = sum(inst.jobs[j].duration for j in members)
        # Unlimited (task slots without a limit): its job count, the load bound says nothing.
        own = min(res.capacity, len(members)) if res.capacity else len(members)
        cap = effective_capacity(inst, r, members) if res.capacity and effective else own
        caps[r] = cap
        if cap < own:
            lowered.add(r)
        units = _weighted(inst, members, r)
        per_unit = cap
        if res.capacity and units > load:
            # Weighted (ingest MB/s): units against the capacity in units; the job count
            # (caps, the effective capacity) stays for the rules that count jobs at once.
            load, per_unit = units, res.capacity
            weighted.add(r)
        cs = night_profile(r).sum(axis=0)
        free = int(cs[-1])
        # len(cs) = past every window: this resource cannot take its load.
        fits = per_unit * free >= load
        bound = int(np.searchsorted(cs * per_unit, load, side="left")) if fits else len(cs)
        loads.append(ResourceLoad(r, load, free, bound, cap))
    # On a tie the reason names a resource whose own capacity binds (the task slots lowered to
    # one host's capacity tie with that host: the host is the cause).
    for ld in sorted(loads, key=lambda ld: (ld.resource in lowered, ld.resource)):
        if ld.bound > best:
            res = inst.resources[ld.resource]
            note = "" if ld.resource in weighted else _capacity_note(res, ld.effective_capacity)
            best, reason = ld.bound, f"load on {res.label}{note}"
    nights: tuple[int, ...] = ()
    # Tiered cycles (jobs compiled from the cycle's rule, groups, fixed nights): where the
    # jobs must land night by night (:mod:`stagger.solve.bound_nights`). The single regime
    # is left exactly as it was (its jobs may take any night: the sets add nothing but pins).
    if nights_aware and any(job.level is not None for job in inst.jobs):
        per = list(forced_ends(inst))
        for nb in night_bounds(inst, by_res, caps, night_profile):
            per = [max(a, b) for a, b in zip(per, nb.per_night, strict=True)]
            if nb.makespan > best:
                res = inst.resources[nb.resource]
                note = _capacity_note(res, caps[nb.resource])
                best = nb.makespan
                over = describe_nights(nb.nights)
                if nb.load < 0:  # rule 3
                    reason = (
                        f"fulls must land: {res.label}{note} runs one job of each of its VMs"
                        f" every night of {over}, and their fulls cannot spread any more evenly"
                    )
                elif len(nb.nights) == len(inst.nights):
                    reason = f"fulls must land: load on {res.label}{note} over {over}"
                else:
                    reason = f"jobs that must run on {over}: load on {res.label}{note}"
        nights = tuple(per)
        for n, end in enumerate(per):
            if end > best:
                best, reason = end, f"night {n}: a job that must run on it cannot end earlier"
    # Bin-packing over nights: only where capacity is short of the job count (otherwise every
    # job has a machine of its own and the test adds nothing to the earliest ends), and only
    # where it can raise the bound (the test is monotone: passing at ``best`` ends it). Those at
    # their own capacity first, so that a tie names them (see the load bound).
    for r, members in sorted(by_res, key=lambda rm: rm[0] in lowered) if packing else []:
        res = inst.resources[r]
        cap = caps[r]
        if cap >= len(members):
            continue
        bins = Packing.of(inst, members, inst.resource_blocked.get(r, []), cap)
        packed = bins.smallest_horizon(best)
        if packed > best:
            best = packed
            reason = (
                f"jobs on {res.label} cannot be split between nights or across its blackouts"
                f"{_capacity_note(res, cap)}"
            )
    hall, why = hall_bound(inst, best, caps)
    if hall > best:
        best, reason = hall, why
    infra: tuple[InfraLoad, ...] = ()
    rules = None
    if any(res.kind in ("proxy", "repository", "ingest") for res in inst.resources):
        rules = InfraBounds(inst)
        infra = tuple(rules.loads())
        for il in infra:
            if il.bound > best:
                best, reason = il.bound, describe_infra_bound(inst, il)
            if len(il.nights) == 1 and nights:
                n = il.nights[0]
                nights = (*nights[:n], max(nights[n], il.bound), *nights[n + 1 :])
        packed, at = rules.packing(best)
        if at is not None and packed > best:
            best = packed
            reason = f"jobs that need {infra_subject(inst, at)} cannot be split between nights"
        heavy, at, k, count = rules.heavy(best)
        if at is not None and heavy > best:
            best = heavy
            fast = at.capacity / (k + 1)
            reason = (
                f"{infra_subject(inst, at)}: ingest {at.capacity} MB/s runs at most {k} of its"
                f" {count} jobs of over {fast:g} MB/s at once"
            )
    return Bound(best, reason, loads, nights, infra, rules)


def infra_subject(inst: Instance, ld: InfraLoad) -> str:
    """'proxy prx-a1', 'proxies prx-a1, prx-a2', 'repository repo-2' (ingest and tasks)."""
    names = [inst.resources[r].name for r in ld.resources]
    if ld.kind == "proxy":
        word = "proxy" if len(names) == 1 else "proxies"
    else:
        word = "repository" if len(names) == 1 else "repositories"
    return f"{word} {', '.join(names)}"


def slots(n: int) -> str:
    """'1 slot', '4 slots'."""
    return f"{n} slot" if n == 1 else f"{n} slots"


def describe_infra_bound(inst: Instance, ld: InfraLoad) -> str:
    """The reason of an energy rule in admin words: 'proxy prx-a1: 31h00m of tasks for 4 slots
    in 8h00m', 'repository repo-2: ingest 2.1 TB at 600 MB/s in 8h00m'; the nights when the
    jobs counted are those that must run on some nights only."""
    m = inst.slot_minutes
    where = "" if len(ld.nights) == len(inst.nights) else f" on {describe_nights(ld.nights)}"
    own = sum(inst.resources[r].capacity for r in ld.resources)
    if ld.kind == "ingest":
        tb = ld.energy * m * 60 / 1e6
        return (
            f"{infra_subject(inst, ld)}: ingest {tb:.1f} TB at {ld.capacity} MB/s"
            f" in {hm(ld.free * m)}{where}"
        )
    note = f" (at most {ld.capacity} of their jobs at once)" if ld.capacity < own else ""
    return (
        f"{infra_subject(inst, ld)}: {hm(ld.energy * m)} of tasks for {slots(ld.capacity)}"
        f" in {hm(ld.free * m)}{where}{note}"
    )


def describe_overload(inst: Instance, load: ResourceLoad) -> str:
    """'datastore DS-7: 13.2 h of backups, 9.0 h of window left after blackouts'."""
    res = inst.resources[load.resource]
    hours = inst.slot_minutes / 60
    cap = f" x {res.capacity} slots" if res.capacity > 1 else ""
    return (
        f"{res.label}: {load.load * hours:.1f} h of backups, "
        f"{load.free * hours:.1f} h of window{cap} left after blackouts"
    )


def min_dropped(inst: Instance, bound: Bound | None = None) -> tuple[int, str]:
    """A lower bound on how many of ``inst.jobs`` no plan can schedule, and why. ``bound``:
    :func:`lower_bound` of the same instance, whose effective capacities are then not
    computed again (they are half of this function's time at 10,000 VMs).

    Per resource: at most as many of its jobs can be placed as the night bin-packing tests let
    its shortest ones pass (:meth:`~stagger.solve.bound_packing.Packing.most_placeable`: whole
    nights, its effective capacity, each job inside one free stretch); every job beyond that
    count cannot be placed. This includes the plain load count (its jobs shortest first while
    their slots fit in the capacity times the free window time). With an infrastructure, the
    same per set of proxies / repositories over the jobs only they can take
    (:meth:`stagger.solve.bound_infra.InfraBounds.min_dropped`)."""
    best, reason = 0, ""
    known = bound.effective_capacities() if bound is not None else {}
    for r, members in sorted(jobs_by_resource(inst).items()):
        res = inst.resources[r]
        if not res.capacity:
            continue  # unlimited
        # A bound computed without effective capacities holds the resource's own (larger, so
        # still valid); 0 = not computed.
        cap = known.get(r) or effective_capacity(inst, r, members)
        if cap >= len(members):
            continue  # each job a machine of its own: every job fits a stretch (compiler)
        fit = Packing.of(inst, members, inst.resource_blocked.get(r, []), cap).most_placeable()
        if len(members) - fit > best:
            best = len(members) - fit
            reason = (
                f"{res.label}: only {fit} of its {len(members)} jobs fit in its free stretches"
                f"{_capacity_note(res, cap)}, shortest first"
            )
    if any(res.kind in ("proxy", "repository", "ingest") for res in inst.resources):
        rules = bound.infra_rules if bound is not None else None
        drop, at = (rules or InfraBounds(inst)).min_dropped()
        if at is not None and drop > best:
            best = drop
            reason = (
                f"{infra_subject(inst, at)}: only {at.jobs - drop} of the {at.jobs} jobs that"
                f" need {'it' if len(at.resources) == 1 else 'them'} fit in the time they may"
                " use, smallest first"
            )
    return best, reason


def min_dropped_vms(inst: Instance, bound: Bound | None = None) -> tuple[int, str]:
    """A lower bound on how many VMs with jobs in ``inst`` no plan of a tiered cycle can
    schedule (the VM is the unit dropped), and why in admin words; ``(0, "")`` in the single
    regime (one job per VM: :func:`min_dropped` counts those) and when nothing shows one.
    Per capacity-limited resource and night, the VMs that must run a job there, each with
    its shortest job there, against the night's free stretches
    (:func:`stagger.solve.bound_nights.vms_that_cannot_fit`, whose doc has the proof)."""
    if not any(job.level is not None for job in inst.jobs):
        return 0, ""
    known = bound.effective_capacities() if bound is not None else {}
    by_res = sorted(jobs_by_resource(inst).items())
    caps = {
        r: known.get(r) or effective_capacity(inst, r, members)
        for r, members in by_res
        if inst.resources[r].capacity
    }
    found = vms_that_cannot_fit(inst, by_res, caps)
    if found is None:
        return 0, ""
    res = inst.resources[found.resource]
    night = f"night {found.night}"
    if found.night < len(inst.night_origins):
        night += f" ({inst.night_origins[found.night]:%a %d %b})"
    return found.dropped, (
        f"{res.label}, {night}: only {found.fit} of the {found.must} VMs that must run that"
        f" night fit in its free time{_capacity_note(res, caps[found.resource])}"
    )

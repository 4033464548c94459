"""Headroom: how much more backup each host, datastore and RAID group can take.

For every resource: window minutes left after the blackouts that apply to all of its jobs
(times its capacity), minutes already booked by its jobs, and how many more VMs of a given size
would fit by load: ``(free - busy) // job length``, also limited by the free stretches long
enough for one such job. It is an estimate per resource (a new VM also needs its host, its
datastores and its RAID group at the same time); ``whatif --add`` gives the exact answer.

Tiered estates (several jobs per VM over the cycle's nights) also get each resource's worst
night: per night, the work that must land on it (jobs that run on that night only, e.g. a fixed
full or a fixed-night incremental) plus each block's jobs (a planner-chosen full and the
incrementals of its block) spread evenly over the block's nights, the least a night can carry
when the fulls are staggered; compared with that night's window (times capacity). The probe
VM of ``size_gib`` stays a single-regime job (one per cycle).

With a backup infrastructure file, each proxy and repository gets rows too (kinds
``proxy``, ``repository`` and ``ingest``). Before planning, a job that several proxies may
process is on none of them yet, so its work is shared out in proportion to capacity: each
proxy that reaches it (in a way its pins allow) takes the share max_tasks / (the sum of
max_tasks of those proxies) of the job's length on that proxy (its fastest mode there); a
repository likewise among the repositories the job may write to (its tasks by max_tasks,
its ingest by ingest rate). A job only one proxy reaches is wholly that proxy's. An
estimate of where the work lands, like the rows above; ``whatif`` and a plan give the exact
answer. Proxy and repository rows count task minutes (window times max_tasks). An ingest row
counts minutes at the repository's full ingest rate (capacity 1): busy is the sum over the
jobs of (their share of) rate x length / ingest, the model's meaning of ingest (a job takes
its rate for its whole length), so busy above the free window means the night's data cannot
be written in the window. Their window has no blackouts (blackouts apply to the estate's
objects, not to the backup servers). Estate rows (host, datastore, RAID group) count each
job at its fastest option's length, as the plan's bound does (the modes' rates, not the
policy's throughput), and their "more VMs" probe runs at the fastest rate any proxy reads and
any repository writes (:func:`fastest_rate`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from stagger.cycle import cycle_jobs
from stagger.fmt import hm
from stagger.infrastructure import Pins, job_rate, options, pins_of
from stagger.instance import Instance, compile_instance, free_segments
from stagger.jobs import job_slots, transfer_minutes
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.topology import VM, Disk, Topology
from stagger.rules import ResourceRef, capacity, estate_resources
from stagger.solve.bounds import lower_bound
from stagger.tiers import assign_tiers

# As jobs.job_slots: float noise on an exact multiple must not cost one more slot.
_EPS_SLOTS = 1e-9


@dataclass
class Headroom:
    kind: str  # host / datastore / raid_group; with infrastructure proxy / repository / ingest
    name: str
    capacity: int
    jobs: int
    free_min: int  # window minutes after blackouts, times capacity
    busy_min: int
    more_vms: int  # how many more VMs of the given size fit (estimate)
    # Tiered estates: the night with the most work (module doc), its work and its window
    # minutes (times capacity). None: one job per VM, no night carries more than another.
    worst_night: int | None = None
    worst_night_busy_min: int = 0
    worst_night_free_min: int = 0

    @property
    def spare_min(self) -> int:
        return max(0, self.free_min - self.busy_min)

    @property
    def utilisation_pct(self) -> float:
        return round(100 * self.busy_min / self.free_min, 1) if self.free_min else 100.0

    @property
    def summary(self) -> str:
        """The row in admin words (the names are the file's, shown as they are written)."""
        if self.kind == "proxy":
            return (
                f"proxy {self.name}: {hm(self.busy_min)} of tasks for {self.capacity}"
                f" slot{'s' if self.capacity != 1 else ''}"
                f" in {hm(self.free_min // max(self.capacity, 1))}"
            )
        if self.kind == "repository":
            return (
                f"repository {self.name}: {hm(self.busy_min)} of tasks for {self.capacity}"
                f" tasks in {hm(self.free_min // max(self.capacity, 1))}"
            )
        if self.kind == "ingest":
            return (
                f"repository {self.name} ingest: {hm(self.busy_min)} at its full rate in a"
                f" window of {hm(self.free_min)}"
            )
        return f"{self.kind.replace('_', ' ')} {self.name}: {hm(self.busy_min)} of jobs"


def _stretch_fit(inst: Instance, blocked: list[tuple[int, int]], duration: int) -> int:
    return sum(
        (b - a) // duration for n in inst.nights for a, b in free_segments(n, blocked) if b > a
    )


def night_loads(inst: Instance, members: list[int]) -> list[float]:
    """Per night, slots of work the jobs ``members`` put on it (module doc: each block's jobs
    spread evenly over its nights, a job alone on its nights likewise)."""
    loads = [0.0] * len(inst.nights)
    grouped = inst.groups()
    seen: set[int] = set()
    for j in members:
        job = inst.jobs[j]
        if job.group is None:
            nights = job.nights
            share = job.duration / len(nights) if nights else 0.0
            for n in nights:
                loads[n] += share
            continue
        if job.group in seen:
            continue
        seen.add(job.group)
        block = sorted({n for k in grouped[job.group] for n in inst.jobs[k].nights})
        work = sum(inst.jobs[k].duration for k in grouped[job.group] if k in set(members))
        for n in block:
            loads[n] += work / len(block)
    return loads


def _tiered(inst: Instance) -> bool:
    return any(job.level is not None for job in inst.jobs)


def headroom(
    topology: Topology,
    policy: Policy,
    size_gib: float = 500.0,
    *,
    infrastructure: Infrastructure | None = None,
) -> list[Headroom]:
    """One row per host, datastore and RAID group (and, given an infrastructure, per proxy,
    repository and repository ingest), least headroom first."""
    # With an infrastructure file each job is at its fastest option's length (the modes'
    # rates, not the policy's throughput), on the estate's rows as in a plan.
    inst = compile_instance(topology, policy, infrastructure=infrastructure)
    tiered = _tiered(inst)
    bound = lower_bound(inst)
    probe = VM(name="probe", host="probe", disks=[Disk(size_gib=size_gib)])
    duration = job_slots(probe, policy)
    if infrastructure is not None:
        duration = _slots(
            policy.throughput.overhead_minutes
            + transfer_minutes(size_gib, fastest_rate(infrastructure)),
            policy.slot_minutes,
        )
    slot = inst.slot_minutes
    by_res = inst.jobs_by_resource()
    loads = {ld.resource: ld for ld in bound.loads}
    night_total = sum(n.end - n.start for n in inst.nights)
    seen: set[ResourceRef] = set()
    rows: list[Headroom] = []
    for r, res in enumerate(inst.resources):
        if res.kind in ("concurrent", "proxy", "repository", "ingest"):
            continue  # the infrastructure's rows: infrastructure_headroom
        seen.add(ResourceRef(res.kind, res.name))
        load = loads.get(r)
        busy = load.load if load else 0
        free = (load.free if load else night_total) * res.capacity
        blocked = inst.resource_blocked.get(r, [])
        by_load = max(0, free - busy) // duration
        by_stretch = _stretch_fit(inst, blocked, duration) * res.capacity
        row = Headroom(
            res.kind,
            res.name,
            res.capacity,
            len(by_res.get(r, [])),
            free * slot,
            busy * slot,
            min(by_load, by_stretch),
        )
        if tiered:
            per_night = night_loads(inst, by_res.get(r, []))
            room = [
                sum(b - a for a, b in free_segments(n, blocked)) * res.capacity for n in inst.nights
            ]
            worst = max(
                range(len(inst.nights)),
                key=lambda n: (per_night[n] / room[n] if room[n] else float("inf"), -n),
            )
            row.worst_night = worst
            row.worst_night_busy_min = round(per_night[worst] * slot)
            row.worst_night_free_min = room[worst] * slot
        rows.append(row)
    # Resources no job uses yet: the whole window is free.
    idx = topology.index()
    for ref in estate_resources(topology):
        if ref in seen:
            continue
        cap = capacity(ref, idx, policy)
        fit = _stretch_fit(inst, [], duration) * cap
        rows.append(Headroom(ref.kind, ref.name, cap, 0, night_total * cap * slot, 0, fit))
    if infrastructure is not None:
        rows += infrastructure_headroom(topology, policy, infrastructure, inst, size_gib)
    rows.sort(key=lambda h: (h.more_vms, -h.utilisation_pct, h.kind, h.name))
    return rows


def first_saturated(
    topology: Topology, policy: Policy, *, infrastructure: Infrastructure | None = None
) -> tuple[str, float]:
    """The resource with the highest booked share of its free window, and that share in %
    (with ``infrastructure``, jobs at their fastest option's length)."""
    inst = compile_instance(topology, policy, infrastructure=infrastructure)
    bound = lower_bound(inst)
    best = ("-", 0.0)
    for ld in bound.loads:
        res = inst.resources[ld.resource]
        cap = res.capacity or len(inst.jobs)
        pct = 100.0 * ld.load / (ld.free * cap) if ld.free else float("inf")
        if pct > best[1]:
            best = (res.label, round(pct, 1))
    return best


Work = list[tuple[tuple[int, ...], float]]
"""(nights a job may run on, slots of work it puts on one row's resource)."""


@dataclass
class _Loads:
    """Per proxy, per repository (tasks) and per repository ingest (slots at its full
    rate): the work of every cycle job that may use it, by the module doc's shares."""

    proxy: dict[str, Work]
    repository: dict[str, Work]
    ingest: dict[str, Work]


def _slots(minutes: float, slot_min: int) -> int:
    return max(1, math.ceil(minutes / slot_min - _EPS_SLOTS))


def fastest_rate(infra: Infrastructure) -> float:
    """The fastest a job can run with ``infra``: any proxy's fastest mode, capped by the
    fastest repository's ingest (:func:`~stagger.infrastructure.job_rate`)."""
    repos: list[str | None] = [r.name for r in infra.repositories] or [None]
    return max(job_rate(infra, m, r) for p in infra.proxies for m in p.modes for r in repos)


def _infrastructure_loads(topology: Topology, policy: Policy, infra: Infrastructure) -> _Loads:
    """The module doc's shares, from the reach rule, the pins and the rates of
    :mod:`stagger.infrastructure` and the cycle's jobs."""
    idx = topology.index()
    slot = policy.slot_minutes
    tier_of = assign_tiers(topology, policy)
    loads = _Loads(defaultdict(list), defaultdict(list), defaultdict(list))
    tasks = {p.name: p.max_tasks for p in infra.proxies}
    repos = {r.name: r for r in infra.repositories}
    for bj in cycle_jobs(topology, policy):
        vm = idx.vms[bj.vm]
        tier = tier_of.get(bj.vm)
        tier_pins = Pins(tier.proxy, tier.mode, tier.repository) if tier is not None else None
        pins = pins_of(vm, tier_pins)
        targets: list[str | None] = (
            [pins.repository] if pins.repository is not None else list(repos) or [None]
        )
        # Least slots per proxy, least slots and least MB/s x slots per repository, over
        # every (proxy, mode, repository) way to process the job.
        on_proxy: dict[str, int] = {}
        on_repo: dict[str, tuple[int, float]] = {}
        for proxy, mode in options(vm, pins, infra, idx):
            for repo in targets:
                rate = job_rate(infra, mode, repo)  # type: ignore[arg-type]
                n = _slots(bj.minutes_at(rate), slot)
                on_proxy[proxy] = min(on_proxy.get(proxy, n), n)
                if repo is not None:
                    least_n, least_mb = on_repo.get(repo, (n, rate * n))
                    on_repo[repo] = (min(least_n, n), min(least_mb, rate * n))
        all_tasks = sum(tasks[p] for p in on_proxy)
        for proxy, n in on_proxy.items():
            loads.proxy[proxy].append((bj.nights, n * tasks[proxy] / all_tasks))
        all_repo_tasks = sum(repos[r].max_tasks for r in on_repo)
        all_ingest = sum(repos[r].ingest_mb_per_s for r in on_repo)
        for name, (n, mb) in on_repo.items():
            r = repos[name]
            loads.repository[name].append((bj.nights, n * r.max_tasks / all_repo_tasks))
            # Its share of the job's MB/s x slots, in slots at the repository's full rate.
            loads.ingest[name].append((bj.nights, mb / all_ingest))
    return loads


def _per_night(inst: Instance, work: Work) -> list[float]:
    """Per night, the slots of ``work`` on it, each job's spread evenly over its nights: the
    jobs of a block share their nights, so this is :func:`night_loads`' spreading."""
    loads = [0.0] * len(inst.nights)
    for nights, slots in work:
        for n in nights:
            loads[n] += slots / len(nights)
    return loads


def infrastructure_headroom(
    topology: Topology,
    policy: Policy,
    infra: Infrastructure,
    inst: Instance,
    size_gib: float = 500.0,
) -> list[Headroom]:
    """Rows per proxy (task minutes), repository (task minutes) and repository ingest
    (minutes at the full ingest rate), by the module doc's shares; ``inst`` gives the nights
    and the slot grid. ``more_vms``: how many more
    single-regime VMs of ``size_gib`` fit by load and (task rows) by whole free stretches,
    each at the fastest rate the proxy (or, for a repository, any proxy) reads and the
    repository writes."""
    slot = inst.slot_minutes
    tiered = _tiered(inst)
    room = [n.end - n.start for n in inst.nights]
    night_total = sum(room)
    loads = _infrastructure_loads(topology, policy, infra)
    fixed = policy.throughput.overhead_minutes

    def probe_slots(rate: float) -> int:
        return _slots(fixed + transfer_minutes(size_gib, rate), slot)

    def row(kind: str, name: str, cap: int, work: Work, per_probe: float, tasks: bool) -> Headroom:
        """``per_probe``: slots of this row's work one more VM adds; ``tasks``: it also
        needs a whole free stretch of that length in one of ``cap`` task slots."""
        busy = sum(w for _, w in work)
        free = night_total * cap
        more = int(max(0.0, free - busy) // per_probe)
        if tasks:
            more = min(more, sum(r // math.ceil(per_probe) for r in room) * cap)
        h = Headroom(kind, name, cap, len(work), free * slot, round(busy * slot), more)
        if tiered:
            per_night = _per_night(inst, work)
            worst = max(
                range(len(room)),
                key=lambda n: (per_night[n] / (room[n] * cap) if room[n] else math.inf, -n),
            )
            h.worst_night = worst
            h.worst_night_busy_min = round(per_night[worst] * slot)
            h.worst_night_free_min = room[worst] * cap * slot
        return h

    best_ingest = max((r.ingest_mb_per_s for r in infra.repositories), default=math.inf)
    rows: list[Headroom] = []
    for p in infra.proxies:
        rate = max(min(job_rate(infra, m, None), best_ingest) for m in p.modes)
        work = loads.proxy.get(p.name, [])
        rows.append(row("proxy", p.name, p.max_tasks, work, probe_slots(rate), True))
    fastest = max(job_rate(infra, m, None) for p in infra.proxies for m in p.modes)
    for r in infra.repositories:
        rate = min(fastest, r.ingest_mb_per_s)
        n = probe_slots(rate)
        rows.append(row("repository", r.name, r.max_tasks, loads.repository[r.name], n, True))
        ingest = loads.ingest[r.name]
        rows.append(row("ingest", r.name, 1, ingest, rate * n / r.ingest_mb_per_s, False))
    return rows

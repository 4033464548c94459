"""The run-time baseline: what a backup server would make of a night, replayed event by event.

Backup products (Veeam, NetBackup, Commvault) assign proxies at run time, first come first
served, and queue what does not fit. This module replays a cycle's jobs through such a server
so that a plan's night can be compared with what really happens (docs/simulate.md):

- each job is *released* at a time (the plan's start, or the window's opening for the
  product's default of starting every job at once) and joins one FIFO queue (ties by job
  order: the schedule's, which is the topology's for one job per VM);
- at every event (a release, a job ending) the queue is walked in order and every job that
  fits starts now; a job that does not fit does not block the ones behind it (the products'
  resource schedulers hand a free slot to the first task that can use it);
- a job fits when its host and each of its datastores run fewer jobs than the policy allows
  (``per_host``, ``per_datastore`` or the object's ``max_jobs``; Veeam's "limit snapshots per
  datastore" and the like), the policy's ``concurrent_jobs`` is not reached, and some proxy
  that reaches its VM (:func:`stagger.infrastructure.options`, pins honoured) has a free task
  slot, proxies in file order, together with a repository (its pin, else the first in file
  order) that has a free task slot and room for the job's rate under its ingest;
- the proxy reads in its best mode for the VM by Veeam's automatic selection order, Direct
  storage access > Virtual appliance > Network (``san`` > ``hotadd`` > ``nbd``, whatever the
  file's order), and the job runs at :func:`stagger.infrastructure.job_rate` for
  :meth:`stagger.cycle.BackupJob.minutes_at` (real minutes, not rounded to slots);
- ingest is a cap, not a shared pipe: a job whose rate would take the repository's running
  rates over its ingest waits; running jobs are never slowed down (the planner's model too).

Not applied at run time: RAID groups (the backup product does not know them; ``raid_groups=
True`` applies them as if the admin had configured a limit per array pool) and blackouts (a
product starts a job whatever the estate does). What the replay breaks of them is counted per
night: jobs that started while one of their RAID groups already ran its limit, and jobs that
ran into a blackout that applies to their VM. Pure library: no solver, no instance.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from stagger.calendar import blackout_intervals, window_on_night
from stagger.cycle import BackupJob, cycle_jobs
from stagger.errors import InputError, shown
from stagger.infrastructure import Pins, job_rate, options, pins_of, reaches
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy, TransportMode
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.rules import ResourceRef, blackouts_by_vm, capacity, vm_resources
from stagger.tiers import assign_tiers

SimMode = Literal["default", "planned", "planned-assigned"]
SIM_MODES: tuple[SimMode, ...] = ("default", "planned", "planned-assigned")
MODE_PREFERENCE: tuple[TransportMode, ...] = ("san", "hotadd", "nbd")
"""Veeam's automatic transport selection, best first: Direct storage access > Virtual
appliance > Network (Veeam Backup & Replication user guide, "Transport Modes")."""

_EPS = 1e-9  # MB/s and minutes: float noise, not a rate


@dataclass(frozen=True)
class Assignment:
    """What a job runs on: a proxy in one mode, writing to a repository (None: the file lists
    no repositories)."""

    proxy: str
    mode: TransportMode
    repository: str | None


@dataclass(frozen=True)
class Release:
    """One job handed to the backup server."""

    job: BackupJob
    """The job (its ``size_gib`` and ``fixed_minutes`` set its length at a rate)."""
    night: int
    at: datetime
    """When it joins the queue (aware)."""
    window_end: datetime
    """End of its window that night: a job ending later is counted as past the window."""
    assigned: Assignment | None = None
    """Set: the job waits for exactly this proxy, mode and repository (the plan's)."""


@dataclass(frozen=True)
class SimJob:
    """One job as the backup server ran it."""

    vm: str
    night: int
    release: datetime
    start: datetime
    end: datetime
    assignment: Assignment
    rate_mb_per_s: float
    window_end: datetime

    @property
    def wait_min(self) -> float:
        return (self.start - self.release).total_seconds() / 60

    @property
    def past_window(self) -> bool:
        return self.end > self.window_end


@dataclass(frozen=True)
class NightOutcome:
    index: int
    window_start: datetime
    window_end: datetime
    jobs: int
    planned_end: datetime | None
    """The schedule's last end that night (None: no job)."""
    simulated_end: datetime | None
    longest_wait_min: float
    past_window: int
    """Jobs that end after their window's end."""
    raid_group_overloads: int = 0
    """Jobs that started while one of their RAID groups already ran its limit of jobs."""
    in_blackout: int = 0
    """Jobs that overlap a blackout that applies to their VM."""

    def minutes_from_start(self, when: datetime | None) -> float | None:
        return None if when is None else (when - self.window_start).total_seconds() / 60


@dataclass(frozen=True)
class Simulation:
    mode: SimMode
    jobs: list[SimJob]
    """In release order given (the schedule's job order)."""
    nights: list[NightOutcome]
    not_simulated: int
    """VMs the schedule left unscheduled: they have no night, so they are not replayed."""


@dataclass
class _Bucket:
    """Queued jobs that fit or not together: same resources, same (proxy, mode) candidates,
    same repositories. When its first job does not fit, none of them does."""

    resources: tuple[int, ...]
    candidates: tuple[tuple[int, TransportMode], ...]
    repositories: tuple[int, ...]
    queue: deque[int]
    active: bool = False
    generation: int = 0


class _Server:
    """The event loop's state: slots in use per resource, proxy, repository, ingest."""

    def __init__(self, infra: Infrastructure) -> None:
        self.infra = infra
        self.proxy_cap = [p.max_tasks for p in infra.proxies]
        self.proxy_used = [0] * len(infra.proxies)
        self.free_proxy_slots = sum(self.proxy_cap)
        self.repo_cap = [r.max_tasks for r in infra.repositories]
        self.repo_used = [0] * len(infra.repositories)
        self.ingest_cap = [r.ingest_mb_per_s for r in infra.repositories]
        self.ingest_used = [0.0] * len(infra.repositories)
        self.res_cap: list[int] = []
        self.res_used: list[int] = []
        self._rates: dict[tuple[TransportMode, int], float] = {}

    def rate(self, mode: TransportMode, repo: int) -> float:
        key = (mode, repo)
        if key not in self._rates:
            name = self.infra.repositories[repo].name if repo >= 0 else None
            self._rates[key] = job_rate(self.infra, mode, name)
        return self._rates[key]

    def blocked_resource(self, bucket: _Bucket) -> int | None:
        for r in bucket.resources:
            if self.res_used[r] >= self.res_cap[r]:
                return r
        return None

    def fit(self, bucket: _Bucket) -> tuple[int, TransportMode, int, float] | None:
        """(proxy, mode, repository or -1, rate) the bucket's first job can start on now."""
        for p, mode in bucket.candidates:
            if self.proxy_used[p] >= self.proxy_cap[p]:
                continue
            if not bucket.repositories:
                return p, mode, -1, self.rate(mode, -1)
            for r in bucket.repositories:
                rate = self.rate(mode, r)
                if (
                    self.repo_used[r] < self.repo_cap[r]
                    and self.ingest_used[r] + rate <= self.ingest_cap[r] + _EPS
                ):
                    return p, mode, r, rate
        return None

    def take(self, bucket: _Bucket, p: int, r: int, rate: float, sign: int) -> None:
        for res in bucket.resources:
            self.res_used[res] += sign
        self.proxy_used[p] += sign
        self.free_proxy_slots -= sign
        if r >= 0:
            self.repo_used[r] += sign
            self.ingest_used[r] += sign * rate


def _best_modes(
    vm_options: list[tuple[str, str]], proxy_index: dict[str, int]
) -> tuple[tuple[int, TransportMode], ...]:
    """Per proxy (file order) that may process the VM, its best mode by MODE_PREFERENCE."""
    modes: dict[str, list[str]] = {}
    for proxy, mode in vm_options:
        modes.setdefault(proxy, []).append(mode)
    return tuple(
        (proxy_index[proxy], next(m for m in MODE_PREFERENCE if m in ms))
        for proxy, ms in modes.items()
    )


def run(
    releases: list[Release],
    infra: Infrastructure,
    topology: Topology,
    policy: Policy,
    *,
    tier_pins: dict[str, Pins] | None = None,
    raid_groups: bool = False,
) -> list[SimJob]:
    """Replay ``releases`` (the rules of the module doc); one SimJob per release, same order.
    Deterministic: ties by release order. ``tier_pins``: VM name -> its tier's pins;
    ``raid_groups``: also hold the RAID groups' limits.
    Raises InputError for a job no proxy can process (it would wait for ever)."""
    idx = topology.index()
    vms = {vm.name: vm for vm in topology.vms}
    proxy_index = {p.name: i for i, p in enumerate(infra.proxies)}
    repo_index = {r.name: i for i, r in enumerate(infra.repositories)}
    server = _Server(infra)
    res_id: dict[ResourceRef, int] = {}
    buckets: dict[tuple[object, ...], _Bucket] = {}
    bucket_of: list[_Bucket] = []
    problems: list[InputError] = []
    for rel in releases:
        vm = vms.get(rel.job.vm)
        if vm is None:
            raise InputError(f"the topology has no VM {shown(rel.job.vm)}", obj="schedule")
        refs = [r for r in vm_resources(vm, idx, policy) if raid_groups or r.kind != "raid_group"]
        ids = []
        for ref in refs:
            if ref not in res_id:
                res_id[ref] = len(server.res_cap)
                server.res_cap.append(capacity(ref, idx, policy))
                server.res_used.append(0)
            ids.append(res_id[ref])
        obj = f"vm {shown(vm.name)}"
        if rel.assigned is not None:
            a = rel.assigned
            proxy = infra.proxy(a.proxy)
            if proxy is None or a.mode not in proxy.modes:
                problems.append(
                    InputError(
                        f"planned proxy {shown(a.proxy)} in mode {a.mode!r} is not in the"
                        " infrastructure file",
                        obj=obj,
                        field="proxy",
                    )
                )
                continue
            if not reaches(proxy, vm, idx):
                problems.append(
                    InputError(
                        f"planned proxy {shown(a.proxy)} does not reach it",
                        obj=obj,
                        field="proxy",
                    )
                )
                continue
            if (a.repository is None) != (not infra.repositories) or (
                a.repository is not None and a.repository not in repo_index
            ):
                problems.append(
                    InputError(
                        f"planned repository {shown(a.repository)} is not one of the"
                        " infrastructure file's repositories",
                        obj=obj,
                        field="repository",
                    )
                )
                continue
            cands: tuple[tuple[int, TransportMode], ...] = ((proxy_index[a.proxy], a.mode),)
            repos: tuple[int, ...] = (repo_index[a.repository],) if a.repository is not None else ()
        else:
            pins = pins_of(vm, (tier_pins or {}).get(vm.name))
            cands = _best_modes(options(vm, pins, infra, idx), proxy_index)
            if not cands:
                problems.append(
                    InputError(
                        "no proxy reaches it (or none in the way its pins ask): a backup"
                        " server would queue its job for ever",
                        obj=obj,
                    )
                )
                continue
            if pins.repository is not None and pins.repository in repo_index:
                repos = (repo_index[pins.repository],)
            else:
                repos = tuple(range(len(infra.repositories)))
        key = (tuple(ids), cands, repos)
        if key not in buckets:
            buckets[key] = _Bucket(tuple(ids), cands, repos, deque())
        bucket_of.append(buckets[key])
    if problems:
        first = problems[0]
        first.more = problems[1:]
        raise first
    return _replay(releases, bucket_of, server)


def _replay(releases: list[Release], bucket_of: list[_Bucket], server: _Server) -> list[SimJob]:
    n = len(releases)
    if n == 0:
        return []
    epoch = min(r.at for r in releases)
    at_min = [(r.at - epoch).total_seconds() / 60 for r in releases]
    order = sorted(range(n), key=lambda j: (at_min[j], j))
    started: list[tuple[float, int, int, TransportMode, int, float] | None] = [None] * n
    ends: list[float] = [0.0] * n
    running: list[tuple[float, int]] = []  # (end minute, job)
    buckets = list({id(b): b for b in bucket_of}.values())
    bid_of = {id(b): k for k, b in enumerate(buckets)}
    # Queue heads to look at, by queue position: (release minute, job, bucket).
    active: list[tuple[float, int, int]] = []
    # Buckets parked on what blocks them. On a host, datastore or the global cap: woken when
    # it frees. On proxies (every candidate was full): one heap per proxy, by queue position,
    # looked at only while that proxy has a free slot (so a slot freed on an NBD proxy every
    # VM can use costs a look at the first bucket in line, not at every bucket); the same per
    # repository when a proxy was free and every repository's tasks were taken. On ingest (a
    # repository had a task free, not the MB/s): woken when a job writing somewhere ends.
    parked_res: dict[int, list[tuple[int, int]]] = {}
    parked_proxy: list[list[tuple[float, int, int, int]]] = [[] for _ in server.proxy_cap]
    parked_repo_task: list[list[tuple[float, int, int, int]]] = [[] for _ in server.repo_cap]
    parked_repo: list[tuple[int, int]] = []

    def activate(bid: int) -> None:
        b = buckets[bid]
        if not b.active and b.queue:
            b.active = True
            b.generation += 1
            head = b.queue[0]
            heapq.heappush(active, (at_min[head], head, bid))

    def wake(parked: list[tuple[int, int]]) -> None:
        for bid, gen in parked:
            if buckets[bid].generation == gen:
                activate(bid)
        parked.clear()

    def park(bid: int) -> None:
        b = buckets[bid]
        b.active = False
        b.generation += 1
        res = server.blocked_resource(b)
        if res is not None:
            parked_res.setdefault(res, []).append((bid, b.generation))
            return
        head = b.queue[0]
        entry = (at_min[head], head, b.generation, bid)
        if all(server.proxy_used[p] >= server.proxy_cap[p] for p, _ in b.candidates):
            for p, _ in b.candidates:
                heapq.heappush(parked_proxy[p], entry)
        elif all(server.repo_used[r] >= server.repo_cap[r] for r in b.repositories):
            for r in b.repositories:  # a proxy is free, every repository's tasks are taken
                heapq.heappush(parked_repo_task[r], entry)
        else:  # a repository has a task free but no ingest room: wait for a job to end
            parked_repo.append((bid, b.generation))

    def next_bucket() -> int | None:
        """The bucket whose head is first in the queue among the active ones and those
        parked on a proxy that has a free slot now."""
        best: tuple[float, int] | None = active[0][:2] if active else None
        source: list[tuple[float, int, int, int]] | None = None
        for heaps, used, cap in (
            (parked_proxy, server.proxy_used, server.proxy_cap),
            (parked_repo_task, server.repo_used, server.repo_cap),
        ):
            for k, heap in enumerate(heaps):
                if not heap or used[k] >= cap[k]:
                    continue
                while heap and buckets[heap[0][3]].generation != heap[0][2]:
                    heapq.heappop(heap)  # the bucket moved on since it parked here
                if heap and (best is None or heap[0][:2] < best):
                    best, source = heap[0][:2], heap
        if best is None:
            return None
        if source is None:
            return heapq.heappop(active)[2]
        return heapq.heappop(source)[3]

    def scan(now: float) -> None:
        while server.free_proxy_slots > 0:
            bid = next_bucket()
            if bid is None:
                return
            b = buckets[bid]
            got = None if server.blocked_resource(b) is not None else server.fit(b)
            if got is None:
                park(bid)
                continue
            p, mode, r, rate = got
            head = b.queue.popleft()
            server.take(b, p, r, rate, +1)
            minutes = releases[head].job.minutes_at(rate)
            ends[head] = now + minutes
            started[head] = (now, p, head, mode, r, rate)
            heapq.heappush(running, (ends[head], head))
            b.active = False
            b.generation += 1  # its entries in other proxies' heaps are spent (even if empty)
            activate(bid)

    i = 0
    while i < n or running:
        now = min(
            at_min[order[i]] if i < n else math.inf,
            running[0][0] if running else math.inf,
        )
        while running and running[0][0] <= now:
            _, j = heapq.heappop(running)
            info = started[j]
            assert info is not None
            _, p, _, _, r, rate = info
            b = bucket_of[j]
            server.take(b, p, r, rate, -1)
            for res in b.resources:
                wake(parked_res.get(res, []))
            if r >= 0:
                wake(parked_repo)
        while i < n and at_min[order[i]] <= now:
            j = order[i]
            b = bucket_of[j]
            b.queue.append(j)
            if len(b.queue) == 1:
                activate(bid_of[id(b)])
            i += 1
        scan(now)
        if not running and i >= n and any(b.queue for b in buckets):
            # Every job fits alone (capacities >= 1, a job's rate <= its repository's
            # ingest): an idle server with a queue is a bug here, not bad input.
            raise RuntimeError("simulation stalled with jobs queued and nothing running")
    out = []
    infra = server.infra
    for j, rel in enumerate(releases):
        info = started[j]
        assert info is not None
        start, p, _, mode, r, rate = info
        out.append(
            SimJob(
                vm=rel.job.vm,
                night=rel.night,
                release=rel.at,
                start=epoch + timedelta(minutes=start),
                end=epoch + timedelta(minutes=ends[j]),
                assignment=Assignment(
                    infra.proxies[p].name,
                    mode,
                    infra.repositories[r].name if r >= 0 else None,
                ),
                rate_mb_per_s=rate,
                window_end=rel.window_end,
            )
        )
    return out


def _tier_pins(topology: Topology, policy: Policy) -> dict[str, Pins]:
    out = {}
    for name, tier in assign_tiers(topology, policy).items():
        if tier is not None:
            out[name] = Pins(proxy=tier.proxy, mode=tier.mode, repository=tier.repository)
    return out


def releases_of(schedule: Schedule, mode: SimMode) -> list[Release]:
    """The schedule's jobs as the backup server gets them in ``mode``: released at their
    planned start (``planned``, ``planned-assigned``: with the planned proxy, mode and
    repository) or at their window's opening on their night (``default``)."""
    topology, policy = schedule.inputs.topology, schedule.inputs.policy
    template: dict[str, BackupJob] = {}
    for job in cycle_jobs(topology, policy):
        template.setdefault(job.vm, job)  # fixed minutes and window are per VM
    out = []
    for k, sj in enumerate(schedule.jobs):
        base = template.get(sj.vm)
        if base is None:
            raise InputError(
                f"job {k} is for VM {shown(sj.vm)}, which gets no backup job in the"
                " schedule's inputs",
                obj="schedule",
                field="jobs",
            )
        job = replace(base, size_gib=sj.size_gib)
        win_start, win_end = window_on_night(job.window, policy, sj.night)
        assigned = None
        if mode == "planned-assigned":
            if sj.proxy is None or sj.mode is None:
                raise InputError(
                    f"job {k} ({shown(sj.vm)}) has no planned proxy and mode: the schedule"
                    " was planned without an infrastructure file (use --mode planned)",
                    obj="schedule",
                    field="proxy",
                )
            assigned = Assignment(sj.proxy, sj.mode, sj.repository)
        at = win_start if mode == "default" else sj.start.astimezone(UTC)
        out.append(Release(job, sj.night, at, win_end, assigned))
    return out


def _raid_group_overloads(jobs: list[SimJob], topology: Topology, policy: Policy) -> list[bool]:
    """Per job: it started while one of its RAID groups already ran its limit of jobs."""
    idx = topology.index()
    vms = {vm.name: vm for vm in topology.vms}
    on_group: dict[str, list[int]] = {}
    for k, j in enumerate(jobs):
        for g in idx.raid_groups_of(vms[j.vm]):
            on_group.setdefault(g, []).append(k)
    out = [False] * len(jobs)
    for g, members in on_group.items():
        limit = capacity(ResourceRef("raid_group", g), idx, policy)
        running: list[datetime] = []  # ends of the jobs running on the group
        for k in sorted(members, key=lambda k: (jobs[k].start, k)):
            while running and running[0] <= jobs[k].start:
                heapq.heappop(running)
            if len(running) >= limit:
                out[k] = True
            heapq.heappush(running, jobs[k].end)
    return out


def _in_blackout(jobs: list[SimJob], topology: Topology, policy: Policy) -> list[bool]:
    """Per job: it overlaps an occurrence of a blackout that applies to its VM."""
    if not jobs or not policy.blackouts:
        return [False] * len(jobs)
    span = (min(j.start for j in jobs), max(j.end for j in jobs))
    by_vm = blackouts_by_vm(policy, topology.index())
    intervals = [blackout_intervals(b, policy, span) for b in policy.blackouts]
    return [
        any(
            iv.start < j.end and j.start < iv.end
            for b in by_vm.get(j.vm, ())
            for iv in intervals[b]
        )
        for j in jobs
    ]


def simulate(
    schedule: Schedule,
    infra: Infrastructure,
    mode: SimMode = "planned",
    *,
    raid_groups: bool = False,
) -> Simulation:
    """Replay ``schedule``'s jobs through the backup server in ``mode`` and sum up each night:
    the planned end, the simulated end, the longest wait in the queue, jobs past the window,
    and what the replay broke of the rules it does not apply (RAID groups, blackouts)."""
    if mode not in SIM_MODES:
        raise InputError(f"unknown simulation mode {mode!r} (one of {', '.join(SIM_MODES)})")
    topology, policy = schedule.inputs.topology, schedule.inputs.policy
    releases = releases_of(schedule, mode)
    jobs = run(
        releases,
        infra,
        topology,
        policy,
        tier_pins=_tier_pins(topology, policy),
        raid_groups=raid_groups,
    )
    overloads = _raid_group_overloads(jobs, topology, policy)
    blacked = _in_blackout(jobs, topology, policy)
    nights = []
    for night in schedule.nights:
        mine = [k for k, j in enumerate(jobs) if j.night == night.index]
        planned = [sj.end for sj in schedule.jobs if sj.night == night.index]
        nights.append(
            NightOutcome(
                index=night.index,
                window_start=night.window_start.astimezone(UTC),
                window_end=night.window_end.astimezone(UTC),
                jobs=len(mine),
                planned_end=max((e.astimezone(UTC) for e in planned), default=None),
                simulated_end=max((jobs[k].end for k in mine), default=None),
                longest_wait_min=max((jobs[k].wait_min for k in mine), default=0.0),
                past_window=sum(1 for k in mine if jobs[k].past_window),
                raid_group_overloads=sum(1 for k in mine if overloads[k]),
                in_blackout=sum(1 for k in mine if blacked[k]),
            )
        )
    return Simulation(mode, jobs, nights, not_simulated=len(schedule.unscheduled))

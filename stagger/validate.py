"""The independent validator: re-check a Schedule against topology + policy, rule by rule.

It recomputes windows and blackouts with :mod:`stagger.calendar` and job sizes with
:mod:`stagger.jobs`, and works in absolute datetimes. It never looks at the solvers' slots or
model, so a bug in the encoding cannot hide from it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from stagger.calendar import blackout_intervals, window_occurrences
from stagger.errors import InvalidScheduleError
from stagger.jobs import job_minutes
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule, ScheduledJob
from stagger.model.topology import Topology
from stagger.scope import affected_vms

_EPS_MIN = 1e-6


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="minutes")


def _in_utc(jobs: list[ScheduledJob]) -> list[ScheduledJob]:
    """Copies with UTC times. Python compares and subtracts datetimes that share a tzinfo by
    wall clock, which is wrong across a daylight-saving change; UTC has no such hour."""
    return [
        j.model_copy(update={"start": j.start.astimezone(UTC), "end": j.end.astimezone(UTC)})
        for j in jobs
    ]


def _capacity_violations(
    label: str, jobs: list[ScheduledJob], capacity: int, tz: ZoneInfo
) -> list[str]:
    """Sweep start/end events; report the first instant each overload begins."""
    events = sorted(
        [(j.start, 1, j.vm) for j in jobs] + [(j.end, -1, j.vm) for j in jobs],
        key=lambda e: (e[0], e[1]),  # ends before starts at the same instant
    )
    running: set[str] = set()
    out = []
    over = False
    for when, kind, vm in events:
        if kind == 1:
            running.add(vm)
            if len(running) > capacity and not over:
                out.append(
                    f"{label}: {len(running)} jobs at {_iso(when.astimezone(tz))}"
                    f" ({', '.join(sorted(running))}),"
                    f" limit {capacity}"
                )
                over = True
        else:
            running.discard(vm)
            if len(running) <= capacity:
                over = False
    return out


def find_violations(schedule: Schedule, topology: Topology, policy: Policy) -> list[str]:
    idx = topology.index()
    out: list[str] = []
    occurrences = window_occurrences(policy)
    need = {v.name for v in topology.vms if v.needs_backup}
    seen: set[str] = set()

    jobs = _in_utc(schedule.jobs)
    tz = policy.tz

    def iso(t: datetime) -> str:
        return _iso(t.astimezone(tz))

    for job in jobs:
        vm = idx.vms.get(job.vm)
        if vm is None:
            out.append(f"job {job.vm}: no such VM in the topology")
            continue
        if not vm.needs_backup:
            out.append(f"job {job.vm}: VM is excluded or a template and must get no job")
        if job.vm in seen:
            out.append(f"job {job.vm}: VM is scheduled more than once")
        seen.add(job.vm)
        if job.host != vm.host:
            out.append(f"job {job.vm}: host is {job.host}, the topology says {vm.host}")
        if set(job.datastores) != set(vm.datastores):
            out.append(
                f"job {job.vm}: datastores {sorted(job.datastores)} differ from the topology's"
                f" {sorted(vm.datastores)}"
            )
        if set(job.raid_groups) != set(idx.raid_groups_of(vm)):
            out.append(
                f"job {job.vm}: RAID groups {sorted(job.raid_groups)} differ from the topology's"
                f" {sorted(idx.raid_groups_of(vm))}"
            )
        length = (job.end - job.start).total_seconds() / 60
        if abs(length - job.duration_min) > _EPS_MIN:
            out.append(
                f"job {job.vm}: duration_min {job.duration_min} but end - start is {length:g}"
            )
        required = job_minutes(vm, policy)
        if length + _EPS_MIN < required:
            out.append(f"job {job.vm}: lasts {length:g} min, the backup needs {required:.1f} min")
        occ = next((o for o in occurrences if o.start <= job.start and job.end <= o.end), None)
        if occ is None:
            out.append(
                f"job {job.vm}: {iso(job.start)} to {iso(job.end)} is not inside one backup window"
            )
        elif occ.index != job.night:
            out.append(f"job {job.vm}: lies in night {occ.index}, marked night {job.night}")

    jobs_by_vm = {j.vm: j for j in jobs}
    for b in policy.blackouts:
        intervals = blackout_intervals(b, policy)
        if not intervals:
            continue
        for name in sorted(affected_vms(b, idx)):
            hit = jobs_by_vm.get(name)
            if hit is None:
                continue
            for iv in intervals:
                if hit.start < iv.end and iv.start < hit.end:
                    out.append(
                        f"job {name}: {iso(hit.start)}-{iso(hit.end)} overlaps blackout"
                        f" '{b.name}' {iso(iv.start)}-{iso(iv.end)}"
                    )
                    break

    groups: dict[tuple[str, str], list[ScheduledJob]] = defaultdict(list)
    for job in jobs:
        vm = idx.vms.get(job.vm)
        if vm is None:
            continue
        groups[("host", vm.host)].append(job)
        for d in vm.datastores:
            groups[("datastore", d)].append(job)
        for g in idx.raid_groups_of(vm):
            groups[("raid_group", g)].append(job)
    limits = policy.limits
    for (kind, name), members in sorted(groups.items()):
        if kind == "host":
            cap = idx.hosts[name].max_jobs or limits.per_host
        elif kind == "datastore":
            cap = idx.datastores[name].max_jobs or limits.per_datastore
        else:
            cap = idx.raid_groups[name].max_jobs or limits.per_raid_group
        if len(members) > cap:
            out += _capacity_violations(f"{kind.replace('_', ' ')} {name}", members, cap, tz)
    if limits.concurrent_jobs and len(schedule.jobs) > limits.concurrent_jobs:
        out += _capacity_violations(
            "concurrent jobs (backup proxy task slots)", jobs, limits.concurrent_jobs, tz
        )

    unscheduled = {u.vm for u in schedule.unscheduled}
    for name in sorted(unscheduled & seen):
        out.append(f"vm {name}: listed both as scheduled and as unscheduled")
    for name in sorted(unscheduled - set(idx.vms)):
        out.append(f"unscheduled vm {name}: no such VM in the topology")
    for name in sorted(need - seen - unscheduled):
        out.append(f"vm {name}: neither scheduled nor reported as unscheduled")
    return out


def validate(
    schedule: Schedule,
    topology: Topology | None = None,
    policy: Policy | None = None,
    *,
    file: str | None = None,
) -> None:
    """Raise :class:`InvalidScheduleError` listing every broken rule; default inputs are the
    ones the schedule was planned from."""
    topo = topology if topology is not None else schedule.inputs.topology
    pol = policy if policy is not None else schedule.inputs.policy
    violations = find_violations(schedule, topo, pol)
    if violations:
        raise InvalidScheduleError(violations, file=file)

"""Helpers the exporters share: local times, the cycle's repetition, VM identity.

Exporters only read the validated :class:`~stagger.model.schedule.Schedule`; nothing here
re-plans or moves a job. Times are converted to the policy's zone, never re-derived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stagger.errors import InputError
from stagger.exporters.quoting import visible
from stagger.model.schedule import Schedule, ScheduledJob

Repeat = Literal["daily", "weekly", "dated"]


def repeat_of(schedule: Schedule) -> Repeat:
    """How a backup product should repeat the cycle.

    A one-night cycle repeats every day, a seven-night cycle every week on the same weekdays;
    any other length is exported as the dates of this cycle only (re-export for the next one).
    """
    nights = schedule.inputs.policy.cycle.nights
    if nights == 1:
        return "daily"
    if nights == 7:
        return "weekly"
    return "dated"


def utc(when: datetime) -> datetime:
    """As UTC. Compare and subtract only UTC times: two datetimes sharing one ZoneInfo are
    compared and subtracted by wall clock in Python, which is wrong across a DST change."""
    return when.astimezone(UTC)


def local(schedule: Schedule, when: datetime) -> datetime:
    """An aware time in the schedule's zone (the wall-clock time a scheduler would use)."""
    return when.astimezone(ZoneInfo(schedule.timezone))


def levels(schedule: Schedule) -> dict[str, Literal["Full", "Incremental"]]:
    """Per VM: Incremental when the plan moved only changed data (a change rate), else Full."""
    policy = schedule.inputs.policy
    vms = {v.name: v for v in schedule.inputs.topology.vms}
    out: dict[str, Literal["Full", "Incremental"]] = {}
    for j in schedule.jobs:
        vm = vms.get(j.vm)
        rate = vm.change_rate if vm is not None else None
        if rate is None:
            rate = policy.throughput.change_rate
        out[j.vm] = "Incremental" if rate is not None and rate < 1 else "Full"
    return out


def job_level(job: ScheduledJob) -> Literal["Full", "Incremental"]:
    """The job's own level as backup products spell it (a tiered job always carries one;
    the schedule fills it in on load for jobs written before tiers)."""
    return "Incremental" if job.level == "incremental" else "Full"


def peak_concurrency(schedule: Schedule) -> int:
    """Most jobs running at one instant in the plan (ends before starts at a tie)."""
    return peak_of(schedule.jobs)


def peak_of(jobs: list[ScheduledJob]) -> int:
    """Most of ``jobs`` running at one instant (ends before starts at a tie)."""
    events = sorted([(utc(j.start), 1) for j in jobs] + [(utc(j.end), -1) for j in jobs])
    running = peak = 0
    for _, d in events:
        running += d
        peak = max(peak, running)
    return peak


@dataclass(frozen=True)
class Identity:
    """How the backup software finds a VM: its name in vCenter and, when known, its
    managed object id, instance UUID and server. ``ScheduledJob.vm`` may be disambiguated
    for people (``web01 (dc1/folder)``) and exists nowhere in vCenter."""

    name: str
    moref: str | None = None
    instance_uuid: str | None = None
    vcenter: str | None = None


_ID_FIELDS = {
    "name": "vm_display_name",
    "moref": "vm_moref",
    "instance_uuid": "vm_instance_uuid",
    "vcenter": "vcenter",
}


def identities(schedule: Schedule) -> dict[str, Identity]:
    """Per job's VM: its identity, from the job and checked against the embedded topology.

    The planner copies the identity from the topology into each job. A field the job does
    not carry (a schedule from before these fields) is taken from the topology; a job that
    says otherwise than its own inputs (a hand-edited file) is refused rather than exported.
    """
    vms = {v.name: v for v in schedule.inputs.topology.vms}
    out: dict[str, Identity] = {}
    for j in schedule.jobs:
        job_id = {
            "name": j.vm_display_name,
            "moref": j.vm_moref,
            "instance_uuid": j.vm_instance_uuid,
            "vcenter": j.vcenter,
        }
        vm = vms.get(j.vm)
        topo_id = {
            "name": vm.vcenter_name if vm else j.vm,
            "moref": vm.moref if vm else None,
            "instance_uuid": vm.instance_uuid if vm else None,
            "vcenter": vm.vcenter if vm else None,
        }
        for field, job_field in _ID_FIELDS.items():
            if job_id[field] is not None and vm is not None and job_id[field] != topo_id[field]:
                raise InputError(
                    f"job {visible(j.vm)!r}: its vCenter {field} differs from the VM in the"
                    " schedule's topology; re-plan, or export a plan that was not edited",
                    field=f"jobs[].{job_field}",
                )
        out[j.vm] = Identity(
            name=job_id["name"] or topo_id["name"] or j.vm,
            moref=job_id["moref"] or topo_id["moref"],
            instance_uuid=job_id["instance_uuid"] or topo_id["instance_uuid"],
            vcenter=job_id["vcenter"] or topo_id["vcenter"],
        )
    return out


_ZONE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


def check_zone(schedule: Schedule) -> ZoneInfo:
    """The schedule's zone, refused unless it is a plain IANA name that loads (it is written
    into crontabs, Bacula comments and scripts)."""
    name = schedule.timezone
    if len(name) > 64 or not _ZONE.fullmatch(name):
        raise InputError(f"{visible(name[:80])!r} is not a time zone name", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"unknown time zone {name!r}", field="timezone") from exc


@dataclass(frozen=True)
class Slot:
    """Jobs that start at the same instant: one product job per slot (or per VM)."""

    night: int
    start: datetime  # local, aware
    level: str
    jobs: tuple[ScheduledJob, ...]


def has_infrastructure(schedule: Schedule) -> bool:
    """The plan assigned proxies, modes or repositories (planned with ``--infra``)."""
    return schedule.inputs.infrastructure is not None or any(
        j.proxy is not None or j.mode is not None or j.repository is not None for j in schedule.jobs
    )


def check_infrastructure_names(schedule: Schedule) -> None:
    """Refuse a schedule whose jobs name a proxy or repository that its embedded
    infrastructure does not list (an edited file): exporters write each proxy's and
    repository's limits from it."""
    infra = schedule.inputs.infrastructure
    for j in schedule.jobs:
        for field, value in (("proxy", j.proxy), ("repository", j.repository)):
            if value is None:
                continue
            found = infra is not None and (
                infra.proxy(value) if field == "proxy" else infra.repository(value)
            )
            if not found:
                raise InputError(
                    f"job {visible(j.vm)!r} names {field} {visible(value)!r}, which the"
                    " schedule's infrastructure does not list; re-plan, or export a plan"
                    " that was not edited",
                    field=f"jobs[].{field}",
                )


def slots(schedule: Schedule, per_vm: bool = False, by_infra: bool = False) -> list[Slot]:
    """Jobs grouped by start instant, night and level (one product job each); with
    ``by_infra`` also by proxy and repository, so that each product job, which has one
    repository and one proxy list, gets exactly the plan's."""
    lv = levels(schedule)
    groups: dict[tuple[object, ...], list[ScheduledJob]] = {}
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        key: tuple[object, ...] = (utc(j.start), j.night, lv[j.vm])
        if by_infra:
            key += (j.proxy or "", j.repository or "")
        if per_vm:
            groups[(utc(j.start), j.night, j.vm)] = [j]
        else:
            groups.setdefault(key, []).append(j)
    return [
        Slot(
            night=js[0].night,
            start=local(schedule, js[0].start),
            level=lv[js[0].vm],
            jobs=tuple(js),
        )
        for js in groups.values()
    ]

"""Helpers the exporters share: local times, the cycle's repetition, safe names.

Exporters only read the validated :class:`~stagger.model.schedule.Schedule`; nothing here
re-plans or moves a job. Times are converted to the policy's zone, never re-derived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from stagger.model.schedule import Schedule, ScheduledJob

Repeat = Literal["daily", "weekly", "dated"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


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


def peak_concurrency(schedule: Schedule) -> int:
    """Most jobs running at one instant in the plan (ends before starts at a tie)."""
    events = sorted(
        [(utc(j.start), 1) for j in schedule.jobs] + [(utc(j.end), -1) for j in schedule.jobs]
    )
    running = peak = 0
    for _, d in events:
        running += d
        peak = max(peak, running)
    return peak


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")


def unique_names(raw: list[str], max_len: int = 100) -> dict[str, str]:
    """Map each raw name to a name of safe characters, unique (suffixes on collisions)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in raw:
        base = _UNSAFE.sub("_", name).strip("_")[:max_len] or "vm"
        cand, n = base, 2
        while cand.lower() in used:
            cand = f"{base}_{n}"
            n += 1
        used.add(cand.lower())
        out[name] = cand
    return out


@dataclass(frozen=True)
class Slot:
    """Jobs that start at the same instant: one product job per slot (or per VM)."""

    night: int
    start: datetime  # local, aware
    level: str
    jobs: tuple[ScheduledJob, ...]


def slots(schedule: Schedule, per_vm: bool = False) -> list[Slot]:
    lv = levels(schedule)
    groups: dict[tuple[datetime, int, str], list[ScheduledJob]] = {}
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        key = (utc(j.start), j.night, lv[j.vm])
        if per_vm:
            groups[(utc(j.start), j.night, j.vm)] = [j]
        else:
            groups.setdefault(key, []).append(j)
    return [
        Slot(night=k[1], start=local(schedule, k[0]), level=lv[js[0].vm], jobs=tuple(js))
        for k, js in groups.items()
    ]

"""A valid tiered week built by hand from ``cycle_jobs`` (never by the planner or the
solvers): shared by the validator's tests and the exporters' tests of tiered schedules."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from stagger.calendar import window_occurrences, window_on_night
from stagger.cycle import BackupJob, cycle_jobs
from stagger.model.policy import Policy
from stagger.model.schedule import Night, Schedule, ScheduledJob, SolverInfo
from stagger.model.topology import Topology
from stagger.validate import night_makespans_min
from tests.factories import make_policy, make_topology

# Nights 0..6 are Tuesday 1 to Monday 7 December 2026: Saturday is night 4, Sunday night 5.
GOLD = {
    "name": "gold",
    "match": {"tag": "sql"},
    "incremental": "nightly",
    "full": {"every": 7},
    "change_rate": 0.1,
    "window": {"start": "22:00", "end": "04:00"},
    "consistency": "application",
}
WEB = {
    "name": "web",
    "match": {"name": "web*"},
    "incremental": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "full": {"on": "FREQ=WEEKLY;BYDAY=SA"},
    "change_rate": 0.05,
    "consistency": "filesystem",
}
COLD = {
    "name": "cold",
    "match": {"vms": ["cold1"]},
    "incremental": "none",
    "full": {"on": "FREQ=WEEKLY;BYDAY=SU"},
    "window": {"start": "01:00", "end": "05:00"},
    "consistency": "power-off",
}
UNLIMITED = {"per_host": 1000, "per_datastore": 1000, "per_raid_group": 1000}


def tiered_topology(names: list[str]) -> Topology:
    return make_topology(
        hosts=[{"name": f"esx{i}", "cluster": "C1"} for i in range(len(names))],
        datastores=[{"name": f"DS{i}"} for i in range(len(names))],
        vms=[
            {
                "name": name,
                "host": f"esx{i}",
                "tags": ["sql"] if name.startswith("sql") else [],
                "disks": [{"datastore": f"DS{i}", "size_gib": 100 + 50 * i}],
            }
            for i, name in enumerate(names)
        ],
    )


def tiered_policy(tiers: list[dict[str, Any]], **kw: Any) -> Policy:
    return make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        throughput={"mb_per_s": 100, "overhead_minutes": 5},
        limits=UNLIMITED,
        tiers=tiers,
        **kw,
    )


def scheduled_job(
    cj: BackupJob, night: int, policy: Policy, topo: Topology, offset_min: int = 0
) -> ScheduledJob:
    """The scheduled run of cycle job ``cj`` on ``night``, ``offset_min`` after its window
    opens, lasting its minutes rounded up to slots."""
    vm = topo.index().vms[cj.vm]
    start = window_on_night(cj.window, policy, night)[0] + timedelta(minutes=offset_min)
    minutes = math.ceil(cj.minutes / policy.slot_minutes) * policy.slot_minutes
    return ScheduledJob(
        vm=cj.vm,
        host=vm.host,
        cluster=topo.index().cluster_of(vm),
        datastores=vm.datastores,
        raid_groups=topo.index().raid_groups_of(vm),
        start=start.astimezone(policy.tz),
        end=(start + timedelta(minutes=minutes)).astimezone(policy.tz),
        duration_min=minutes,
        size_gib=round(cj.size_gib, 3),
        night=night,
        level=cj.level,
        tier=cj.tier,
    )


def tiered_schedule(jobs: list[ScheduledJob], topo: Topology, policy: Policy) -> Schedule:
    """A schedule of ``jobs`` whose nights and makespans are what the jobs say."""
    occurrences = window_occurrences(policy)
    draft = Schedule(
        timezone=policy.timezone,
        cycle_start=policy.cycle.start,
        nights=[
            Night(index=o.index, date=o.date, window_start=o.start, window_end=o.end)
            for o in occurrences
        ],
        jobs=jobs,
        solver=SolverInfo(name="greedy", status="GREEDY"),
        makespan_min=0,
        lower_bound_min=0,
        gap_pct=None,
        inputs={"topology": topo, "policy": policy},
    )
    spans = night_makespans_min(draft, policy)
    for night, span in zip(draft.nights, spans, strict=True):
        mine = [j for j in jobs if j.night == night.index]
        night.jobs = len(mine)
        night.last_end = max((j.end for j in mine), default=None)
        night.makespan_min = span
    draft.makespan_min = max(spans)
    return draft


FULL_NIGHT = {"sql1": 3}  # the planner's choice for the gold block, made here by hand
ROLES = ("sql1", "web1", "cold1", "misc1")


def valid_week(
    names: tuple[str, str, str, str] = ROLES, scripts: dict[str, Any] | None = None
) -> tuple[list[ScheduledJob], Topology, Policy]:
    """Every job of the cycle on its night, at its window's opening (distinct hosts and
    datastores, capacities unlimited): the gold full on night 3, incrementals on the rest.

    ``names`` stand for sql1 (gold: its name must start with "sql"), web1 (web: "web"),
    cold1 (cold) and misc1 (no tier); ``scripts`` are extra fields of the gold tier (e.g.
    ``pre_script``)."""
    topo = tiered_topology(list(names))
    cold = {**COLD, "match": {"vms": [names[2]]}}
    policy = tiered_policy([{**GOLD, **(scripts or {})}, WEB, cold])
    full_night = {names[0]: FULL_NIGHT["sql1"]}
    jobs = []
    for vm in names:
        mine = [c for c in cycle_jobs(topo, policy) if c.vm == vm]
        if len(mine[0].nights) == 7 and mine[0].tier is None:  # single regime: night 0
            jobs.append(scheduled_job(mine[0], 0, policy, topo))
            continue
        free = [n for n in mine[0].nights if n != full_night.get(vm)]
        for cj in mine:
            if len(cj.nights) == 1:
                jobs.append(scheduled_job(cj, cj.nights[0], policy, topo))
            elif cj.level == "full":
                jobs.append(scheduled_job(cj, full_night[vm], policy, topo))
            else:
                jobs.append(scheduled_job(cj, free.pop(0), policy, topo))
    return jobs, topo, policy


def small_tiered_estate(
    sizes: list[int],
    tags: list[str],
    *,
    hosts: int,
    nights: int,
    tiers: list[dict[str, Any]],
    window_end: str,
    per_datastore: int,
) -> tuple[Topology, Policy]:
    """The small estates the hypothesis properties draw: VM i of ``30 * sizes[i]`` GiB tagged
    ``tags[i]`` on host ``esx{i % hosts}`` and datastore DS-1 or DS-2 (alternating), one job
    per host at once, a cycle of ``nights`` from 1 Dec 2026 with a 22:00 window."""
    topo = make_topology(
        hosts=[{"name": f"esx{h}", "cluster": "C1"} for h in range(hosts)],
        datastores=[{"name": "DS-1"}, {"name": "DS-2"}],
        vms=[
            {
                "name": f"vm{i}",
                "host": f"esx{i % hosts}",
                "tags": [tag],
                "disks": [{"datastore": f"DS-{1 + i % 2}", "size_gib": 30.0 * size}],
            }
            for i, (size, tag) in enumerate(zip(sizes, tags, strict=True))
        ],
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": nights},
        window={"start": "22:00", "end": window_end},
        limits={"per_host": 1, "per_datastore": per_datastore},
        tiers=tiers,
    )
    return topo, policy

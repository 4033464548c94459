"""Schedules for the exporter tests (a helper module, imported as ``schedules``).

``make_schedule`` builds a schedule by hand from local start times (the durations come from
the policy, exactly as the planner computes them) and runs the independent validator on it, so
golden files do not move when the solver changes. ``planned`` runs the real planner.
"""

from __future__ import annotations

import functools
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from stagger.calendar import window_occurrences
from stagger.jobs import job_size_gib, job_slots
from stagger.model.policy import Policy
from stagger.model.schedule import (
    Night,
    Schedule,
    ScheduledJob,
    ScheduleInputs,
    SolverInfo,
    UnscheduledVM,
)
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.validate import validate

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "examples" / "minimal"
GOLDEN = Path(__file__).parent / "golden"


def require_tool(name: str) -> str:
    """The tool's path; skip when missing on a developer machine, fail in CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, CI must install it (see docs/exports.md)")
        pytest.skip(f"{name} not installed")
    return path


def topology(data: str | dict) -> Topology:
    return Topology.model_validate(yaml.safe_load(data) if isinstance(data, str) else data)


def policy(data: str | dict) -> Policy:
    return Policy.model_validate(yaml.safe_load(data) if isinstance(data, str) else data)


def _fixed(when: datetime) -> datetime:
    offset = when.utcoffset()
    assert offset is not None
    return when.astimezone(timezone(offset))


def make_schedule(
    topo: Topology,
    pol: Policy,
    starts: dict[str, str],
    unscheduled: dict[str, str] | None = None,
) -> Schedule:
    """A validated schedule with each VM starting at a local 'YYYY-MM-DDTHH:MM'."""
    tz = pol.tz
    idx = topo.index()
    occ = window_occurrences(pol)
    jobs = []
    for name, when in starts.items():
        vm = idx.vms[name]
        # Fixed UTC offsets, as a schedule read back from JSON has them.
        start = _fixed(datetime.fromisoformat(when).replace(tzinfo=tz))
        minutes = job_slots(vm, pol) * pol.slot_minutes
        end = _fixed(datetime.fromtimestamp(start.timestamp() + minutes * 60, tz))
        night = next(o.index for o in occ if o.start <= start < o.end)
        jobs.append(
            ScheduledJob(
                vm=name,
                host=vm.host,
                cluster=idx.cluster_of(vm),
                datastores=vm.datastores,
                raid_groups=idx.raid_groups_of(vm),
                start=start,
                end=end,
                duration_min=minutes,
                size_gib=job_size_gib(vm, pol),
                night=night,
            )
        )
    nights = []
    for o in occ:
        mine = [j for j in jobs if j.night == o.index]
        last = max((j.end for j in mine), default=None)
        nights.append(
            Night(
                index=o.index,
                date=o.date,
                window_start=_fixed(o.start.astimezone(tz)),
                window_end=_fixed(o.end.astimezone(tz)),
                jobs=len(mine),
                last_end=last,
                makespan_min=int((last - o.start).total_seconds() // 60) if last else 0,
            )
        )
    span = max((n.makespan_min for n in nights), default=0)
    sched = Schedule(
        timezone=pol.timezone,
        cycle_start=pol.cycle.start,
        nights=nights,
        jobs=jobs,
        unscheduled=[UnscheduledVM(vm=k, reason=v) for k, v in (unscheduled or {}).items()],
        solver=SolverInfo(name="greedy", status="GREEDY"),
        makespan_min=span,
        lower_bound_min=span,
        gap_pct=0.0,
        inputs=ScheduleInputs(topology=topo, policy=pol),
    )
    validate(sched)
    return sched


# A small estate: 3 hosts in 2 clusters, 4 datastores on 2 RAID groups, awkward VM names.
ESTATE = """
clusters: [{name: PROD-A}, {name: PROD-B}]
hosts:
  - {name: esx01, cluster: PROD-A}
  - {name: esx02, cluster: PROD-A}
  - {name: esx03, cluster: PROD-B}
datastores: [{name: DS-01}, {name: DS-02}, {name: DS-03}, {name: DS-04}]
raid_groups:
  - {name: RG-1, datastores: [DS-01, DS-02]}
  - {name: RG-2, datastores: [DS-03, DS-04]}
vms:
  - {name: sql01, host: esx01, tags: [payroll],
     disks: [{datastore: DS-01, size_gib: 300}, {datastore: DS-03, size_gib: 100}]}
  - {name: "o'brien app", host: esx02, disks: [{datastore: DS-02, size_gib: 120}]}
  - {name: web01, host: esx03, disks: [{datastore: DS-04, size_gib: 60}]}
  - {name: "web 100%", host: esx03, disks: [{datastore: DS-04, size_gib: 30}]}
  - {name: mail01, host: esx02, disks: [{datastore: DS-03, size_gib: 90}]}
  - {name: huge01, host: esx01, disks: [{datastore: DS-01, size_gib: 90000}]}
  - {name: tmpl, host: esx01, template: true, disks: [{datastore: DS-01, size_gib: 20}]}
"""

POLICY = """
timezone: Europe/Berlin
cycle: {start: 2026-12-01, nights: NIGHTS}
window: {start: "20:00", end: "06:00"}
slot_minutes: 5
throughput: {mb_per_s: 100, overhead_minutes: 5}
limits: {per_host: 1, per_datastore: 1, per_raid_group: 1, concurrent_jobs: 4}
blackouts:
  - {name: av-scan, scope: {cluster: PROD-A}, rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0",
     duration: 60m}
  - {name: patch-esx03, scope: {host: esx03}, start: "2026-12-01T23:00",
     end: "2026-12-02T00:30"}
"""

# Local starts that respect every rule (checked by the validator in make_schedule).
STARTS = {
    "sql01": "2026-12-01T20:00",  # 400 GiB: 75 min; holds RG-1 and RG-2 until 21:15
    "o'brien app": "2026-12-01T21:15",  # RG-1, 30 min
    "web01": "2026-12-01T21:15",  # RG-2, 20 min
    "web 100%": "2026-12-01T21:35",  # RG-2 and esx03 after web01, 15 min
    "mail01": "2026-12-01T21:50",  # RG-2 after web 100%, esx02 after o'brien, 25 min
}


def estate_schedule(nights: int = 1) -> Schedule:
    topo = topology(ESTATE)
    pol = policy(POLICY.replace("NIGHTS", str(nights)))
    starts = dict(STARTS)
    return make_schedule(
        topo,
        pol,
        starts,
        unscheduled={"huge01": "does not fit: 90000 GiB needs 15h in a 10h window"},
    )


@functools.cache
def minimal_planned() -> Schedule:
    """The minimal example, planned by the real planner (greedy: fast and deterministic)."""
    from stagger.sources.yamlfile import load_policy, load_topology

    topo = load_topology(MINIMAL / "topology.yaml")
    pol = load_policy(MINIMAL / "policy.yaml")
    return plan(topo, pol, PlanOptions(solver="greedy")).schedule


# The estate's backup infrastructure (as examples/infra/infrastructure.yaml, for this estate).
INFRA = """
proxies:
  - {name: prx-a1, max_tasks: 4, modes: [hotadd, nbd], reaches: {cluster: PROD-A}}
  - {name: prx-b1, max_tasks: 4, modes: [hotadd, nbd], reaches: {cluster: PROD-B}}
  - {name: prx-any, max_tasks: 2, modes: [nbd]}
transport: {hotadd: {mb_per_s: 400}, san: {mb_per_s: 600}, nbd: {mb_per_s: 120}}
repositories:
  - {name: repo-1, max_tasks: 12, ingest_mb_per_s: 1500}
  - {name: repo-2, max_tasks: 6, ingest_mb_per_s: 600}
"""

# VM -> (proxy, mode, repository) for STARTS; web01 and "web 100%" start apart, sql01 alone.
ASSIGN = {
    "sql01": ("prx-a1", "hotadd", "repo-1"),
    "o'brien app": ("prx-a1", "nbd", "repo-1"),
    "web01": ("prx-b1", "hotadd", "repo-2"),
    "web 100%": ("prx-any", "nbd", "repo-2"),
    "mail01": ("prx-a1", "hotadd", "repo-2"),
}


def with_infrastructure(
    sched: Schedule,
    infra: str | dict = INFRA,
    assign: dict[str, tuple[str, str, str | None]] | None = None,
) -> Schedule:
    """``sched`` as planned with ``infra``: each job's proxy, mode and repository set from
    ``assign`` (by VM), the infrastructure embedded in its inputs. The planner's own
    assignment is the infracore helper's; exporters only read these fields."""
    from stagger.model.infrastructure import Infrastructure

    model = Infrastructure.model_validate(
        yaml.safe_load(infra) if isinstance(infra, str) else infra
    )
    table = ASSIGN if assign is None else assign
    jobs = [
        j.model_copy(update=dict(zip(("proxy", "mode", "repository"), table[j.vm], strict=True)))
        for j in sched.jobs
    ]
    inputs = sched.inputs.model_copy(update={"infrastructure": model})
    return sched.model_copy(update={"jobs": jobs, "inputs": inputs})


def planned_with_infrastructure(
    assign: dict[str, tuple[str, str, str | None]] | None = None,
) -> Schedule:
    """A real plan of ``estate_schedule``'s estate with ``INFRA`` (greedy), each VM pinned to
    its ``assign`` proxy, mode and repository: unlike :func:`with_infrastructure`, the job
    lengths are the modes' and the plan passes the validator (``stagger export`` checks)."""
    from stagger.model.infrastructure import Infrastructure

    base = estate_schedule()
    table = ASSIGN if assign is None else assign
    vms = [
        vm.model_copy(
            update=dict(zip(("proxy", "mode", "repository"), table[vm.name], strict=True))
        )
        if vm.name in table
        else vm
        for vm in base.inputs.topology.vms
    ]
    topo = base.inputs.topology.model_copy(update={"vms": vms})
    infra = Infrastructure.model_validate(yaml.safe_load(INFRA))
    opts = PlanOptions(solver="greedy")
    return plan(topo, base.inputs.policy, opts, infrastructure=infra).schedule

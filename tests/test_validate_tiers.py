"""The independent validator on tiered cycles: schedules built by hand from cycle_jobs (never
by the planner or the solvers), each rule broken once gives exactly its line."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stagger.calendar import window_on_night
from stagger.cli import app
from stagger.cycle import BackupJob, cycle_jobs
from stagger.errors import InputError
from stagger.exporters import registry
from stagger.exporters.jsoncsv import schedule_json
from stagger.exporters.registry import formats, render
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule, ScheduledJob, UnscheduledVM
from stagger.model.topology import Topology
from stagger.validate import find_violations
from stagger.whatif import diff_schedules, replan
from tests.factories import make_policy
from tests.tiered import (
    COLD,
    GOLD,
    WEB,
)
from tests.tiered import scheduled_job as _job
from tests.tiered import tiered_policy as _policy
from tests.tiered import tiered_schedule as _schedule
from tests.tiered import tiered_topology as _topology
from tests.tiered import valid_week as _valid


def _check(jobs: list[ScheduledJob], topo: Topology, policy: Policy) -> list[str]:
    return find_violations(_schedule(jobs, topo, policy), topo, policy)


def _pick(jobs: list[ScheduledJob], vm: str, night: int) -> ScheduledJob:
    return next(j for j in jobs if j.vm == vm and j.night == night)


def _cj(topo: Topology, policy: Policy, vm: str, level: str) -> BackupJob:
    return next(c for c in cycle_jobs(topo, policy) if c.vm == vm and c.level == level)


def test_hand_built_tiered_week_is_valid() -> None:
    jobs, topo, policy = _valid()
    assert len(jobs) == 7 + 6 + 1 + 1  # gold 1+6, web 1+5, cold 1, misc 1 (single regime)
    assert _check(jobs, topo, policy) == []


def test_missing_incremental() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "sql1", 5))
    assert _check(jobs, topo, policy) == ["vm sql1: missing 1 incremental(s) in nights 0-6"]


def test_extra_incremental_on_a_fixed_night() -> None:
    jobs, topo, policy = _valid()
    jobs.append(_job(_cj(topo, policy, "web1", "incremental"), 0, policy, topo, offset_min=120))
    assert _check(jobs, topo, policy) == [
        "vm web1: 1 extra incremental(s) in night 0 (incrementals on nights 0, 0)"
    ]


def test_job_on_a_night_the_cycle_gives_none() -> None:
    jobs, topo, policy = _valid()
    jobs.append(_job(_cj(topo, policy, "web1", "incremental"), 5, policy, topo))  # Sunday
    assert _check(jobs, topo, policy) == [
        "vm web1 night 5: incremental on a night the cycle gives the VM no job"
        " (its nights: nights 0, 1, 2, 3, 4, 6)"
    ]


def test_two_jobs_of_a_block_on_one_night() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "sql1", 1))
    jobs.append(_job(_cj(topo, policy, "sql1", "incremental"), 2, policy, topo, offset_min=60))
    assert _check(jobs, topo, policy) == [
        "vm sql1 night 2: 2 jobs on one night (incremental, incremental); nights 0-6 need one each"
    ]


def test_block_with_two_fulls() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "sql1", 5))
    jobs.append(_job(_cj(topo, policy, "sql1", "full"), 5, policy, topo))
    assert _check(jobs, topo, policy) == [
        "vm sql1: 2 fulls in nights 0-6 (on nights 3, 5), the cycle asks for 1"
    ]


def test_block_with_no_full() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "sql1", 3))
    jobs.append(_job(_cj(topo, policy, "sql1", "incremental"), 3, policy, topo))
    assert _check(jobs, topo, policy) == [
        "vm sql1: no full in nights 0-6 (an incremental in its place), the cycle asks for 1"
    ]
    jobs.remove(_pick(jobs, "sql1", 3))
    assert _check(jobs, topo, policy) == ["vm sql1: no full in nights 0-6, the cycle asks for 1"]


def test_fixed_full_on_another_night() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "cold1", 5))
    jobs.append(_job(_cj(topo, policy, "cold1", "full"), 6, policy, topo))  # Monday
    assert _check(jobs, topo, policy) == [
        "vm cold1 night 6: full, the cycle puts this full on night 5"
    ]


def test_fixed_full_on_a_night_with_an_incremental() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "web1", 4))  # Saturday's full
    jobs.append(_job(_cj(topo, policy, "web1", "full"), 3, policy, topo, offset_min=120))
    assert _check(jobs, topo, policy) == [
        "vm web1 night 3: full, the cycle puts this full on night 4"
    ]


def test_fixed_full_missing() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "web1", 4))
    assert _check(jobs, topo, policy) == ["vm web1 night 4: missing full"]


def test_full_in_place_of_a_fixed_nights_incremental() -> None:
    jobs, topo, policy = _valid()
    jobs.remove(_pick(jobs, "web1", 3))
    jobs.append(_job(_cj(topo, policy, "web1", "full"), 3, policy, topo))
    assert _check(jobs, topo, policy) == [
        "vm web1 night 3: full where the cycle asks for an incremental"
    ]


def test_length_includes_the_consistency_overhead() -> None:
    jobs, topo, policy = _valid()
    full = _pick(jobs, "sql1", 3)
    needed = _cj(topo, policy, "sql1", "full").minutes
    # Long enough for the transfer and the overhead, but not for the 10 VSS minutes.
    short = math.ceil(needed - policy.consistency.application_min)
    full.end = full.start + timedelta(minutes=short)
    full.duration_min = short
    assert _check(jobs, topo, policy) == [
        f"job sql1 night 3 full: lasts {short} min, the backup needs {needed:.1f} min"
    ]


def test_incremental_size_is_the_cycle_jobs() -> None:
    jobs, topo, policy = _valid()
    _pick(jobs, "sql1", 0).size_gib = 100.0  # the full's size on an incremental
    assert _check(jobs, topo, policy) == [
        "job sql1 night 0 incremental: size_gib 100, the topology gives 10.000"
    ]


def test_job_outside_its_tier_window() -> None:
    jobs, topo, policy = _valid()
    incr = _pick(jobs, "sql1", 1)
    incr.start -= timedelta(minutes=60)  # 21:00: inside the policy's 20:00-06:00
    incr.end -= timedelta(minutes=60)
    assert _check(jobs, topo, policy) == [
        "job sql1 night 1 incremental: 2026-12-02T21:00+01:00 to 2026-12-02T21:20+01:00 is"
        " not inside tier 'gold' window 22:00-04:00 (2026-12-02T22:00+01:00 to"
        " 2026-12-03T04:00+01:00)"
    ]


def test_power_off_job_outside_its_maintenance_window() -> None:
    jobs, topo, policy = _valid()
    full = _pick(jobs, "cold1", 5)
    full.start -= timedelta(minutes=90)  # 23:30 Sunday, before the 01:00 maintenance window
    full.end -= timedelta(minutes=90)
    [line] = _check(jobs, topo, policy)
    assert line.startswith("job cold1 night 5 full: 2026-12-06T23:30+01:00 to")
    assert "is not inside tier 'cold' maintenance window 01:00-05:00" in line


def test_a_vms_own_window_wins_over_its_tiers() -> None:
    jobs, topo, policy = _valid()
    data = topo.model_dump()
    data["vms"][0]["window"] = {"start": "23:00", "end": "03:00"}
    windowed = Topology.model_validate(data)
    lines = _check(jobs, windowed, policy)  # every sql1 job starts at 22:00
    assert len(lines) == 7
    assert any(
        x.startswith("job sql1 night 0 incremental: 2026-12-01T22:00+01:00 to") for x in lines
    )
    assert all("not inside the VM's window 23:00-03:00" in line for line in lines), lines


def test_blackout_checked_for_every_job_of_a_vm() -> None:
    jobs, topo, policy = _valid()
    # Night 5's incremental of sql1 (22:00 on 6 December), not its first job.
    blackout = {
        "name": "scan",
        "scope": {"vm": "sql1"},
        "start": "2026-12-06T22:10",
        "end": "2026-12-06T22:20",
    }
    policy = _policy([GOLD, WEB, COLD], blackouts=[blackout])
    [line] = _check(jobs, topo, policy)
    assert line.startswith("job sql1 night 5 incremental: 2026-12-06T22:00+01:00-")
    assert "overlaps blackout 'scan'" in line


def test_capacity_counts_jobs_not_vms() -> None:
    jobs, topo, policy = _valid()
    # A second copy of sql1's night-1 incremental at the same time: one host task slot
    # holds two jobs, even though both are one VM's.
    jobs.append(_pick(jobs, "sql1", 1).model_copy())
    tight = policy.model_copy(update={"limits": policy.limits.model_copy(update={"per_host": 1})})
    assert _check(jobs, topo, tight) == [
        "vm sql1: 1 extra incremental(s) in nights 0-6 (incrementals on nights 0, 1, 1, 2, 4,"
        " 5, 6)",
        "host esx0: 2 jobs at 2026-12-02T22:00+01:00 (sql1, sql1), limit 1",
    ]


def test_tier_and_level_fields_are_checked() -> None:
    jobs, topo, policy = _valid()
    _pick(jobs, "misc1", 0).level = "incremental"
    _pick(jobs, "misc1", 0).tier = "gold"
    _pick(jobs, "sql1", 0).tier = None
    assert _check(jobs, topo, policy) == [
        "job sql1 night 0 incremental: tier None, the policy puts the VM in 'gold'",
        "job misc1: level incremental, the single regime's is full",
        "job misc1: tier 'gold', but no tier of the policy takes the VM",
    ]


def test_power_off_tier_without_a_maintenance_window() -> None:
    jobs, topo, _ = _valid()
    bare = _policy([GOLD, WEB, {**COLD, "window": None}])
    # The jobs stay where the maintenance window put them (inside the policy window).
    assert _check(jobs, topo, bare) == [
        "vm cold1: tier 'cold' backs it up powered off but neither the tier nor the VM has"
        " a maintenance window"
    ]


def test_partly_planned_vm_listed_unscheduled_is_refused() -> None:
    jobs, topo, policy = _valid()
    jobs = [j for j in jobs if not (j.vm == "sql1" and j.night == 6)]
    sched = _schedule(jobs, topo, policy)
    sched.unscheduled = [UnscheduledVM(vm="sql1", reason="no room on night 6")]
    lines = find_violations(sched, topo, policy)
    assert "vm sql1: listed both as scheduled and as unscheduled" in lines


def test_old_schedules_without_level_load_as_the_single_regime() -> None:
    jobs, topo, policy = _valid()
    single = make_policy(throughput={"mb_per_s": 100, "overhead_minutes": 5})
    data = _schedule(jobs[-1:], topo, policy).model_dump(mode="json")
    data["inputs"]["policy"] = single.model_dump(mode="json")
    del data["jobs"][0]["level"], data["jobs"][0]["tier"]
    assert Schedule.model_validate(data).jobs[0].level == "full"  # no change_rate: full
    data["inputs"]["policy"]["throughput"]["change_rate"] = 0.1
    assert Schedule.model_validate(data).jobs[0].level == "incremental"


def test_window_on_night_is_dst_safe() -> None:
    # Night of 27/28 March 2027 in Berlin: clocks go 02:00 -> 03:00.
    policy = make_policy(cycle={"start": "2027-03-27", "nights": 1})
    tier = _policy([COLD]).tiers[0].window
    assert tier is not None
    start, end = window_on_night(tier, policy, 0)
    assert start == datetime(2027, 3, 28, 0, 0, tzinfo=UTC)  # 01:00 CET
    assert end == datetime(2027, 3, 28, 3, 0, tzinfo=UTC)  # 05:00 CEST: three real hours


# Random small estates: tiers of every shape, a valid schedule built from cycle_jobs.

_TIER_SHAPES = [
    {"incremental": "nightly", "full": {"every": 7}},
    {"incremental": "nightly", "full": {"every": 3}},
    {"incremental": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "full": {"every": 7}},
    {"incremental": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "full": {"on": "FREQ=WEEKLY;BYDAY=SA"}},
    {"incremental": "none", "full": {"every": 2}},
    {"incremental": "FREQ=DAILY;INTERVAL=2", "full": "none"},
]
_WINDOWS = [None, {"start": "22:00", "end": "04:00"}, {"start": "01:00", "end": "05:00"}]


@st.composite
def _tiered_week(draw: st.DrawFn) -> tuple[list[ScheduledJob], Topology, Policy]:
    n_vms = draw(st.integers(1, 4))
    names = [f"vm{i}" for i in range(n_vms)]
    topo = _topology(names)
    tiers = []
    for i in range(draw(st.integers(1, 3))):
        shape = draw(st.sampled_from(_TIER_SHAPES))
        window = draw(st.sampled_from(_WINDOWS))
        tiers.append(
            {
                "name": f"t{i}",
                "match": {"vms": draw(st.lists(st.sampled_from(names), min_size=1, unique=True))},
                "change_rate": 0.05,
                "consistency": draw(st.sampled_from(["crash", "application", "filesystem"])),
                **shape,
                **({"window": window} if window else {}),
            }
        )
    policy = _policy(tiers)
    jobs: list[ScheduledJob] = []
    by_group: dict[tuple[str, tuple[int, ...]], list[BackupJob]] = {}
    for cj in cycle_jobs(topo, policy):
        by_group.setdefault((cj.vm, cj.nights), []).append(cj)
    for (_vm, nights), group in by_group.items():
        # The jobs of a group on distinct nights of it, in any order.
        chosen = draw(st.permutations(list(nights)))
        for cj, night in zip(group, chosen, strict=False):
            jobs.append(_job(cj, night, policy, topo))
    return jobs, topo, policy


@settings(max_examples=60)
@given(_tiered_week())
def test_random_valid_tiered_weeks_pass(week: tuple) -> None:
    jobs, topo, policy = week
    assert _check(jobs, topo, policy) == []


@settings(max_examples=60)
@given(_tiered_week(), st.sampled_from(["drop", "shift", "full_twice"]), st.data())
def test_random_single_mutation_is_caught(week: tuple, mutation: str, data: st.DataObject) -> None:
    jobs, topo, policy = week
    if mutation == "drop":
        jobs.remove(data.draw(st.sampled_from(jobs)))
    elif mutation == "shift":
        job = data.draw(st.sampled_from(jobs))
        cj = next(c for c in cycle_jobs(topo, policy) if c.vm == job.vm)
        out = timedelta(minutes=cj.window.length_min)  # past its own window's end
        job.start += out
        job.end += out
    else:
        # A full moved onto the night of one of its block's incrementals.
        pairs = [
            (f, i)
            for f in jobs
            for i in jobs
            if f.vm == i.vm
            and f.level == "full"
            and i.level == "incremental"
            and f.night != i.night
            and any(
                f.night in c.nights and i.night in c.nights
                for c in cycle_jobs(topo, policy)
                if c.vm == f.vm
            )
        ]
        if not pairs:
            return
        full, incr = data.draw(st.sampled_from(pairs))
        moved = window_on_night(
            next(c for c in cycle_jobs(topo, policy) if c.vm == full.vm).window, policy, incr.night
        )[0] - full.start.astimezone(UTC)
        full.start += moved
        full.end += moved
        full.night = incr.night
    assert _check(jobs, topo, policy) != []


def test_every_use_reads_a_valid_tiered_schedule_and_one_that_does_not_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiered week the validator accepts is written by every export (each reads levels),
    and read by the what-if diff and a re-plan from it; an export that did not read levels
    would be refused too (exit 1, nothing written), never fed one job per VM."""
    jobs, topo, policy = _valid()
    sched = _schedule(jobs, topo, policy)
    assert find_violations(sched, topo, policy) == []
    assert [name for name, fmt in formats().items() if not fmt.tiered] == []
    for fmt in formats():
        assert render(sched, fmt)
    # The what-if diff and a re-plan read a VM's several jobs (tests/test_whatif_tiers.py).
    same = diff_schedules(sched, sched)
    assert same.tiered and not same.moved and same.unchanged == len(sched.jobs)
    assert replan(topo, policy, sched).stats.moved == 0
    # The registry's guard, for a format that does not say it reads levels.
    plain = {name: replace(fmt, tiered=False) for name, fmt in formats().items()}
    monkeypatch.setattr(registry, "_formats", lambda: plain)
    with pytest.raises(InputError, match="the md export of tiered schedules"):
        render(sched, "md")
    path = tmp_path / "week.json"
    path.write_text(schedule_json(sched))
    out = tmp_path / "week.ics"
    res = CliRunner().invoke(app, ["export", str(path), "-f", "ics", "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "ics export of tiered schedules" in res.output and "VM(s) ('sql1'" in res.output
    assert not out.exists()
    # One job per VM and no tier: exported as before.
    single = [j for j in jobs if j.vm == "misc1"]
    assert render(_schedule(single, topo, policy), "cron")

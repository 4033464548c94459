"""The independent validator finds every kind of broken rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stagger.errors import InvalidScheduleError
from stagger.model.schedule import Schedule, UnscheduledVM
from stagger.planner import plan
from stagger.validate import find_violations, makespan_min, night_makespans_min, validate
from tests.factories import GIB_PER_HOUR, make_policy, make_topology


def _vm(name: str, host: str, ds: str, **kw: object) -> dict[str, object]:
    return {
        "name": name,
        "host": host,
        "disks": [{"datastore": ds, "size_gib": GIB_PER_HOUR}],
        **kw,
    }


@pytest.fixture
def planned() -> tuple[Schedule, object, object]:
    topo = make_topology(
        raid_groups=[{"name": "RG", "datastores": ["DS-01", "DS-02"]}],
        vms=[_vm("a", "esx01", "DS-01"), _vm("b", "esx02", "DS-02")],
    )
    policy = make_policy(
        blackouts=[
            {
                "name": "av",
                "scope": {"vm": "a"},
                "start": "2026-12-02T04:00",
                "end": "2026-12-02T05:00",
            }
        ]
    )
    schedule = plan(topo, policy).schedule
    assert find_violations(schedule, topo, policy) == []
    return schedule, topo, policy


def _shift(s: Schedule, vm: str, minutes: int) -> Schedule:
    out = s.model_copy(deep=True)
    job = next(j for j in out.jobs if j.vm == vm)
    job.start += timedelta(minutes=minutes)
    job.end += timedelta(minutes=minutes)
    return out


def test_overlap_on_raid_group(planned: tuple) -> None:
    s, topo, policy = planned
    first = min(s.jobs, key=lambda j: j.start)
    other = next(j for j in s.jobs if j.vm != first.vm)
    moved = _shift(s, other.vm, int((first.start - other.start).total_seconds() // 60))
    v = find_violations(moved, topo, policy)
    assert any(x.startswith("raid group RG: 2 jobs") for x in v), v


def test_outside_window_and_in_blackout(planned: tuple) -> None:
    s, topo, policy = planned
    late = _shift(s, "a", 12 * 60)
    assert any("not inside one backup window" in x for x in find_violations(late, topo, policy))
    a = next(j for j in s.jobs if j.vm == "a")
    to_blackout = int(
        (a.start.replace(hour=4, minute=0) + timedelta(days=1) - a.start).total_seconds() // 60
    )
    hit = _shift(s, "a", to_blackout)
    assert any("overlaps blackout 'av'" in x for x in find_violations(hit, topo, policy))


def test_too_short_wrong_host_missing_and_duplicate(planned: tuple) -> None:
    s, topo, policy = planned
    bad = s.model_copy(deep=True)
    bad.jobs[0].end = bad.jobs[0].start + timedelta(minutes=30)
    bad.jobs[0].duration_min = 30
    bad.jobs[1].host = "esx01"
    v = find_violations(bad, topo, policy)
    assert any("the backup needs 60.0 min" in x for x in v)
    assert any("the topology says esx02" in x for x in v)
    gone = s.model_copy(deep=True)
    gone.jobs.pop()
    assert any("neither scheduled nor reported" in x for x in find_violations(gone, topo, policy))
    twice = s.model_copy(deep=True)
    twice.jobs.append(twice.jobs[0])
    assert any("more than once" in x for x in find_violations(twice, topo, policy))


def test_validate_defaults_to_embedded_inputs_and_raises(planned: tuple) -> None:
    s, _, _ = planned
    validate(s)
    with pytest.raises(InvalidScheduleError) as err:
        validate(_shift(s, "a", 12 * 60))
    assert err.value.exit_code == 4 and err.value.violations


def test_concurrent_limit(planned: tuple) -> None:
    _, _, _ = planned
    topo = make_topology(vms=[_vm("a", "esx01", "DS-01"), _vm("b", "esx02", "DS-02")])
    free = make_policy()
    s = plan(topo, free).schedule
    assert {j.start for j in s.jobs} and len({j.start for j in s.jobs}) == 1  # in parallel
    capped = make_policy(limits={"concurrent_jobs": 1})
    v = find_violations(s, topo, capped)
    assert any(x.startswith("concurrent jobs (backup proxy task slots): 2 jobs") for x in v)


def test_unscheduled_entries_are_checked(planned: tuple) -> None:
    s, topo, policy = planned
    bad = s.model_copy(deep=True)
    gone = bad.jobs.pop()
    bad.unscheduled = [
        UnscheduledVM(vm=gone.vm, reason=" "),
        UnscheduledVM(vm=gone.vm, reason="too big"),
    ]
    v = find_violations(bad, topo, policy)
    assert f"unscheduled vm {gone.vm}: no reason given" in v
    assert f"unscheduled vm {gone.vm}: listed more than once" in v
    excluded = topo.model_copy(deep=True)
    next(vm for vm in excluded.vms if vm.name == gone.vm).exclude = True
    v = find_violations(bad, excluded, policy)
    assert any("excluded or a template and needs no job" in x for x in v)


def test_recomputed_makespans_and_nights(planned: tuple) -> None:
    s, topo, policy = planned
    assert makespan_min(s, policy) == s.makespan_min
    assert night_makespans_min(s, policy) == [n.makespan_min for n in s.nights]
    last = max(s.jobs, key=lambda j: j.end)
    late = _shift(s, last.vm, 5)  # keeps the rules, ends its night 5 minutes later
    v = find_violations(late, topo, policy)
    assert f"makespan_min {s.makespan_min}, the jobs give {s.makespan_min + 5}" in v, v
    assert any("last_end differs" in x for x in v), v
    fewer = s.model_copy(deep=True)
    fewer.nights = fewer.nights[:-1]
    v = find_violations(fewer, topo, policy)
    assert f"nights: {len(fewer.nights)} listed, the policy's cycle has {len(s.nights)}" in v


def test_rules_false_keeps_field_checks(planned: tuple) -> None:
    s, topo, policy = planned
    late = _shift(s, "a", 12 * 60)
    late.timezone = "America/New_York"
    fields_only = find_violations(late, topo, policy, rules=False)
    assert any(x.startswith("timezone 'America/New_York'") for x in fields_only)


def test_utilisation_recounted(planned: tuple) -> None:
    s, topo, policy = planned
    assert s.utilisation
    bad = s.model_copy(deep=True)
    bad.utilisation[0].busy_min += 60
    u = bad.utilisation[0]
    v = find_violations(bad, topo, policy)
    assert any(x.startswith(f"utilisation {u.kind.replace('_', ' ')} {u.name}") for x in v), v


def test_job_marked_in_another_night_than_it_lies_in() -> None:
    topo = make_topology(vms=[_vm("a", "esx01", "DS-01"), _vm("b", "esx02", "DS-02")])
    policy = make_policy(cycle={"start": "2026-12-01", "nights": 2})
    s = plan(topo, policy).schedule
    assert find_violations(s, topo, policy) == []
    a = next(j for j in s.jobs if j.vm == "a")
    assert a.night == 0
    bad = s.model_copy(deep=True)
    next(j for j in bad.jobs if j.vm == "a").night = 1
    v = find_violations(bad, topo, policy)
    assert "job a: lies in night 0, marked night 1" in v, v


@pytest.mark.parametrize("flag", ["exclude", "template"])
def test_job_for_an_excluded_vm_or_a_template(planned: tuple, flag: str) -> None:
    s, topo, policy = planned
    data = topo.model_dump(mode="json")
    next(vm for vm in data["vms"] if vm["name"] == "b")[flag] = True
    t2 = type(topo).model_validate(data)
    v = find_violations(s, t2, policy)
    assert "job b: VM is excluded or a template and must get no job" in v, v


def test_job_whose_datastores_or_raid_groups_differ_from_the_topology(planned: tuple) -> None:
    s, topo, policy = planned
    bad = s.model_copy(deep=True)
    b = next(j for j in bad.jobs if j.vm == "b")
    b.datastores = ["DS-01"]  # the same RAID group, another datastore
    v = find_violations(bad, topo, policy)
    assert "job b: datastores ['DS-01'] differ from the topology's ['DS-02']" in v, v
    assert not any("RAID groups" in x for x in v), v
    b.datastores = ["DS-02"]
    b.raid_groups = []
    v = find_violations(bad, topo, policy)
    assert "job b: RAID groups [] differ from the topology's ['RG']" in v, v
    # The drift check relies on it: a Storage vMotion is a datastore the job does not list.
    data = topo.model_dump(mode="json")
    next(vm for vm in data["vms"] if vm["name"] == "b")["disks"][0]["datastore"] = "DS-01"
    moved = type(topo).model_validate(data)
    v = find_violations(s, moved, policy)
    assert "job b: datastores ['DS-02'] differ from the topology's ['DS-01']" in v, v


def test_job_one_slot_short_is_too_short(planned: tuple) -> None:
    s, topo, policy = planned
    bad = s.model_copy(deep=True)
    job = next(j for j in bad.jobs if j.vm == "b")
    job.end -= timedelta(minutes=5)
    job.duration_min -= 5
    v = find_violations(bad, topo, policy)
    assert "job b: lasts 55 min, the backup needs 60.0 min" in v, v


def test_claims_agree_with_the_makespan_and_each_other(planned: tuple) -> None:
    """What a report prints as facts (gap, bound, OPTIMAL, how many VMs must drop) cannot
    be re-proven, but a hand-edited claim that contradicts the plan is caught."""
    s, topo, policy = planned
    assert s.gap_pct is not None and s.lower_bound_min > 0

    def violations(**edits: object) -> list[str]:
        bad = s.model_copy(deep=True, update=edits)
        return find_violations(bad, topo, policy, rules=False)

    assert violations() == []
    assert any(x.startswith("gap_pct 12.5 but makespan_min") for x in violations(gap_pct=12.5))
    above = s.makespan_min + 5
    assert any(
        x.startswith(f"lower_bound_min {above} is above makespan_min")
        for x in violations(lower_bound_min=above)
    )
    # An OPTIMAL claim with a gap: raise the reported makespan's gap consistently, keep
    # the status.
    low = s.makespan_min // 2
    gap = round((s.makespan_min - low) / low * 100, 2)
    optimal = s.model_copy(deep=True, update=dict(lower_bound_min=low, gap_pct=gap))
    optimal.solver.status = "OPTIMAL"
    v = find_violations(optimal, topo, policy, rules=False)
    assert f"solver status OPTIMAL with a gap of {gap:g} %" in v, v
    assert any(
        x == f"unscheduled_min 3 but only {len(s.unscheduled)} VMs are unscheduled"
        for x in violations(unscheduled_min=3)
    )


def test_a_job_ending_before_it_starts_still_counts_on_its_resource() -> None:
    """A hand-edited (or wall-clock-shifted, DST) job whose end precedes its start is reported
    apart, and still counts from its start on: the job beside it is an overlap (the sweep's
    running sum once subtracted the end first and lost it)."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from stagger.model.schedule import ScheduledJob
    from stagger.validate import _capacity_violations

    t0 = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)

    def job(vm: str, start_min: int, end_min: int) -> ScheduledJob:
        return ScheduledJob(
            vm=vm,
            host="h0",
            start=t0 + timedelta(minutes=start_min),
            end=t0 + timedelta(minutes=end_min),
            duration_min=5,
            size_gib=1.0,
            night=0,
        )

    jobs = [job("vm2", 0, 5), job("vm3", 0, -55)]
    assert _capacity_violations("host h0", jobs, 1, ZoneInfo("UTC")) == [
        "host h0: 2 jobs at 2026-10-25T01:00+00:00 (vm2, vm3), limit 1"
    ]

"""The planner end to end on hand-computed cases, and the validator property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.validate import find_violations
from tests.factories import GIB_PER_HOUR, make_policy, make_topology


def _at(day: int, hour: int, minute: int) -> datetime:
    """A December 2026 instant in the test policies' zone. Tests compare whole datetimes:
    an "HH:MM" string compare cannot tell 20:00 from 02:00 the next morning by night."""
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))


def _hour_vm(name: str, host: str, ds: str, hours: float = 1.0, **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "host": host,
        "disks": [{"datastore": ds, "size_gib": GIB_PER_HOUR * hours}],
        **kw,
    }


def test_three_one_hour_jobs_on_one_datastore_around_a_blackout() -> None:
    topo = make_topology(
        hosts=[{"name": f"esx0{i}", "cluster": "C1"} for i in (1, 2, 3)],
        vms=[_hour_vm(f"vm{i}", f"esx0{i}", "DS-01") for i in (1, 2, 3)],
    )
    policy = make_policy(
        blackouts=[
            {
                "name": "snap-window",
                "scope": {"datastore": "DS-01"},
                "start": "2026-12-01T21:00",
                "end": "2026-12-01T21:30",
            }
        ]
    )
    for solver in ("greedy", "cpsat"):
        s = plan(topo, policy, PlanOptions(solver=solver, time_limit_s=5)).schedule  # type: ignore[arg-type]
        assert s.makespan_min == 210, solver  # 20:00-21:00, 21:30-22:30, 22:30-23:30
        assert s.lower_bound_min == 210
        assert s.gap_pct == 0
        starts = sorted(j.start for j in s.jobs)
        assert starts == [_at(1, 20, 0), _at(1, 21, 30), _at(1, 22, 30)]


def test_jobs_on_different_resources_run_in_parallel() -> None:
    topo = make_topology(vms=[_hour_vm("a", "esx01", "DS-01"), _hour_vm("b", "esx02", "DS-02")])
    s = plan(topo, make_policy()).schedule
    assert s.makespan_min == 60
    assert all(j.start == _at(1, 20, 0) for j in s.jobs)


def test_raid_group_serialises_jobs_on_different_datastores() -> None:
    topo = make_topology(
        raid_groups=[{"name": "RG-1", "datastores": ["DS-01", "DS-02"]}],
        vms=[_hour_vm("a", "esx01", "DS-01"), _hour_vm("b", "esx02", "DS-02")],
    )
    s = plan(topo, make_policy()).schedule
    assert s.makespan_min == 120
    assert {tuple(j.raid_groups) for j in s.jobs} == {("RG-1",)}


def test_capacity_two_datastore_allows_two_jobs() -> None:
    topo = make_topology(
        datastores=[{"name": "DS-01", "max_jobs": 2}, {"name": "DS-02"}],
        vms=[_hour_vm("a", "esx01", "DS-01"), _hour_vm("b", "esx02", "DS-01")],
    )
    assert plan(topo, make_policy()).schedule.makespan_min == 60


def test_concurrent_jobs_limit_is_global() -> None:
    topo = make_topology(
        hosts=[{"name": f"h{i}"} for i in range(4)],
        datastores=[{"name": f"d{i}"} for i in range(4)],
        vms=[_hour_vm(f"v{i}", f"h{i}", f"d{i}") for i in range(4)],
    )
    s = plan(topo, make_policy(limits={"concurrent_jobs": 2})).schedule
    assert s.makespan_min == 120


def test_dst_night_fits_what_an_ordinary_night_cannot() -> None:
    # Three 3.5 h jobs on one datastore: 10.5 h. Only the night into Sunday 25 Oct 2026,
    # when Europe/Berlin turns the clocks back, has 11 h between 20:00 and 06:00.
    topo = make_topology(
        hosts=[{"name": f"esx0{i}"} for i in (1, 2, 3)],
        vms=[_hour_vm(f"vm{i}", f"esx0{i}", "DS-01", 3.5) for i in (1, 2, 3)],
    )
    dst = plan(topo, make_policy(cycle={"start": "2026-10-24"})).schedule
    assert not dst.unscheduled
    assert dst.makespan_min == 630
    last = max(j.end for j in dst.jobs)
    # 05:30 CET on Sunday morning: 10.5 h after 20:00 CEST on Saturday.
    assert last == datetime(2026, 10, 25, 4, 30, tzinfo=UTC)
    plain = plan(topo, make_policy(cycle={"start": "2026-10-17"})).schedule
    assert len(plain.unscheduled) == 1
    assert "does not fit" in plain.unscheduled[0].reason
    assert "datastore DS-01: 10.5 h of backups, 10.0 h of window" in plain.bottlenecks[0]


def test_vm_longer_than_any_free_stretch_is_reported_with_reason() -> None:
    topo = make_topology(vms=[_hour_vm("huge", "esx01", "DS-01", 11)])
    s = plan(topo, make_policy()).schedule
    assert s.jobs == []
    assert s.unscheduled[0].vm == "huge"
    assert "needs 11h00m" in s.unscheduled[0].reason
    assert "longest free stretch" in s.unscheduled[0].reason


def test_excluded_and_templates_get_no_job_powered_off_do() -> None:
    topo = make_topology(
        vms=[
            _hour_vm("t", "esx01", "DS-01", template=True),
            _hour_vm("x", "esx01", "DS-01", exclude=True),
            _hour_vm("off", "esx02", "DS-02", power_state="off"),
        ]
    )
    s = plan(topo, make_policy()).schedule
    assert [j.vm for j in s.jobs] == ["off"]
    assert s.unscheduled == []


def test_change_rate_makes_incremental_jobs_short() -> None:
    topo = make_topology(
        vms=[
            _hour_vm("a", "esx01", "DS-01", 10),
            _hour_vm("b", "esx02", "DS-02", 10, change_rate=0.5),
        ]
    )
    s = plan(topo, make_policy(throughput={"mb_per_s": 100, "change_rate": 0.1})).schedule
    minutes = {j.vm: j.duration_min for j in s.jobs}
    assert minutes == {"a": 60, "b": 300}
    assert {j.vm: j.size_gib for j in s.jobs}["a"] == round(GIB_PER_HOUR, 3)


def test_blackout_expand_hosts_blocks_other_vms_on_payroll_host() -> None:
    topo = make_topology(
        vms=[
            _hour_vm("pay", "esx01", "DS-01", tags=["payroll"]),
            _hour_vm("other", "esx01", "DS-02"),
            _hour_vm("elsewhere", "esx02", "DS-02"),
        ]
    )
    policy = make_policy(
        blackouts=[
            {
                "name": "payroll",
                "scope": {"tag": "payroll", "expand": "hosts"},
                "start": "2026-12-01T18:00",
                "end": "2026-12-02T02:00",
            }
        ]
    )
    s = plan(topo, policy).schedule
    by_vm = {j.vm: j for j in s.jobs}
    # Not before the payroll blackout ends at 02:00 the next morning (a string compare of
    # "HH:MM" would take 20:00 the evening before as later than "02:00").
    assert by_vm["other"].start >= _at(2, 2, 0)
    assert by_vm["pay"].start >= _at(2, 2, 0)
    assert by_vm["elsewhere"].start == _at(1, 20, 0)


def test_pin_fixes_start_and_conflicting_pin_is_reported() -> None:
    topo = make_topology(
        vms=[
            _hour_vm("a", "esx01", "DS-01", pin="23:00"),
            _hour_vm("b", "esx02", "DS-02", pin="12:00"),
        ]
    )
    s = plan(topo, make_policy()).schedule
    assert s.jobs[0].vm == "a" and s.jobs[0].start == _at(1, 23, 0)
    assert s.unscheduled[0].vm == "b"
    assert "pinned at 12:00" in s.unscheduled[0].reason


def test_multi_night_cycle_spreads_load() -> None:
    topo = make_topology(vms=[_hour_vm(f"v{i}", "esx01", "DS-01", 4) for i in range(4)])
    s = plan(topo, make_policy(cycle={"start": "2026-12-01", "nights": 2})).schedule
    assert not s.unscheduled
    assert [n.jobs for n in s.nights] == [2, 2]
    assert s.makespan_min == 480


def test_same_inputs_same_schedule(estate_paths: Any) -> None:
    from stagger.sources.yamlfile import load_policy, load_topology

    topo, policy = load_topology(estate_paths[0]), load_policy(estate_paths[1])
    # The deterministic budget ends the search; the wall limit (a promise, which would cost
    # determinism if hit) is far away.
    opts = PlanOptions(time_limit_s=300, deterministic_budget=0.2, seed=7)
    a = plan(topo, policy, opts).schedule
    b = plan(topo, policy, PlanOptions(time_limit_s=300, deterministic_budget=0.2, seed=7))
    assert not a.solver.wall_limit_hit
    assert a.model_dump_json() == b.schedule.model_dump_json()


# --- property: every schedule the planner returns passes the validator ------------------


@st.composite
def estates(draw: st.DrawFn) -> Topology:
    n_hosts = draw(st.integers(1, 4))
    n_ds = draw(st.integers(1, 4))
    groups = draw(st.integers(0, 2))
    ds_names = [f"DS{i}" for i in range(n_ds)]
    raid = []
    if groups:
        split = [ds_names[i::groups] for i in range(groups)]
        raid = [{"name": f"RG{i}", "datastores": g} for i, g in enumerate(split) if g]
    vms = []
    for i in range(draw(st.integers(1, 12))):
        disks = [
            {"datastore": draw(st.sampled_from(ds_names)), "size_gib": draw(st.floats(5, 2000))}
            for _ in range(draw(st.integers(1, 2)))
        ]
        vms.append(
            {
                "name": f"vm{i}",
                "host": f"h{draw(st.integers(0, n_hosts - 1))}",
                "disks": disks,
                "tags": draw(st.sampled_from([[], ["t"]])),
            }
        )
    return Topology.model_validate(
        {
            "clusters": [{"name": "C"}],
            "hosts": [{"name": f"h{i}", "cluster": "C"} for i in range(n_hosts)],
            "datastores": [{"name": d, "max_jobs": draw(st.integers(1, 2))} for d in ds_names],
            "raid_groups": raid,
            "vms": vms,
        }
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    topo=estates(),
    nights=st.integers(1, 2),
    start_hour=st.integers(0, 23),
    length=st.integers(1, 14),
    blackout_hour=st.integers(0, 23),
    concurrent=st.sampled_from([None, 1, 2]),
    solver=st.sampled_from(["greedy", "cpsat"]),
)
def test_every_planned_schedule_passes_the_validator(
    topo: Topology,
    nights: int,
    start_hour: int,
    length: int,
    blackout_hour: int,
    concurrent: int | None,
    solver: str,
) -> None:
    end_hour = (start_hour + length) % 24
    policy = make_policy(
        cycle={"start": "2026-10-24", "nights": nights},  # includes the DST night
        window={"start": f"{start_hour:02d}:00", "end": f"{end_hour:02d}:30"},
        limits={"concurrent_jobs": concurrent},
        throughput={"mb_per_s": 200, "overhead_minutes": 3},
        blackouts=[
            {
                "name": "b1",
                "scope": {"tag": "t", "expand": "hosts"},
                "rrule": f"FREQ=DAILY;BYHOUR={blackout_hour};BYMINUTE=0",
                "duration": "45m",
            },
            {
                "name": "b2",
                "scope": {"datastore": "DS0"},
                "rrule": "FREQ=DAILY;BYHOUR=2",
                "duration": "1h",
            },
        ],
    )
    result = plan(topo, policy, PlanOptions(solver=solver, time_limit_s=0.5))  # type: ignore[arg-type]
    s = result.schedule
    assert find_violations(s, topo, policy) == []
    assert len(s.jobs) + len(s.unscheduled) == len(topo.vms)
    if s.gap_pct is not None:  # every VM that can run is planned: the bound is for this plan
        assert s.lower_bound_min <= s.makespan_min
    # The validator is not vacuous: moving a job onto another job of the same host (limit 1)
    # must be reported.
    for a, b in zip(s.jobs, s.jobs[1:], strict=False):
        if a.host == b.host:
            moved = s.model_copy(deep=True)
            k = s.jobs.index(b)
            moved.jobs[k].start = a.start
            moved.jobs[k].end = a.start + timedelta(minutes=b.duration_min)
            assert any(f"host {a.host}: 2 jobs" in v for v in find_violations(moved, topo, policy))
            break


def test_bound_sees_different_blackouts_at_the_same_hours() -> None:
    # Two 2 h jobs on one datastore; each host has its own patch blackout 20:00-23:00. No
    # blackout is shared by both jobs, yet neither can start before 23:00: optimum 23-01, 01-03.
    topo = make_topology(
        vms=[_hour_vm("a", "esx01", "DS-01", 2), _hour_vm("b", "esx02", "DS-01", 2)]
    )
    policy = make_policy(
        blackouts=[
            {
                "name": f"patch-{h}",
                "scope": {"host": h},
                "start": "2026-12-01T20:00",
                "end": "2026-12-01T23:00",
            }
            for h in ("esx01", "esx02")
        ]
    )
    s = plan(topo, policy).schedule
    assert s.makespan_min == 420
    assert s.lower_bound_min == 420
    assert s.solver.status == "OPTIMAL"


def test_example_estate_is_proven_optimal(estate_paths: Any) -> None:
    from stagger.sources.yamlfile import load_policy, load_topology

    s = plan(load_topology(estate_paths[0]), load_policy(estate_paths[1])).schedule
    assert not s.unscheduled
    assert s.gap_pct == 0 and s.makespan_min == s.lower_bound_min


def test_interrupt_during_search_returns_the_best_valid_plan() -> None:
    from benchmarks.generate import EstateSpec, generate

    topo, policy = generate(EstateSpec(100, "balanced", "full", 0))
    calls: list[int] = []

    def progress(span: int, wall: float, bound: float) -> None:
        calls.append(span)
        if len(calls) == 2:  # the warm start was reported; the search has begun
            raise KeyboardInterrupt

    result = plan(topo, policy, PlanOptions(time_limit_s=5, progress=progress))
    assert len(calls) >= 2
    s = result.schedule
    assert find_violations(s, topo, policy) == []
    assert s.makespan_min <= calls[0] * policy.slot_minutes  # no worse than the warm start
    assert s.solver.interrupted


def test_a_bound_above_a_complete_plans_makespan_is_a_bug_report(monkeypatch: Any) -> None:
    """A lower bound above the makespan of a plan with every job means the bound or the plan
    is wrong: the planner must say so (BoundViolation), never clamp or print it."""
    from dataclasses import replace

    import stagger.planner as planner

    real = planner.lower_bound

    def too_high(inst: Any) -> Any:
        b = real(inst)
        return replace(b, makespan=b.makespan + 6, reason="a broken bound")

    monkeypatch.setattr(planner, "lower_bound", too_high)
    topo = make_topology(vms=[_hour_vm("a", "esx01", "DS-01"), _hour_vm("b", "esx01", "DS-01")])
    with pytest.raises(planner.BoundViolation, match=r"exceeds the makespan .*a broken bound"):
        plan(topo, make_policy(), PlanOptions(solver="greedy"))

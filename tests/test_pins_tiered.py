"""Pins on VMs of a tier (docs/tiers.md, "Pins"): hand-computed cases for each kind, the
validator's own check of them, and a property over small estates.

The week of tests/tiered.py: nights 0..6 open on Tuesday 1 to Monday 7 December 2026
(Europe/Berlin, policy window 20:00-06:00, 5-minute slots). Gold (sql*): an incremental every
night and one full per 7 nights, night chosen by the planner, window 22:00-04:00. Web (web*):
incrementals Monday to Friday, the full on Saturday (night 4), none on Sunday (night 5)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.cycle import cycle_jobs
from stagger.instance import Instance, compile_instance, keep_baseline
from stagger.model.policy import BackupWindow, Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve.baseline import match_baseline
from stagger.validate import find_violations
from stagger.whatif import replan
from tests.tiered import GOLD, WEB, tiered_policy, tiered_topology, valid_week

SAT = 4  # night 4 opens on Saturday 5 December


def _plan(topo: Topology, policy: Policy, solver: str = "cpsat") -> Schedule:
    opts = PlanOptions(solver=solver, time_limit_s=5, seed=1, workers=1)  # type: ignore[arg-type]
    return plan(topo, policy, opts).schedule


def _local(schedule: Schedule, vm: str) -> list[tuple[int, str | None, datetime]]:
    tz = schedule.inputs.policy.tz
    return sorted((j.night, j.level, j.start.astimezone(tz)) for j in schedule.jobs if j.vm == vm)


def _week(pins: dict[str, str], **kw: Any) -> tuple[Topology, Policy]:
    topo = tiered_topology(["sql1", "web1"])
    for vm in topo.vms:
        vm.pin = pins.get(vm.name)
    return topo, tiered_policy([GOLD, WEB], **kw)


# ---------------------------------------------------------------- clock pins


def test_a_clock_pin_puts_every_job_of_a_nightly_vm_at_that_time() -> None:
    """sql1 pinned at 23:10: seven jobs, one a night, each at 23:10 on its night's date
    (the window 22:00-04:00 holds 23:10 on the evening its night opens); the full on one of
    them, which the planner chooses."""
    topo, policy = _week({"sql1": "23:10"})
    schedule = _plan(topo, policy)
    got = _local(schedule, "sql1")
    assert [n for n, _, _ in got] == list(range(7))
    assert [(s.date().day, s.time()) for _, _, s in got] == [
        (1 + n, time(23, 10)) for n in range(7)
    ]
    assert [lvl for _, lvl, _ in got].count("full") == 1
    assert find_violations(schedule, topo, policy) == []


def test_a_clock_pin_after_midnight_lands_on_the_next_date() -> None:
    """web1 at 01:30: the window 20:00-06:00 holds 01:30 the morning after its night opens;
    web has no job on Sunday's night 5."""
    topo, policy = _week({"web1": "01:30"})
    got = _local(_plan(topo, policy, "greedy"), "web1")
    assert [(n, lvl) for n, lvl, _ in got] == [
        (0, "incremental"),
        (1, "incremental"),
        (2, "incremental"),
        (3, "incremental"),
        (SAT, "full"),
        (6, "incremental"),
    ]
    assert [s for _, _, s in got] == [
        datetime(2026, 12, 2 + n, 1, 30, tzinfo=policy.tz) for n in (0, 1, 2, 3, 4, 6)
    ]


def test_a_clock_pin_colliding_with_a_blackout_on_one_night_names_that_night() -> None:
    """A blackout 23:00-23:30 on Thursday 3 December (night 2): web1's incremental of that
    night (7.5 GiB: 5 min overhead + 1.3 min transfer + 3 min filesystem = 9.3 min, shown
    rounded up) cannot start at 23:10, so web1 is unscheduled and the reason says which
    night."""
    blackout = {"name": "patch", "scope": {"vm": "web1"}, "start": "2026-12-03T23:00",
                "end": "2026-12-03T23:30"}  # fmt: skip
    topo, policy = _week({"web1": "23:10"}, blackouts=[blackout])
    inst = compile_instance(topo, policy)
    assert {j.vm for j in inst.jobs} == {"sql1"}
    [(vm, why)] = inst.unschedulable
    assert vm == "web1"
    assert why == (
        "pinned at 23:10, but on night 2 (Thu 03 Dec) its incremental job cannot start then:"
        " a 0h10m job starting then runs into blackout 'patch'"
    )
    schedule = _plan(topo, policy, "greedy")
    assert [u.vm for u in schedule.unscheduled] == ["web1"]
    assert "night 2 (Thu 03 Dec)" in schedule.unscheduled[0].reason


def test_a_clock_pin_outside_the_tier_window_is_named() -> None:
    """21:00 is inside the policy window but before gold's 22:00."""
    topo, policy = _week({"sql1": "21:00"})
    [(_, why)] = compile_instance(topo, policy).unschedulable
    assert why.endswith("cannot start then: that time lies outside its window 22:00-04:00")


def test_a_block_full_avoids_the_nights_only_an_incremental_fits_at_the_pin() -> None:
    """sql1 at 23:10. Its full (100 GiB: 5 + 17.1 + 10 min VSS = 32.1 min, 7 slots: until
    23:45) and incrementals (10 GiB: 16.7 min, 4 slots: until 23:30). A blackout 23:30-23:45
    on Sunday 6 December (night 5) leaves room for an incremental, not the full: the full
    may take any night but 5, every job still at 23:10."""
    blackout = {"name": "scan", "scope": {"vm": "sql1"}, "start": "2026-12-06T23:30",
                "end": "2026-12-06T23:45"}  # fmt: skip
    topo, policy = _week({"sql1": "23:10"}, blackouts=[blackout])
    inst = compile_instance(topo, policy)
    assert inst.unschedulable == []
    full = next(j for j in inst.jobs if j.vm == "sql1" and j.level == "full")
    assert full.nights == [0, 1, 2, 3, 4, 6]
    got = _local(_plan(topo, policy, "greedy"), "sql1")
    assert [n for n, lvl, _ in got if lvl == "full"] != [5]
    assert {s.time() for _, _, s in got} == {time(23, 10)}


def test_a_block_whose_incrementals_cannot_take_its_nights_is_unscheduled() -> None:
    """Blackouts 23:00-23:30 stop every job of sql1 at 23:10 on the nights they hit. One
    such night (Wednesday 2 December, night 1) could only be the full's, and the full
    cannot start then either: that night is named. Two (nights 1 and 3): only one of them
    can be the full's, the incremental of the second (Friday 4 December) is named."""

    def on(day: int) -> dict[str, Any]:
        return {"name": f"b{day}", "scope": {"vm": "sql1"}, "start": f"2026-12-0{day}T23:00",
                "end": f"2026-12-0{day}T23:30"}  # fmt: skip

    topo, policy = _week({"sql1": "23:10"}, blackouts=[on(2)])
    [(_, why)] = compile_instance(topo, policy).unschedulable
    assert why.startswith("pinned at 23:10, but on night 1 (Wed 02 Dec) its full job cannot")
    topo, policy = _week({"sql1": "23:10"}, blackouts=[on(2), on(4)])
    [(_, why)] = compile_instance(topo, policy).unschedulable
    assert why.startswith("pinned at 23:10, but on night 3 (Fri 04 Dec) its incremental job")
    assert why.endswith("runs into blackout 'b4'")


def test_a_clock_pin_on_a_vm_with_its_own_window_leaves_the_night_to_the_planner() -> None:
    """misc1 (no tier) with its own window 21:00-23:00 has one job per cycle: pinned at
    22:00, that job may start at 22:00 on any of the seven nights (slot 24 of each night:
    two hours after the 20:00 opening, in 5-minute slots)."""
    topo = tiered_topology(["misc1"])
    topo.vms[0].window = BackupWindow(start="21:00", end="23:00")
    topo.vms[0].pin = "22:00"
    inst = compile_instance(topo, tiered_policy([GOLD]))
    [job] = inst.jobs
    assert [spans for spans in job.allowed] == [
        ((n.start + 24, n.start + 24),) for n in inst.nights
    ]


# ---------------------------------------------------------------- date pins


def test_an_iso_pin_fixes_the_blocks_full_on_that_night() -> None:
    """sql1 pinned at 2026-12-04T23:30: Friday's night 3 carries its full at 23:30; the
    six incrementals take the other nights wherever the planner likes."""
    topo, policy = _week({"sql1": "2026-12-04T23:30"})
    schedule = _plan(topo, policy)
    got = _local(schedule, "sql1")
    assert [(n, lvl) for n, lvl, _ in got if lvl == "full"] == [(3, "full")]
    assert got[3][2] == datetime(2026, 12, 4, 23, 30, tzinfo=policy.tz)
    assert [n for n, _, _ in got] == list(range(7))
    assert find_violations(schedule, topo, policy) == []


def test_an_iso_pin_on_a_fixed_night_tier_pins_that_nights_job() -> None:
    topo, policy = _week({"web1": "2026-12-05T22:45"})
    inst = compile_instance(topo, policy)
    web = [j for j in inst.jobs if j.vm == "web1"]
    fixed = [
        j
        for j in web
        if len(j.nights) == 1 and j.allowed[j.nights[0]][0][0] == j.allowed[j.nights[0]][0][1]
    ]
    assert [(j.level, j.nights) for j in fixed if j.level == "full"] == [("full", [SAT])]
    schedule = _plan(topo, policy, "greedy")
    sat = [s for n, lvl, s in _local(schedule, "web1") if n == SAT]
    assert sat == [datetime(2026, 12, 5, 22, 45, tzinfo=policy.tz)]


def test_an_iso_pin_on_a_night_without_a_job_or_outside_every_window() -> None:
    topo, policy = _week({"web1": "2026-12-06T23:00"})  # Sunday: web has no job
    [(_, why)] = compile_instance(topo, policy).unschedulable
    assert (
        why == "pinned at 2026-12-06T23:00, on night 5 (Sun 06 Dec), when the cycle gives it no job"
    )
    topo, policy = _week({"web1": "2026-12-20T23:00"})  # after the cycle
    [(_, why)] = compile_instance(topo, policy).unschedulable
    assert why == "pinned at 2026-12-20T23:00, which lies in no backup window of the cycle"


def test_an_iso_pin_leaving_a_block_incremental_no_night_is_named() -> None:
    """A two-night cycle, gold's block is nights 0-1 (one full, one incremental). A
    blackout over the whole of night 1 for sql1 leaves its incremental only night 0; the
    date pins the full there: the incremental has no night left."""
    topo = tiered_topology(["sql1"])
    topo.vms[0].pin = "2026-12-01T23:00"
    blackout = {"name": "all", "scope": {"vm": "sql1"}, "start": "2026-12-02T20:00",
                "end": "2026-12-03T06:00"}  # fmt: skip
    policy = tiered_policy([GOLD], blackouts=[blackout])
    policy = policy.model_copy(update={"cycle": policy.cycle.model_copy(update={"nights": 2})})
    inst = compile_instance(topo, policy)
    assert inst.jobs == []
    assert inst.unschedulable == [
        (
            "sql1",
            "pinned at 2026-12-01T23:00: its full job takes night 0 (Tue 01 Dec), and its"
            " incremental job can run on no other night of nights 0-1",
        )
    ]


# ---------------------------------------------------------------- pinned: true


def _kept(topo: Topology, policy: Policy, base: Schedule) -> Instance:
    """The instance a re-plan from ``base`` solves (as stagger.whatif.replan builds it)."""
    inst = compile_instance(topo, policy, baseline_starts={j.vm: j.start for j in base.jobs})
    keep_baseline(inst, match_baseline(inst, base), topo, policy)
    return inst


def test_pinned_keeps_every_job_at_its_baseline_slot() -> None:
    """Each of sql1's seven jobs is narrowed to the one slot of the baseline job it
    continues (same level, same night); web1, not pinned, keeps its whole window."""
    topo, policy = _week({})
    base = _plan(topo, policy, "greedy")
    topo.vms[0].pinned = True
    inst = _kept(topo, policy, base)
    old = {(j.night, j.level): j.start for j in base.jobs if j.vm == "sql1"}
    sql = [j for j in inst.jobs if j.vm == "sql1"]
    assert len(sql) == 7
    kept = set()
    for job in sql:
        [night] = job.nights
        [(lo, hi)] = job.allowed[night]
        assert lo == hi
        kept.add((night, job.level, inst.to_datetime(lo)))
    assert kept == {(n, lvl, s) for (n, lvl), s in old.items()}
    web = [j for j in inst.jobs if j.vm == "web1"]
    assert any(lo < hi for j in web for spans in j.allowed for lo, hi in spans)


def test_pinned_replan_leaves_a_vm_out_rather_than_move_it() -> None:
    """Gold's window moves from 22:00 to 22:30: sql1's baseline jobs all started at 22:00
    (greedy packs each night from the window's opening). Pinned, it is unscheduled with
    the reason; unpinned (web1 stays in its window) nothing else is lost."""
    topo, policy = _week({})
    base = _plan(topo, policy, "greedy")
    assert {f"{j.start.astimezone(policy.tz):%H:%M}" for j in base.jobs if j.vm == "sql1"} == {
        "22:00"
    }
    topo.vms[0].pinned = True
    later = tiered_policy([{**GOLD, "window": {"start": "22:30", "end": "04:00"}}, WEB])
    res = replan(topo, later, base, PlanOptions(time_limit_s=5, seed=1, workers=1))
    [u] = res.schedule.unscheduled
    assert u.vm == "sql1" and u.reason.startswith("pinned to its baseline slot 2026-12-0")
    assert {j.vm for j in res.schedule.jobs} == {"web1"}


def test_pinned_baseline_slot_under_a_new_blackout_names_the_night() -> None:
    topo, policy = _week({})
    base = _plan(topo, policy, "greedy")
    full = next(j for j in base.jobs if j.vm == "sql1" and j.level == "full")
    topo.vms[0].pinned = True
    local = full.start.astimezone(policy.tz)

    def naive(t: datetime) -> str:
        return t.replace(tzinfo=None).isoformat(timespec="minutes")

    blackout = {
        "name": "new",
        "scope": {"vm": "sql1"},
        "start": naive(local),
        "end": naive(local + timedelta(minutes=10)),
    }
    policy = tiered_policy([GOLD, WEB], blackouts=[blackout])
    inst = _kept(topo, policy, base)
    [(vm, why)] = inst.unschedulable
    assert vm == "sql1" and not [j for j in inst.jobs if j.vm == "sql1"]
    assert why.startswith(
        f"pinned to its baseline slot {local:%Y-%m-%d %H:%M} (full job, night {full.night} ("
    )
    assert "blackouts: new" in why


# ---------------------------------------------------------------- the validator


def test_the_validator_checks_clock_pins_of_tiered_vms() -> None:
    """valid_week starts each job at its window's opening: sql1 at 22:00 every night."""
    jobs, topo, policy = valid_week()
    topo.vms[0].pin = "22:00"
    schedule = _schedule(jobs, topo, policy)
    assert find_violations(schedule, topo, policy) == []
    topo.vms[0].pin = "22:30"
    lines = find_violations(schedule, topo, policy)
    assert len(lines) == 7
    assert (
        "job sql1 night 3 full: starts 2026-12-04T22:00+01:00, the VM is pinned at 22:30" in lines
    )
    assert {line.split(":")[0] for line in lines} == {
        f"job sql1 night {n} {'full' if n == 3 else 'incremental'}" for n in range(7)
    }


def test_the_validator_checks_date_pins_of_tiered_vms() -> None:
    """valid_week's gold full is on night 3 (Friday 4 December) at 22:00."""
    jobs, topo, policy = valid_week()
    schedule = _schedule(jobs, topo, policy)
    topo.vms[0].pin = "2026-12-04T22:00"
    assert find_violations(schedule, topo, policy) == []
    topo.vms[0].pin = "2026-12-03T22:00"  # an incremental starts then: the block's full must
    assert find_violations(schedule, topo, policy) == [
        "job sql1 night 2 incremental: pinned at 2026-12-03T22:00, a date in a block whose"
        " full the planner places, so it must be the full"
    ]
    topo.vms[0].pin = "2026-12-03T23:00"
    assert find_violations(schedule, topo, policy) == [
        "vm sql1: pinned at 2026-12-03T23:00, but no job of it starts then"
    ]
    topo.vms[1].pin = "2026-12-05T20:00"  # web1's Saturday full, at the window's opening
    topo.vms[0].pin = None
    assert find_violations(schedule, topo, policy) == []


def _schedule(jobs: Any, topo: Topology, policy: Policy) -> Schedule:
    from tests.tiered import tiered_schedule

    return tiered_schedule(jobs, topo, policy)


# ---------------------------------------------------------------- property


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roles=st.lists(st.sampled_from(["sql", "web", "misc"]), min_size=1, max_size=4),
    pins=st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.integers(0, 23), st.sampled_from([0, 5, 30, 55])).map(
                lambda hm: f"{hm[0]:02d}:{hm[1]:02d}"
            ),
            st.tuples(st.integers(1, 8), st.integers(20, 23), st.sampled_from([0, 15])).map(
                lambda d: f"2026-12-{d[0]:02d}T{d[1]:02d}:{d[2]:02d}"
            ),
        ),
        min_size=4,
        max_size=4,
    ),
    per_host=st.integers(1, 2),
    solver=st.sampled_from(["greedy", "cpsat"]),
)
def test_plans_of_pinned_tiered_vms_validate_and_honour_the_pins(
    roles: list[str], pins: list[str | None], per_host: int, solver: str
) -> None:
    names = [f"{r}{i}" for i, r in enumerate(roles)]
    topo = tiered_topology(names)
    for vm, pin in zip(topo.vms, pins, strict=False):
        vm.pin = pin
        vm.host = "esx0"  # one host: pins collide on it when per_host is 1
    policy = tiered_policy([GOLD, WEB])
    policy = policy.model_copy(
        update={"limits": policy.limits.model_copy(update={"per_host": per_host})}
    )
    schedule = _plan(topo, policy, solver)
    assert find_violations(schedule, topo, policy) == []
    tz = policy.tz
    for vm in topo.vms:
        mine = [j for j in schedule.jobs if j.vm == vm.name]
        if vm.pin is None or not mine:
            continue
        assert len(mine) == sum(1 for c in cycle_jobs(topo, policy) if c.vm == vm.name)
        if "T" in vm.pin:
            at = datetime.fromisoformat(vm.pin).replace(tzinfo=tz)
            assert at in {j.start for j in mine}
        else:
            assert {f"{j.start.astimezone(tz):%H:%M}" for j in mine} == {vm.pin}

"""What-if, stable re-planning and the diff on tiered estates: jobs keep their identity
(VM, night, level; a planner-chosen full its block) across a re-plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.cycle import cycle_jobs
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import VM, Topology
from stagger.planner import PlanOptions, plan
from stagger.validate import find_violations, validate
from stagger.whatif import Changes, apply_changes, diff_schedules, replan
from tests.factories import GIB_PER_HOUR, make_policy, make_topology
from tests.tiered import (
    COLD,
    GOLD,
    ROLES,
    WEB,
    scheduled_job,
    tiered_policy,
    tiered_schedule,
    tiered_topology,
)

OPTS = PlanOptions(time_limit_s=5, workers=2)
# Nights 0..6: Tuesday 1 to Monday 7 December 2026; night 3 is Friday.
CRASH_GOLD = {**GOLD, "consistency": "crash"}  # no quiescing overhead: lengths are exact


def _gold_vm(name: str, hours: float = 2.5) -> dict[str, Any]:
    return {
        "name": name,
        "host": "esx01",
        "tags": ["sql"],
        "disks": [{"datastore": "DS-01", "size_gib": GIB_PER_HOUR * hours}],
    }


def _one_host_gold(names: list[str]) -> tuple[Topology, Policy]:
    """Gold VMs on one host that runs one job at a time, in a 6 h window (22:00-04:00): a
    2.5 h VM's full lasts 150 min, its incrementals 15 min."""
    topo = make_topology(vms=[_gold_vm(n) for n in names])
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 7}, limits={"per_host": 1}, tiers=[CRASH_GOLD]
    )
    return topo, policy


def _fulls_on_friday(topo: Topology, policy: Policy) -> Schedule:
    """A valid baseline built by hand: every VM's full on Friday (night 3), the jobs of a
    night one after the other."""
    jobs = []
    used = [0] * 7
    for cj in cycle_jobs(topo, policy):
        if cj.level == "full":
            night = 3
        else:
            taken = {j.night for j in jobs if j.vm == cj.vm}
            night = next(n for n in cj.nights if n != 3 and n not in taken)
        jobs.append(scheduled_job(cj, night, policy, topo, offset_min=used[night]))
        used[night] += jobs[-1].duration_min
    sched = tiered_schedule(jobs, topo, policy)
    validate(sched)
    return sched


def _staggered() -> tuple[Topology, Policy]:
    return _one_host_gold(["sql1", "sql2", "sql3", "sql4"])


def _three_tiers() -> tuple[Topology, Policy]:
    return tiered_topology([*ROLES, "sql2", "sql3"]), tiered_policy([GOLD, WEB, COLD])


@pytest.mark.parametrize("estate", [_staggered, _three_tiers])
def test_an_unchanged_tiered_estate_replanned_from_its_own_plan_moves_nothing(
    estate: Callable[[], tuple[Topology, Policy]],
) -> None:
    topo, policy = estate()
    first = plan(topo, policy, OPTS).schedule
    assert len(first.jobs) > len(topo.vms)  # several jobs per VM
    if estate is _staggered:  # one host, one job at a time: the fulls take distinct nights
        assert len({j.night for j in first.jobs if j.level == "full"}) == 4
    again = replan(topo, policy, first, OPTS)
    assert again.stats.moved == 0 and again.stats.new == 0
    assert again.stats.kept == len(first.jobs)
    diff = diff_schedules(first, again.schedule)
    assert diff.tiered and not diff.moved and not diff.added and not diff.fulls
    assert diff.unchanged == len(first.jobs)


def test_adding_vms_to_gold_moves_a_friday_full_and_the_diff_names_it() -> None:
    topo, policy = _one_host_gold(["sql1", "sql2"])
    base = _fulls_on_friday(topo, policy)
    # Five more gold VMs: their incrementals on Friday (75 min) no longer fit beside two
    # 150-min fulls in 360 min, so one of the fulls has to move.
    changes = Changes(add=[VM.model_validate(_gold_vm(f"sql{i}")) for i in range(3, 8)])
    new_topo, new_pol, _ = apply_changes(topo, policy, changes)
    result = replan(new_topo, new_pol, base, OPTS)
    s = result.schedule
    assert not s.unscheduled and not find_violations(s, new_topo, new_pol)
    diff = diff_schedules(base, s)
    fulls = diff.moved_fulls
    assert [m.vm for m in fulls] in (["sql1"], ["sql2"])
    (moved,) = fulls
    assert moved.old_night == 3 and moved.new_night != 3
    # Its incremental took the freed Friday: one job per night of the block.
    swapped = [m for m in diff.moved if m.vm == moved.vm and m.level == "incremental"]
    assert [(m.old_night, m.new_night) for m in swapped] == [(moved.new_night, 3)]
    assert "one job of a VM per night" in swapped[0].why
    assert result.stats.moved == 2  # the full and its incremental; nothing else
    friday = next(f for f in diff.fulls if f.night == 3)
    assert (friday.old, friday.new) == (2, 1)
    assert len(diff.added) == 5 * 7  # every job of the new VMs


def test_a_vm_removed_from_a_tier_moves_nothing_else() -> None:
    topo, policy = _one_host_gold(["sql1", "sql2", "sql3"])
    base = plan(topo, policy, OPTS).schedule
    new_topo, new_pol, _ = apply_changes(topo, policy, Changes(remove=["sql2"]))
    result = replan(new_topo, new_pol, base, OPTS)
    diff = diff_schedules(base, result.schedule)
    assert diff.removed == ["sql2"] and not diff.moved and not diff.ended
    assert result.stats.moved == 0 and diff.unchanged == len(base.jobs) - 7
    assert {f.night: (f.old, f.new) for f in diff.fulls} == {
        j.night: (1, 0) for j in base.jobs if j.vm == "sql2" and j.level == "full"
    }


def test_a_vm_that_leaves_its_tier_ends_its_tiered_jobs() -> None:
    """sql3 loses its tag: one job per cycle now, the single regime; its other jobs end."""
    topo, policy = _one_host_gold(["sql1", "sql2", "sql3"])
    base = plan(topo, policy, OPTS).schedule
    data = topo.model_dump(mode="json")
    data["vms"][2]["tags"] = []
    moved_topo = Topology.model_validate(data)
    result = replan(moved_topo, policy, base, OPTS)
    assert not find_violations(result.schedule, moved_topo, policy)
    diff = diff_schedules(base, result.schedule)
    assert len([j for j in result.schedule.jobs if j.vm == "sql3"]) == 1
    assert len(diff.ended) + len([a for a in diff.added if a.vm == "sql3"]) >= 6
    assert {j.vm for j in diff.ended} == {"sql3"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hours=st.lists(st.sampled_from([0.5, 1.0, 2.5, 4.0]), min_size=1, max_size=4),
    per_host=st.integers(1, 2),
    change=st.sampled_from(["add", "remove", "grow"]),
    solver=st.sampled_from(["greedy", "cpsat"]),
)
def test_every_tiered_replan_passes_the_validator(
    hours: list[float], per_host: int, change: str, solver: str
) -> None:
    vms = [_gold_vm(f"sql{i}", h) for i, h in enumerate(hours)]
    vms.append({**_gold_vm("misc"), "tags": []})  # one VM of the single regime
    topo = make_topology(vms=vms)
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        limits={"per_host": per_host},
        tiers=[CRASH_GOLD],
    )
    opts = PlanOptions(solver=solver, time_limit_s=2, workers=1)  # type: ignore[arg-type]
    base = plan(topo, policy, opts).schedule
    changes = {
        "add": Changes(add=[VM.model_validate(_gold_vm("new", 1.0))]),
        "remove": Changes(remove=["sql0"]),
        "grow": Changes(grow_pct=20),
    }[change]
    new_topo, new_pol, _ = apply_changes(topo, policy, changes)
    result = replan(new_topo, new_pol, base, opts)
    assert not find_violations(result.schedule, new_topo, new_pol)
    if change == "remove":  # nothing else needs to move
        assert result.stats.moved == 0

"""Compiling a tiered cycle: one instance job per backup run of :func:`cycle_jobs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagger.calendar import window_on_night
from stagger.cycle import cycle_jobs
from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.sources.yamlfile import load_policy, load_topology
from tests.tiered import COLD, GOLD, WEB, tiered_policy, tiered_topology

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("example", ["minimal", "estate"])
def test_examples_compile_to_the_same_instance(example: str) -> None:
    topo = load_topology(ROOT / "examples" / example / "topology.yaml")
    policy = load_policy(ROOT / "examples" / example / "policy.yaml")
    old = compile_instance(topo, policy)
    new = compile_instance(topo, policy)
    assert new == old
    assert all(j.group is None and j.level is None for j in new.jobs)


def _week() -> tuple[Topology, Policy]:
    topo = tiered_topology(["sql1", "web1", "cold1", "misc1"])
    return topo, tiered_policy([GOLD, WEB, COLD])


def test_one_job_per_backup_run_on_its_nights_inside_its_window() -> None:
    topo, policy = _week()
    inst = compile_instance(topo, policy)
    runs = cycle_jobs(topo, policy)
    assert [(j.vm, j.level, j.tier) for j in inst.jobs] == [
        (r.vm, None if r.tier is None else r.level, r.tier) for r in runs
    ]
    assert not inst.unschedulable
    for job, run in zip(inst.jobs, runs, strict=True):
        assert set(job.nights) == set(run.nights)
        assert job.duration * policy.slot_minutes >= run.minutes
        for n in job.nights:
            start, end = window_on_night(run.window, policy, n)
            for lo, hi in job.allowed[n]:
                assert inst.to_datetime(lo) >= start
                assert inst.to_datetime(hi + job.duration) <= end
    # Gold's full and its six incrementals share the week: one group; the rest none.
    gold = [j for j in inst.jobs if j.vm == "sql1"]
    assert len(gold) == 7 and gold[0].level == "full"
    assert {j.group for j in gold} == {0}
    assert all(j.group is None for j in inst.jobs if j.vm != "sql1")


def test_the_cold_window_cuts_starts_off() -> None:
    """cold1's full must run between 01:00 and 05:00 on Sunday (night 5): its starts lie in
    that window only, not in the policy window's 20:00 opening."""
    topo, policy = _week()
    inst = compile_instance(topo, policy)
    (cold,) = [j for j in inst.jobs if j.vm == "cold1"]
    assert cold.nights == [5]
    first = inst.to_datetime(cold.allowed[5][0][0]).astimezone(policy.tz)
    assert (first.hour, first.minute) == (1, 0)


def test_a_vm_with_one_run_that_fits_nowhere_is_unschedulable_whole() -> None:
    """In a 30-minute window web1's Saturday full (150 GiB at 100 MB/s + 5 min + the
    filesystem-consistency minutes: 34 min) does
    not fit, its weekday incrementals (7.5 GiB, listed before it) would: the VM gets
    no job at all."""
    topo = tiered_topology(["misc1", "web1"])
    policy = tiered_policy([{**WEB, "window": {"start": "22:00", "end": "22:30"}}])
    inst = compile_instance(topo, policy)
    assert [j.vm for j in inst.jobs] == ["misc1"]
    assert [vm for vm, _ in inst.unschedulable] == ["web1"]
    assert inst.unschedulable[0][1].startswith("its full job needs 0h34m")


def test_tiered_jobs_of_one_shape_share_their_allowed_starts() -> None:
    """A week of 10,000 VMs compiles 70,000 jobs of a few hundred shapes: each (blackouts,
    window, nights, duration) is cut once and its start ranges shared, as in the single
    regime (the bounds group jobs by that identity, so a copy per job made them scan every
    job alone)."""
    names = [f"sql{i}" for i in range(3)] + [f"misc{i}" for i in range(3)]
    topo = tiered_topology(names)
    policy = tiered_policy([GOLD])
    inst = compile_instance(topo, policy)
    fresh = compile_instance(topo, policy)
    assert inst == fresh
    by_shape: dict[tuple[object, ...], list[int]] = {}
    for j, job in enumerate(inst.jobs):
        by_shape.setdefault((job.tier, job.blackouts, job.allowed, job.duration), []).append(j)
    shared = [js for js in by_shape.values() if len(js) > 1]
    assert shared  # the same VM size makes the gold VMs' jobs alike
    for js in shared:
        assert len({id(inst.jobs[j].allowed) for j in js}) == 1

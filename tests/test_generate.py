"""The benchmark estates (benchmarks/generate.py): old regimes unchanged, new ones as promised."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from benchmarks.generate import RAID_BUSY, EstateSpec, generate, generate_dicts
from stagger.instance import Instance, compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.solve.bounds import lower_bound
from stagger.solve.components import components
from stagger.solve.greedy import solve_greedy

# sha256 (first 16 hex digits) of [topology, policy] as sorted JSON, from the generator
# before the connected and adversarial regimes were added (commit 422bff7).
BEFORE = {
    (300, "datastore", "full", 0): "de1663837a8be333",
    (300, "datastore", "full", 7): "7ded38c2b99208a2",
    (300, "datastore", "incremental", 0): "6136a5f02c99cfd7",
    (300, "datastore", "incremental", 7): "c4fc67e08d1a23e3",
    (300, "balanced", "full", 0): "c8b7ee92a5c6039f",
    (300, "balanced", "full", 7): "917b59247f090bfc",
    (300, "balanced", "incremental", 0): "99674f202dceb27f",
    (300, "balanced", "incremental", 7): "0411e67a7ac4c9f5",
    (3000, "datastore", "full", 0): "65d6e282d96a8633",
    (3000, "datastore", "full", 7): "627b78d52fcb425f",
    (3000, "datastore", "incremental", 0): "bc2145d2f45f1ca5",
    (3000, "datastore", "incremental", 7): "965412b8192872f7",
    (3000, "balanced", "full", 0): "646c2667c6aad6d7",
    (3000, "balanced", "full", 7): "a06ce444e19ef7a2",
    (3000, "balanced", "incremental", 0): "96b059245c8eaf22",
    (3000, "balanced", "incremental", 7): "77f090c794e43c61",
}


def _digest(spec: EstateSpec) -> str:
    topo, pol = generate_dicts(spec)
    return hashlib.sha256(json.dumps([topo, pol], sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_old_regimes_generate_the_same_estates(key: tuple[int, str, str, int]) -> None:
    n, regime, cycle, seed = key
    assert _digest(EstateSpec(n, regime, cycle, seed)) == BEFORE[key]  # type: ignore[arg-type]


HARD = [
    (regime, cycle, seed)
    for regime in ("connected", "adversarial")
    for cycle in ("full", "incremental")
    for seed in (0, 1, 2)
]


@pytest.mark.parametrize(("regime", "cycle", "seed"), HARD)
def test_hard_regimes_can_be_planned_fully(regime: str, cycle: str, seed: int) -> None:
    """No VM unschedulable by construction, no resource with more work than its windows
    hold (the bound fits in a night), and a plan with every job exists: the greedy one."""
    spec = EstateSpec(600, regime, cycle, seed)  # type: ignore[arg-type]
    assert _digest(spec) == _digest(spec)  # deterministic per seed
    topo, pol = generate(spec)
    assert len(topo.vms) == 600
    inst = compile_instance(topo, pol)
    assert inst.unschedulable == []
    night = inst.nights[0].end - inst.nights[0].start
    assert lower_bound(inst).makespan <= night
    assert solve_greedy(inst).dropped == []


@pytest.mark.parametrize(
    ("vms", "cycle"), [(2000, "full"), (2000, "incremental"), (10000, "incremental")]
)
def test_connected_is_one_large_component(vms: int, cycle: str) -> None:
    topo, pol = generate(EstateSpec(vms, "connected", cycle, 0))  # type: ignore[arg-type]
    inst = compile_instance(topo, pol)
    sizes = sorted((len(c) for c in components(inst)), reverse=True)
    # The decomposition cannot split the work: one component holds (nearly) every job.
    assert sizes[0] >= 0.99 * len(inst.jobs), sizes
    # What ties it together: VMs on two RAID groups, groups serving several clusters,
    # capacities above one, global task slots, blackouts per cluster and per host.
    idx = topo.index()
    spanning = sum(1 for v in topo.vms if len(idx.raid_groups_of(v)) > 1)
    assert spanning >= 0.15 * len(topo.vms)
    clusters_of = {
        g.name: {idx.hosts[v.host].cluster for v in topo.vms if g.name in idx.raid_groups_of(v)}
        for g in topo.raid_groups
    }
    assert sum(1 for c in clusters_of.values() if len(c) > 1) >= len(topo.raid_groups) / 2
    assert pol.limits.per_raid_group == 2
    assert any(d.max_jobs and d.max_jobs > 1 for d in topo.datastores)
    assert pol.limits.concurrent_jobs is not None and pol.limits.concurrent_jobs >= 4
    kinds = {b.scope.kind for b in pol.blackouts if b.scope != "global"}
    assert {"cluster", "host"} <= kinds


@pytest.mark.parametrize("cycle", ["full", "incremental"])
def test_adversarial_has_one_raid_group_long_jobs_and_short_blackouts(cycle: str) -> None:
    topo, pol = generate(EstateSpec(2000, "adversarial", cycle, 0))  # type: ignore[arg-type]
    assert len(topo.raid_groups) == 1
    assert set(topo.raid_groups[0].datastores) == {d.name for d in topo.datastores}
    inst = compile_instance(topo, pol)
    assert components(inst) == [list(range(len(inst.jobs)))]
    night = inst.nights[0].end - inst.nights[0].start
    long_jobs = [j for j in inst.jobs if j.duration >= 0.6 * night]
    assert long_jobs and all(j.duration <= 0.95 * night for j in long_jobs)
    short = [
        b
        for b in pol.blackouts
        if b.scope != "global" and b.scope.kind in ("cluster", "host") and b.name != "payroll"
    ]
    assert len(short) >= len(topo.hosts) / 2
    for b in short:
        length = b.duration if b.duration is not None else b.end - b.start  # type: ignore[operator]
        assert timedelta(minutes=15) <= length <= timedelta(minutes=45), b


@pytest.mark.parametrize("regime", ["connected", "adversarial"])
def test_hard_regimes_leave_every_host_room(regime: str) -> None:
    """No host busier than RAID_BUSY of the window time its blackouts leave (times the jobs it
    runs at once): the log-normal tail of VMs per host grows with the estate, and at 50,000
    VMs hosts that ran one job at a time could no longer take theirs (at least 2 VMs had to
    go). At 1,000 VMs one adversarial host was already past that share."""
    topo, pol = generate(EstateSpec(1000, regime, "full", 0))  # type: ignore[arg-type]
    inst = compile_instance(topo, pol)
    for ld in lower_bound(inst).loads:
        res = inst.resources[ld.resource]
        if res.kind == "host":
            assert ld.load <= RAID_BUSY * res.capacity * ld.free, res.name


def test_the_week_is_a_tiered_cycle_over_the_regimes_estate() -> None:
    """--week: the regime's estate unchanged but for tags, change rates and the capacities it
    is sized with (test below), 7 nights, every
    VM an incremental each night and one full; ~10 % gold, ~10 % weekly, the rest default."""
    from collections import Counter

    from benchmarks.generate import week_dicts

    spec = EstateSpec(1000, "balanced", "full", 0)
    base, _ = generate_dicts(spec)
    topo, pol = week_dicts(spec)
    assert [v["disks"] for v in topo["vms"]] == [v["disks"] for v in base["vms"]]
    assert all(0.03 <= v["change_rate"] <= 0.08 for v in topo["vms"])
    policy = Policy.model_validate(pol)
    assert policy.cycle.nights == 7 and policy.cycle.start.weekday() == 0  # a Monday
    inst = compile_instance(Topology.model_validate(topo), policy)
    assert not inst.unschedulable and len(inst.jobs) == 7 * 1000
    tiers = Counter(j.tier for j in inst.jobs if j.level == "full")
    assert 80 <= tiers["gold"] <= 120 and 80 <= tiers["weekly"] <= 120
    assert tiers["default"] == 1000 - tiers["gold"] - tiers["weekly"]
    saturday = 5
    for job in inst.jobs:
        if job.level == "full" and job.tier == "weekly":
            assert job.nights == [saturday]
        elif job.level == "full":
            assert job.nights == list(range(7)) and job.group is not None
    # The baseline with every full on Saturday: the same estate, fulls on night 5 only.
    topo_sat, pol_sat = week_dicts(spec, "saturday")
    assert topo_sat == topo
    fixed = compile_instance(Topology.model_validate(topo_sat), Policy.model_validate(pol_sat))
    assert {tuple(j.nights) for j in fixed.jobs if j.level == "full"} <= {(saturday,), ()}


def test_round_robin_pins_the_chosen_fulls_to_night_i_mod_7() -> None:
    from benchmarks.generate import generate_week
    from benchmarks.week import round_robin

    inst = compile_instance(*generate_week(EstateSpec(60, "balanced", "full", 0)))
    rr = round_robin(inst)
    chosen = [j for j, job in enumerate(inst.jobs) if job.level == "full" and job.group is not None]
    for i, j in enumerate(chosen):
        assert rr.jobs[j].nights == [i % 7]
    assert all(rr.jobs[j] is inst.jobs[j] for j in range(len(inst.jobs)) if j not in chosen)
    sol = solve_greedy(rr)
    assert not sol.dropped
    for i, j in enumerate(chosen):
        assert rr.night_of(sol.starts[j]) == i % 7


def _night_free_slots(inst: Instance, r: int, n: int) -> int:
    night = inst.nights[n]
    blocked = inst.resource_blocked.get(r, [])
    cut = sum(max(0, min(e, night.end) - max(s, night.start)) for s, e in blocked)
    return night.end - night.start - cut


def test_the_week_is_sized_so_every_nights_jobs_fit() -> None:
    """The week's estate is sized for its nights: every host's smallest jobs of each night
    (one per VM: an incremental, or the weekly tier's Saturday full) fit in its capacity x the
    free time its blackouts leave that night, and with the staggered fulls spread evenly
    (a seventh of each one's slots beyond an incremental) keep it at most RAID_BUSY of it
    busy; the greedy planner leaves no VM out. Before, the overlay kept the regime's
    capacities: at 1,000 VMs host CL0004-esx00 was past that share on some night, and at
    10,000 host CL0033-esx01 (44 VMs, the month-end payroll blackout on night 0) could not
    fit its night-0 incrementals."""
    from benchmarks.generate import generate_week

    inst = compile_instance(*generate_week(EstateSpec(1000, "balanced", "full", 0)))
    jobs_of_vm: dict[str, list[int]] = {}
    for j, job in enumerate(inst.jobs):
        jobs_of_vm.setdefault(job.vm, []).append(j)
    # A full that may take any night: its slots beyond the VM's incremental, a seventh a night.
    spread: dict[int, float] = {}
    for members in jobs_of_vm.values():
        jobs = [inst.jobs[j] for j in members]
        for job in jobs:
            if job.level == "full" and job.group is not None:
                extra = job.duration - min(o.duration for o in jobs if o.level == "incremental")
                for r in job.resources:
                    spread[r] = spread.get(r, 0) + extra / 7
    for n in range(len(inst.nights)):
        need: dict[int, int] = {}
        for members in jobs_of_vm.values():
            tonight = [inst.jobs[j] for j in members if inst.jobs[j].allowed[n]]
            smallest = min(tonight, key=lambda job: job.duration)
            for r in smallest.resources:
                need[r] = need.get(r, 0) + smallest.duration
        for r, slots in need.items():
            res = inst.resources[r]
            if res.kind == "host":
                free = _night_free_slots(inst, r, n)
                assert slots <= res.capacity * free, (res.name, n, slots, free)
                room = RAID_BUSY * res.capacity * free
                assert slots + spread.get(r, 0) <= room, (res.name, n, slots, room)
    sol = solve_greedy(inst)
    assert not sol.dropped

"""Re-planning, diff and drift with backup infrastructure (issue 15, round 2).

The estate: a0..a3 in cluster C1, b0, b1 in C2, each VM on a host and datastore of its own;
n0, n1 (C1) are the VMs a what-if adds. Lengths (tests/test_plan_infra.py): 843.75 GiB is
60 min in hotadd (240 MB/s), 120 min in nbd (120 MB/s); the window is 20:00-06:00.
"""

from __future__ import annotations

from typing import Any

import pytest

import stagger.whatif as whatif_module
from stagger.errors import InputError
from stagger.instance import compile_instance, fix_options
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve.baseline import map_baseline
from stagger.solve.stability import solve_stable
from stagger.validate import validate
from stagger.whatif import Changes, Move, apply_changes, diff_schedules, find_drift, replan
from tests.test_plan_infra import HOUR_AT_240, _estate, _infra, _policy, _vm

PROXIES: list[dict[str, Any]] = [
    {"name": "prx-a1", "max_tasks": 2, "modes": ["hotadd", "nbd"], "reaches": {"cluster": "C1"}},
    {"name": "prx-b", "max_tasks": 2, "modes": ["hotadd"], "reaches": {"cluster": "C2"}},
    {"name": "prx-any", "max_tasks": 4, "modes": ["nbd"]},
]
REPOS: list[dict[str, Any]] = [
    {"name": "repo-1", "max_tasks": 100, "ingest_mb_per_s": 100_000},
    {"name": "repo-2", "max_tasks": 100, "ingest_mb_per_s": 100_000},
]
OPTS = PlanOptions(seed=1)


def _full() -> Topology:
    """Every VM, the added ones (n0, n1) too."""
    vms = [_vm(f"a{i}", HOUR_AT_240) for i in range(4)]
    vms += [_vm(f"b{i}", HOUR_AT_240, "C2") for i in range(2)]
    vms += [_vm(f"n{i}", HOUR_AT_240) for i in range(2)]
    return _estate(*vms)


def _baseline_estate(pol: Policy) -> Topology:
    return apply_changes(_full(), pol, Changes(remove=["n0", "n1"]))[0]


def _infra_of(proxies: list[dict[str, Any]] | None = None) -> Infrastructure:
    return _infra(proxies if proxies is not None else PROXIES, REPOS)


def _baseline(infra: Infrastructure | None = None) -> tuple[Topology, Policy, Schedule]:
    pol = _policy()
    topo = _baseline_estate(pol)
    sched = plan(topo, pol, OPTS, infrastructure=infra or _infra_of()).schedule
    assert {j.proxy for j in sched.jobs} >= {"prx-a1", "prx-b"}
    return topo, pol, sched


def _assignment(sched: Schedule) -> dict[str, tuple[Any, ...]]:
    return {j.vm: (j.start, j.proxy, j.mode, j.repository) for j in sched.jobs}


def test_unchanged_estate_moves_nothing_and_keeps_every_assignment() -> None:
    topo, pol, base = _baseline()
    res = replan(topo, pol, base, OPTS)
    validate(res.schedule, topo, pol)
    assert res.schedule.inputs.infrastructure == base.inputs.infrastructure
    assert _assignment(res.schedule) == _assignment(base)
    assert (res.stats.moved, res.stats.reassigned, res.stats.kept) == (0, 0, len(base.jobs))
    diff = diff_schedules(base, res.schedule)
    assert (diff.moved, diff.unchanged, diff.reassigned) == ([], len(base.jobs), [])


def test_added_vms_keep_old_assignments_and_plan_the_new_ones() -> None:
    _, pol, base = _baseline()
    full = _full()
    res = replan(full, pol, base, OPTS)
    validate(res.schedule, full, pol)
    new = _assignment(res.schedule)
    old = _assignment(base)
    assert {vm: new[vm] for vm in old} == old
    assert res.stats.moved == 0 and res.stats.new == 2
    for vm in ("n0", "n1"):  # C1: prx-a1 or prx-any, into a repository
        assert new[vm][1] in ("prx-a1", "prx-any") and new[vm][3] in ("repo-1", "repo-2")
    diff = diff_schedules(base, res.schedule)
    assert sorted(j.vm for j in diff.added) == ["n0", "n1"]
    assert diff.moved == []


def test_a_removed_proxy_moves_exactly_its_jobs_and_says_so() -> None:
    """The file given wins over the baseline's own: without prx-b, b0 and b1 go to
    prx-any (nbd); every other job keeps its start and its option."""
    topo, pol, base = _baseline()
    on_b = sorted(j.vm for j in base.jobs if j.proxy == "prx-b")
    assert on_b == ["b0", "b1"]
    smaller = _infra_of([p for p in PROXIES if p["name"] != "prx-b"])
    res = replan(topo, pol, base, OPTS, infrastructure=smaller)
    validate(res.schedule, topo, pol)
    assert res.schedule.inputs.infrastructure == smaller
    new, old = _assignment(res.schedule), _assignment(base)
    assert {vm for vm in old if new[vm] != old[vm]} == set(on_b)
    assert {new[vm][1:3] for vm in on_b} == {("prx-any", "nbd")}
    assert (res.stats.moved, res.stats.reassigned, res.stats.forced) == (2, 2, 2)
    diff = diff_schedules(base, res.schedule)
    assert sorted(m.vm for m in diff.reassigned) == on_b
    assert sorted(m.vm for m in diff.moved) == on_b
    m = diff.reassigned[0]
    assert m.reassignment.startswith("prx-b (hotadd) -> prx-any (nbd)")
    assert "proxy prx-b is no longer in the infrastructure file" in m.why


def test_a_vm_moved_where_no_proxy_reaches_is_an_error() -> None:
    """prx-b reaches only esx-b0's VMs here and there is no prx-any: a0 moved to esx-b1
    (cluster C2) has no proxy, an error as in ``plan``."""
    only = [
        PROXIES[0],
        {"name": "prx-b", "max_tasks": 2, "modes": ["hotadd"], "reaches": {"cluster": "C2"}},
    ]
    topo, pol, base = _baseline(_infra_of(only))
    narrow = _infra_of([PROXIES[0], {**only[1], "reaches": {"host": "esx-b0"}}])
    moved, _, _ = apply_changes(topo, pol, Changes(move=[Move("b1", "esx-b0")]))
    replan(moved, pol, base, OPTS, infrastructure=narrow)  # b1 on esx-b0 is reached
    away, _, _ = apply_changes(topo, pol, Changes(move=[Move("a0", "esx-b1")]))
    with pytest.raises(InputError, match=r"vm 'a0': no proxy reaches it"):
        replan(away, pol, base, OPTS, infrastructure=narrow)


def test_replan_with_infrastructure_is_deterministic() -> None:
    _, pol, base = _baseline()
    smaller = _infra_of([p for p in PROXIES if p["name"] != "prx-b"])
    a = replan(_full(), pol, base, OPTS, infrastructure=smaller).schedule
    b = replan(_full(), pol, base, OPTS, infrastructure=smaller).schedule
    assert a.model_dump_json() == b.model_dump_json()


def test_a_vm_its_proxy_no_longer_reaches_is_drift() -> None:
    topo, pol, base = _baseline()
    vm = next(j.vm for j in base.jobs if j.proxy == "prx-a1")
    away, _, _ = apply_changes(topo, pol, Changes(move=[Move(vm, "esx-b0")]))
    drift = {(d.vm, d.kind): d.detail for d in find_drift(base, away)}
    assert "no longer reaches it (now host 'esx-b0', cluster 'C2'" in drift[(vm, "proxy")]
    assert (vm, "host") in drift
    # A VM on prx-any (it reaches every VM) moved too: host drift only.
    if any(j.proxy == "prx-any" for j in base.jobs):
        other = next(j.vm for j in base.jobs if j.proxy == "prx-any")
        away, _, _ = apply_changes(topo, pol, Changes(move=[Move(other, "esx-b0")]))
        assert [d.kind for d in find_drift(base, away)] == ["host"]
    # b0 moved within C2 on to a host prx-b still reaches: no proxy drift.
    within, _, _ = apply_changes(topo, pol, Changes(move=[Move("b0", "esx-b1")]))
    assert [d.kind for d in find_drift(base, within)] == ["host"]
    # A proxy gone from the file given.
    gone = _infra_of([p for p in PROXIES if p["name"] != "prx-b"])
    kinds = {(d.vm, d.kind) for d in find_drift(base, topo, infrastructure=gone)}
    assert kinds == {("b0", "proxy"), ("b1", "proxy")}


def _pinned_case() -> tuple[Topology, Policy, Schedule, Infrastructure]:
    """b0 lasts the whole window (600 min, only prx-b): the bound over every choice is 600
    min, met by any plan that fits. a0 (only prx-a1, 1 slot) runs 20:00-21:00; n0, added,
    is pinned at 20:00 and may use prx-a1 (hotadd) or prx-any (nbd, 1 slot, reaches n0 only).
    prx-any comes with n0: the baseline is planned without it (a proxy that reaches no VM is
    refused), the re-plan gets the whole file (as `whatif --infra`)."""
    pol = _policy()
    full = _estate(
        _vm("a0", HOUR_AT_240),
        _vm("b0", 10 * HOUR_AT_240, "C2"),
        _vm("n0", HOUR_AT_240, pin="20:00"),
    )
    infra = _infra(
        [
            {"name": "prx-a1", "max_tasks": 1, "modes": ["hotadd"], "reaches": {"cluster": "C1"}},
            {"name": "prx-b", "max_tasks": 1, "modes": ["hotadd"], "reaches": {"cluster": "C2"}},
            {"name": "prx-any", "max_tasks": 1, "modes": ["nbd"], "reaches": {"host": "esx-n0"}},
        ],
        REPOS[:1],
    )
    topo = apply_changes(full, pol, Changes(remove=["n0"]))[0]
    before = infra.model_copy(update={"proxies": infra.proxies[:2]})
    base = plan(topo, pol, OPTS, infrastructure=before).schedule
    assert [(j.vm, j.proxy, f"{j.start.astimezone(pol.tz):%H:%M}") for j in base.jobs] == [
        ("a0", "prx-a1", "20:00"),
        ("b0", "prx-b", "20:00"),
    ]
    return full, pol, base, infra


def test_a_new_job_chooses_around_the_kept_ones_and_a_floor_plan_is_optimal() -> None:
    """The kept a0 holds prx-a1 at 20:00, so the pinned n0 takes prx-any: nothing moves,
    the makespan meets the bound over every choice: OPTIMAL is a fact."""
    full, pol, base, infra = _pinned_case()
    res = replan(full, pol, base, OPTS, infrastructure=infra)
    validate(res.schedule, full, pol)
    n0 = next(j for j in res.schedule.jobs if j.vm == "n0")
    assert (n0.proxy, n0.mode) == ("prx-any", "nbd")
    assert res.stats.moved == 0
    assert res.schedule.solver.status == "OPTIMAL"


def test_a_proof_on_the_chosen_options_alone_is_not_reported_optimal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The choice forced badly on purpose: n0 on prx-a1, so a0 must leave 20:00. On that
    choice the stability solver proves one move the least and the makespan meets the bound;
    another choice moves nothing, so the schedule must not say OPTIMAL."""
    full, pol, base, infra = _pinned_case()
    real = whatif_module.choose_options

    def on_a1(inst: Any, base_map: Any, kept: dict[int, int]) -> dict[int, int]:
        out = real(inst, base_map, kept)
        for j, job in enumerate(inst.jobs):
            if job.vm == "n0":
                out[j] = next(k for k, o in enumerate(job.options) if o.proxy == "prx-a1")
        return out

    monkeypatch.setattr(whatif_module, "choose_options", on_a1)
    res = replan(full, pol, base, OPTS, infrastructure=infra)
    validate(res.schedule, full, pol)
    assert res.stats.moved == 1
    assert res.schedule.solver.status == "FEASIBLE"


def test_the_stability_solver_refuses_options_not_fixed() -> None:
    topo, pol, base = _baseline()
    inst = compile_instance(topo, pol, infrastructure=_infra_of())
    with pytest.raises(ValueError, match="fixed options only"):
        solve_stable(inst, map_baseline(inst, base))
    fixed = fix_options(inst, {})
    assert solve_stable(fixed, map_baseline(fixed, base)).solution.starts


def test_a_tiered_estate_keeps_each_jobs_assignment() -> None:
    """Two nights, a nightly full for every VM: two jobs per VM, each continuing its own
    baseline job (VM, night, level) with its own option."""
    pol = _policy(
        cycle={"start": "2026-12-01", "nights": 2},
        tiers=[
            {"name": "all", "match": {"default": True}, "full": {"every": 1}, "incremental": "none"}
        ],
    )
    topo = _baseline_estate(pol)
    base = plan(topo, pol, OPTS, infrastructure=_infra_of()).schedule
    assert len(base.jobs) == 2 * len(topo.vms)
    smaller = _infra_of([p for p in PROXIES if p["name"] != "prx-b"])
    res = replan(topo, pol, base, OPTS, infrastructure=smaller)
    validate(res.schedule, topo, pol)
    key = {(j.vm, j.night): (j.start, j.proxy, j.mode) for j in base.jobs}
    now = {(j.vm, j.night): (j.start, j.proxy, j.mode) for j in res.schedule.jobs}
    assert {k for k in key if now[k] != key[k]} == {k for k in key if key[k][1] == "prx-b"}
    assert res.stats.reassigned == 4
    diff = diff_schedules(base, res.schedule)
    assert sorted((m.vm, m.old_night) for m in diff.reassigned) == sorted(
        k for k in key if key[k][1] == "prx-b"
    )

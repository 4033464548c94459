"""Decomposition, the global concurrency limit across components, determinism, bound validity,
and the property that every schedule the planner returns passes the validator."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import EstateSpec, generate, generate_dicts
from stagger.instance import Instance, compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve.bounds import lower_bound
from stagger.solve.component import ComponentTask, _repaired_hint, solve_component
from stagger.solve.components import components, natural_parallelism, sub_instance
from stagger.solve.cpsat import solve_cpsat
from stagger.solve.decompose import DecomposeStats, _critical_first, _Rounds, solve_decomposed
from stagger.solve.greedy import solve_greedy
from stagger.solve.profiles import profile_steps, squeeze_profiles
from stagger.solve.solution import night_spans
from stagger.validate import find_violations
from tests.factories import make_policy, make_topology


def _vm(name: str, host: str, *stores: str, size: float = 100.0) -> dict[str, Any]:
    return {
        "name": name,
        "host": host,
        "disks": [{"datastore": d, "size_gib": size} for d in stores],
    }


def _estate() -> Topology:
    # a,b share esx1; c is alone on esx2/DS-3; d,e are joined through RAID group RG (DS-4, DS-5).
    return make_topology(
        clusters=[{"name": "C1"}],
        hosts=[{"name": f"esx{i}", "cluster": "C1"} for i in range(1, 6)],
        datastores=[{"name": f"DS-{i}"} for i in range(1, 6)],
        raid_groups=[{"name": "RG", "datastores": ["DS-4", "DS-5"]}],
        vms=[
            _vm("a", "esx1", "DS-1"),
            _vm("b", "esx1", "DS-2"),
            _vm("c", "esx2", "DS-3"),
            _vm("d", "esx3", "DS-4"),
            _vm("e", "esx4", "DS-5"),
        ],
    )


def _names(inst: Instance, groups: list[list[int]]) -> list[set[str]]:
    return [{inst.jobs[j].vm for j in g} for g in groups]


def test_components_follow_shared_host_datastore_and_raid_group() -> None:
    inst = compile_instance(_estate(), make_policy(limits={"concurrent_jobs": 2}))
    groups = components(inst)
    assert sorted(map(sorted, _names(inst, groups))) == [["a", "b"], ["c"], ["d", "e"]]
    # Every job in exactly one component; the concurrency resource joins nothing.
    assert sorted(j for g in groups for j in g) == list(range(len(inst.jobs)))


def test_sub_instance_keeps_jobs_and_drops_the_global_resource() -> None:
    inst = compile_instance(_estate(), make_policy(limits={"concurrent_jobs": 2}))
    g = next(g for g in components(inst) if len(g) == 2 and inst.jobs[g[0]].vm == "d")
    sub = sub_instance(inst, g)
    assert [j.vm for j in sub.jobs] == ["d", "e"]
    assert {r.kind for r in sub.resources} == {"host", "datastore", "raid_group"}
    assert natural_parallelism(sub) == 1  # both need the RAID group of capacity 1


def _usage(inst: Instance, starts: dict[int, int]) -> np.ndarray:
    use = np.zeros(inst.horizon + 1, dtype=int)
    for j, s in starts.items():
        use[s : s + inst.jobs[j].duration] += 1
    return use


def _tight_instance() -> Instance:
    topo, pol = generate_dicts(EstateSpec(400, "balanced", "incremental", seed=3))
    pol["limits"]["concurrent_jobs"] = 4
    return compile_instance(Topology.model_validate(topo), Policy.model_validate(pol))


def test_component_solve_respects_its_concurrency_profile() -> None:
    inst = _tight_instance()
    g = max(components(inst), key=len)
    sub = sub_instance(inst, g)
    hint = solve_greedy(sub)
    # Allow 2 jobs at once in the first half of the horizon, 1 in the second.
    half = sub.horizon // 2
    profile = ((0, half, 2), (half, sub.horizon + 1, 1))
    # The greedy hint may break the profile: CP-SAT must still honour it (or return nothing
    # better than a hint it then reports as such).
    task = ComponentTask(0, sub, hint.starts, tuple(hint.dropped), profile, 2.0, 0, 2)
    res = solve_component(task)
    if res.status in ("OPTIMAL", "FEASIBLE"):
        use = _usage(sub, res.starts)
        assert use[:half].max(initial=0) <= 2
        assert use[half:].max(initial=0) <= 1


def test_span_only_solve_keeps_its_profile_and_never_worsens_the_makespan() -> None:
    # Round two minimises the worst night alone, under the residual capacity the other
    # components leave (here: the hint's own usage plus one, so the hint itself fits).
    inst = _tight_instance()
    g = max(components(inst), key=len)
    sub = sub_instance(inst, g)
    hint = solve_greedy(sub)
    assert not hint.dropped
    cap = _usage(sub, hint.starts) + 1
    steps = []
    lo = 0
    for t in range(1, len(cap) + 1):
        if t == len(cap) or cap[t] != cap[lo]:
            steps.append((lo, t, int(cap[lo])))
            lo = t
    task = ComponentTask(0, sub, hint.starts, (), tuple(steps), 2.0, 0, 2, span_only=True)
    res = solve_component(task)
    assert res.status in ("OPTIMAL", "FEASIBLE")
    assert not res.dropped
    assert (_usage(sub, res.starts) <= cap).all()
    assert max(night_spans(sub, res.starts)) <= max(night_spans(sub, hint.starts))


def _capped_task(conc: int, budget_s: float) -> tuple[Instance, ComponentTask]:
    """Round zero's squeezed case: the warm start breaks the task-slot profile (it runs 8 jobs
    at once, the profile allows ``conc``), every night capped at the warm start's worst night."""
    inst = _tight_instance()
    sub = sub_instance(inst, max(components(inst), key=len))
    hint = solve_greedy(sub)
    assert not hint.dropped and _usage(sub, hint.starts).max() == 8
    cap = max(night_spans(sub, hint.starts))
    profile = profile_steps(np.full(sub.horizon + 1, conc))
    return sub, ComponentTask(
        0, sub, hint.starts, (), profile, budget_s, 0, 2, target=1, span_only=True, span_cap=cap
    )


def _assert_meets_task(sub: Instance, task: ComponentTask, starts: dict[int, int]) -> None:
    conc = task.concurrency[0][2] if task.concurrency else len(sub.jobs)
    assert _usage(sub, starts).max(initial=0) <= conc
    assert max(night_spans(sub, starts), default=0) <= task.span_cap
    for j, s in starts.items():
        assert any(lo <= s <= hi for spans in sub.jobs[j].allowed for lo, hi in spans)
    for r, res in enumerate(sub.resources):
        on_r = {j: s for j, s in starts.items() if r in sub.jobs[j].resources}
        assert _usage(sub, on_r).max(initial=0) <= (res.capacity or len(sub.jobs))


def test_repaired_hint_meets_the_cap_the_profile_and_every_resource() -> None:
    for conc in (4, 6, 7, 8):
        sub, task = _capped_task(conc, 1.0)
        repaired = _repaired_hint(task)
        _assert_meets_task(sub, task, repaired.starts)
        assert sorted([*repaired.starts, *repaired.dropped]) == list(range(len(sub.jobs)))
        if conc == 8:
            assert not repaired.dropped  # the warm start itself fits


def test_capped_solve_finds_a_plan_when_its_warm_start_breaks_the_profile() -> None:
    # Without a valid hint (the warm start breaks the profile, so it may not be hinted) this
    # model returned UNKNOWN in its budget; the repaired warm start gives it a starting point.
    sub, task = _capped_task(7, 0.2)
    res = solve_component(task)
    assert res.status in ("OPTIMAL", "FEASIBLE")
    _assert_meets_task(sub, task, res.starts)


def test_decomposed_solve_keeps_a_binding_global_limit() -> None:
    # Two task slots for the whole estate: every component's profile binds, in both rounds.
    topo, pol = generate_dicts(EstateSpec(400, "balanced", "incremental", seed=3))
    pol["limits"]["concurrent_jobs"] = 2
    inst = compile_instance(Topology.model_validate(topo), Policy.model_validate(pol))
    assert len(components(inst)) > 1
    order = sorted(range(len(inst.jobs)), key=lambda j: (inst.jobs[j].duration, inst.jobs[j].vm))
    start = solve_greedy(inst, order)
    sol, stats = solve_decomposed(inst, start, time_limit_s=2.0, seed=0, workers=2, processes=1)
    assert stats.solved
    assert _usage(inst, sol.starts).max() <= 2
    assert (len(sol.dropped), max(night_spans(inst, sol.starts))) <= (
        len(start.dropped),
        max(night_spans(inst, start.starts)),
    )


def _full_instance() -> Instance:
    topo, pol = generate_dicts(EstateSpec(400, "balanced", "full", seed=3))
    pol["limits"]["concurrent_jobs"] = 6
    return compile_instance(Topology.model_validate(topo), Policy.model_validate(pol))


def test_squeeze_profiles_make_room_for_the_fixed_components() -> None:
    # The largest component re-planned with twice its task slots overflows the global limit:
    # the others' profiles give up exactly enough for every combination to fit again.
    inst = _full_instance()
    cap = next(r.capacity or 0 for r in inst.resources if r.kind == "concurrent")
    groups = components(inst)
    big = max(range(len(groups)), key=lambda k: len(groups[k]))
    starts = dict(solve_greedy(inst).starts)
    for j in groups[big][::2]:
        starts[j] = max(0, starts[j] - 1)  # crowd it: the plan may now exceed the limit
    profiles = squeeze_profiles(inst, groups, starts, [big], cap)
    total = _usage(inst, {j: starts[j] for j in groups[big]})
    if total.max() > cap:
        assert profiles is None  # no room to make
        return
    assert profiles is not None
    for k, g in enumerate(groups):
        if k == big:
            continue
        own = _usage(inst, {j: starts[j] for j in g if j in starts})
        if k in profiles:
            assert (profiles[k] < own).any()
            total = total + profiles[k]
        else:
            total = total + own
    assert (total <= cap).all()


def test_critical_first_keeps_the_global_limit_and_reaches_the_floor_or_nothing() -> None:
    inst = _full_instance()
    cap = next(r.capacity or 0 for r in inst.resources if r.kind == "concurrent")
    conc = next(r for r, res in enumerate(inst.resources) if res.kind == "concurrent")
    groups = components(inst)
    start = solve_greedy(inst)
    assert not start.dropped
    subs = {k: sub_instance(inst, g) for k, g in enumerate(groups)}
    floor = max(lower_bound(s).makespan for s in subs.values())
    critical = [k for k, s in subs.items() if lower_bound(s).makespan == floor]
    starts = dict(start.starts)
    status: dict[int, str] = {}
    stats = DecomposeStats()
    rounds = _Rounds(
        inst, groups, subs, {}, starts, set(), conc, 0, 0, 2, 1, status, stats, lambda: None
    )
    used = _critical_first(rounds, critical, floor, conc, (2.0, 2.0))
    assert used > 0 and stats.solved
    assert _usage(inst, starts).max() <= cap
    assert set(starts) == set(range(len(inst.jobs)))
    if all(status.get(k) == "OPTIMAL" for k in critical):
        for k in critical:
            local = {j: starts[gj] for j, gj in enumerate(groups[k])}
            assert max(night_spans(subs[k], local)) <= floor
    else:
        assert starts == start.starts  # all or nothing


def test_decomposed_solve_keeps_the_global_limit() -> None:
    inst = _tight_instance()
    cap = next(r.capacity for r in inst.resources if r.kind == "concurrent")
    assert len(components(inst)) > 1
    # A poor warm start (shortest first) leaves components above their bounds to re-solve.
    order = sorted(range(len(inst.jobs)), key=lambda j: (inst.jobs[j].duration, inst.jobs[j].vm))
    start = solve_greedy(inst, order)
    assert _usage(inst, start.starts).max() <= cap
    sol, stats = solve_decomposed(inst, start, time_limit_s=2.0, seed=0, workers=2, processes=1)
    assert stats.solved, "some component should have been re-solved"
    assert _usage(inst, sol.starts).max() <= cap
    assert set(sol.starts) | set(sol.dropped) == set(range(len(inst.jobs)))
    before = (len(start.dropped), max(night_spans(inst, start.starts)))
    assert (len(sol.dropped), max(night_spans(inst, sol.starts))) <= before


def _plan_starts(topo: Topology, pol: Policy, seed: int, processes: int) -> list[tuple[str, str]]:
    # A deterministic budget, no wall-clock limit: the plan may not depend on the machine's load.
    opts = PlanOptions(deterministic_budget=0.2, seed=seed, workers=2, processes=processes)
    res = plan(topo, pol, opts)
    return [(j.vm, j.start.isoformat()) for j in res.schedule.jobs]


def test_same_inputs_and_seed_give_the_same_schedule() -> None:
    topo, pol = generate(EstateSpec(300, "datastore", "incremental", seed=1))
    first = _plan_starts(topo, pol, 0, processes=2)
    assert first == _plan_starts(topo, pol, 0, processes=2)
    # The budget is deterministic, so the pool size does not change the plan either.
    assert first == _plan_starts(topo, pol, 0, processes=1)


def test_benchmark_estate_plans_validly() -> None:
    topo, pol = generate(EstateSpec(400, "balanced", "full", seed=2))
    res = plan(topo, pol, PlanOptions(time_limit_s=2.0, workers=2))
    assert find_violations(res.schedule, topo, pol) == []
    assert res.schedule.lower_bound_min <= res.schedule.makespan_min
    assert not res.schedule.unscheduled


# --- bound validity on tiny instances solved to optimality ----------------------------------

durations = st.integers(min_value=20, max_value=400)  # GiB at 100 MB/s: ~4-70 min


@st.composite
def tiny_estates(draw: st.DrawFn) -> tuple[Topology, Policy]:
    n_hosts = draw(st.integers(1, 3))
    n_ds = draw(st.integers(1, 3))
    n_vms = draw(st.integers(1, 6))
    vms = []
    for i in range(n_vms):
        stores = draw(
            st.lists(st.integers(0, n_ds - 1), min_size=1, max_size=min(2, n_ds), unique=True)
        )
        vms.append(
            {
                "name": f"vm{i}",
                "host": f"esx{draw(st.integers(0, n_hosts - 1))}",
                "disks": [{"datastore": f"DS-{d}", "size_gib": draw(durations)} for d in stores],
            }
        )
    raid = (
        [{"name": "RG", "datastores": ["DS-0", "DS-1"]}]
        if n_ds >= 2 and draw(st.booleans())
        else []
    )
    topo = make_topology(
        clusters=[{"name": "C1"}],
        hosts=[{"name": f"esx{i}", "cluster": "C1"} for i in range(n_hosts)],
        datastores=[{"name": f"DS-{i}"} for i in range(n_ds)],
        raid_groups=raid,
        vms=vms,
    )
    blackouts = []
    if draw(st.booleans()):
        blackouts.append(
            {
                "name": "av",
                "scope": {"host": "esx0"},
                "start": "2026-12-01T20:30",
                "end": f"2026-12-01T{draw(st.integers(21, 22))}:00",
            }
        )
    pol = make_policy(
        window={"start": "20:00", "end": draw(st.sampled_from(["22:00", "23:00", "02:00"]))},
        cycle={"start": "2026-12-01", "nights": draw(st.integers(1, 2))},
        limits={
            "concurrent_jobs": draw(st.integers(1, 3)),
            "per_host": draw(st.integers(1, 2)),
        },
        blackouts=blackouts,
    )
    return topo, pol


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_estates())
def test_lower_bound_never_exceeds_the_optimum(estate: tuple[Topology, Policy]) -> None:
    topo, pol = estate
    inst = compile_instance(topo, pol)
    if not inst.jobs:
        return
    greedy = solve_greedy(inst)
    if greedy.dropped:
        return  # the bound is about plans that place every job
    res = solve_cpsat(inst, greedy, time_limit_s=60.0, seed=0, workers=2)
    assert res.status == "OPTIMAL"
    assert lower_bound(inst).makespan <= max(night_spans(inst, res.solution.starts))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_estates(), st.sampled_from(["cpsat", "greedy"]))
def test_every_planned_schedule_passes_the_validator(
    estate: tuple[Topology, Policy], solver: str
) -> None:
    topo, pol = estate
    opts = PlanOptions(solver="cpsat" if solver == "cpsat" else "greedy", time_limit_s=1.0)
    opts.workers = 2
    res = plan(topo, pol, opts)  # plan() validates too; check independently here
    assert find_violations(res.schedule, topo, pol) == []
    planned = {j.vm for j in res.schedule.jobs} | {u.vm for u in res.schedule.unscheduled}
    assert planned == {v.name for v in topo.vms}


def test_progress_reports_best_makespan_and_our_bound() -> None:
    topo, pol = generate(EstateSpec(300, "balanced", "incremental", seed=4))
    calls: list[tuple[int, float, float]] = []
    opts = PlanOptions(
        time_limit_s=1.0, workers=2, progress=lambda s, w, b: calls.append((s, w, b))
    )
    res = plan(topo, pol, opts)
    slot = pol.slot_minutes
    assert calls, "progress is reported at least once (the warm start)"
    assert all(b == res.bound.makespan for _, _, b in calls)
    assert calls[-1][0] * slot == res.schedule.makespan_min
    # Never worse than the warm start: spans reported only go down.
    spans = [s for s, _, _ in calls]
    assert spans == sorted(spans, reverse=True)


def test_best_of_greedy_orders_is_valid_and_no_worse() -> None:
    from stagger.solve.greedy import solve_greedy_best

    topo, pol = generate(EstateSpec(600, "balanced", "full", seed=5))
    inst = compile_instance(topo, pol)
    plain = solve_greedy(inst)
    best = solve_greedy_best(inst, components(inst))
    key = (len(best.dropped), max(night_spans(inst, best.starts)))
    assert key <= (len(plain.dropped), max(night_spans(inst, plain.starts)))
    assert set(best.starts) | set(best.dropped) == set(range(len(inst.jobs)))
    for r, res in enumerate(inst.resources):
        members = {j: s for j, s in best.starts.items() if r in inst.jobs[j].resources}
        assert _usage(inst, members).max(initial=0) <= res.capacity
    for j, s in best.starts.items():
        assert any(inst.jobs[j].can_start(n, s) for n in range(len(inst.nights)))

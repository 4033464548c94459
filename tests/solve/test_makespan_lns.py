"""The makespan neighbourhood search (issue 13): valid, better than the greedy, deterministic,
interruptible, and within every limit (the global task slots included)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from stagger import planner
from stagger.instance import Instance, Job, NightSlots, Resource, compile_instance
from stagger.model.schedule import SolverInfo
from stagger.planner import PlanOptions, build_schedule, plan
from stagger.solve.bounds import lower_bound
from stagger.solve.component import ComponentTask, solve_component
from stagger.solve.greedy import solve_greedy
from stagger.solve.makespan_lns import MakespanLns
from stagger.solve.profiles import running_jobs
from stagger.solve.solution import Solution, makespan_slots
from stagger.validate import validate
from tests.factories import GIB_PER_HOUR, make_policy, make_topology
from tests.solve.crosscheck import estates

NIGHT_SLOTS = 12


def _instance(durations: list[int], raid_cap: int, conc: int = 0) -> Instance:
    """One RAID group of capacity ``raid_cap`` holding every job, each job on a host and a
    datastore of its own (so one component), one night of 12 one-hour slots; ``conc`` > 0: the
    global task-slot resource too."""
    resources = [Resource("raid_group", "RG", raid_cap)]
    jobs = []
    for i, d in enumerate(durations):
        resources += [Resource("host", f"h{i}", 1), Resource("datastore", f"d{i}", 1)]
        jobs.append(
            Job(
                f"vm{i}",
                d,
                (0, 2 * i + 1, 2 * i + 2),
                (((0, NIGHT_SLOTS - d),),),
                size_gib=1.0,
                minutes=d * 60.0,
            )
        )
    if conc:
        resources.append(Resource("concurrent", "*", conc))
        jobs = [
            Job(j.vm, j.duration, (*j.resources, len(resources) - 1), j.allowed, 1.0, j.minutes)
            for j in jobs
        ]
    return Instance(
        slot_minutes=60,
        anchor=datetime(2026, 1, 5, 20, tzinfo=UTC),
        nights=[NightSlots(0, 0, NIGHT_SLOTS)],
        resources=resources,
        jobs=jobs,
    )


def _used(inst: Instance, starts: dict[int, int], r: int) -> np.ndarray:
    on_r = [j for j, job in enumerate(inst.jobs) if r in job.resources]
    return running_jobs(inst, starts, on_r)


def test_the_search_beats_a_greedy_that_is_provably_not_optimal() -> None:
    # Two units of one RAID group, jobs of 3, 3, 2, 2, 2 h: longest first runs 3 | 3, then
    # 2 | 2, then the last 2 alone: 7 h. 12 h of work on 2 units cannot end before 6 h, and
    # 3+3 | 2+2+2 ends at 6 h.
    inst = _instance([3, 3, 2, 2, 2], raid_cap=2)
    greedy = solve_greedy(inst)
    assert makespan_slots(inst, greedy.starts) == 7
    assert lower_bound(inst).makespan == 6
    best, stats = MakespanLns(inst, seed=0, workers=1).run(greedy, 2.0)
    assert makespan_slots(inst, best.starts) == 6
    assert stats.improved >= 1
    assert (_used(inst, best.starts, 0) <= 2).all()


def test_the_global_task_slots_hold_in_a_whole_instance_search() -> None:
    # Ten 1 h jobs, RAID group of 10 units but 3 task slots: at most 3 at once, 4 h.
    inst = _instance([1] * 10, raid_cap=10, conc=3)
    conc = len(inst.resources) - 1
    sequential = Solution({j: j for j in range(10)})  # valid: one at a time, 10 h
    best, _ = MakespanLns(inst, seed=0, workers=1).run(sequential, 3.0)
    assert makespan_slots(inst, best.starts) == 4
    assert int(_used(inst, best.starts, conc).max()) <= 3


def test_a_component_search_keeps_within_its_concurrency_profile() -> None:
    # The component's share of the global task slots: 1 until slot 6, 2 after. Without the
    # profile the ten jobs would all run at once (RAID group of 10).
    inst = _instance([1] * 10, raid_cap=10)
    profile = ((0, 6, 1), (6, NIGHT_SLOTS + 1, 2))
    hint = {j: j if j < 6 else 6 + (j - 6) // 2 for j in range(10)}
    task = ComponentTask(
        key=0, inst=inst, hint=hint, hint_dropped=(), concurrency=profile, time_limit_s=3.0,
        seed=0, workers=1, lns_min_jobs=0,
    )  # fmt: skip
    res = solve_component(task)
    running = running_jobs(inst, res.starts, list(range(10)))
    cap = np.full(len(running), 10)
    for s, e, c in profile:
        cap[s:e] = c
    assert (running <= cap).all()
    assert res.span <= makespan_slots(inst, hint) and res.status == "FEASIBLE"


def test_ctrl_c_returns_the_best_plan_so_far() -> None:
    inst = _instance([3, 3, 2, 2, 2], raid_cap=2)
    greedy = solve_greedy(inst)
    seen: list[int] = []

    def progress(span: int, _wall: float, _bound: float) -> None:
        seen.append(span)
        raise KeyboardInterrupt

    try:
        best, stats = MakespanLns(inst, seed=0, workers=1, progress=progress).run(greedy, 50.0)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the search")
    assert stats.interrupted and len(seen) == 1
    assert makespan_slots(inst, best.starts) == seen[0] < makespan_slots(inst, greedy.starts)
    assert len(best.starts) == len(inst.jobs)
    assert (_used(inst, best.starts, 0) <= 2).all()
    for j, job in enumerate(inst.jobs):
        assert job.can_start(0, best.starts[j])


def _one_raid_group(vms: int, cap: int, conc: int | None = None):  # type: ignore[no-untyped-def]
    """``vms`` VMs of 1-3 h on 4 hosts and 4 datastores, one RAID group of ``cap`` units."""
    hours = [1 + (i * 7) % 5 * 0.5 for i in range(vms)]
    topo = make_topology(
        hosts=[{"name": f"esx{i}", "cluster": "C1"} for i in range(4)],
        datastores=[{"name": f"DS-{i}"} for i in range(4)],
        raid_groups=[{"name": "RG", "datastores": [f"DS-{i}" for i in range(4)], "max_jobs": cap}],
        vms=[
            {
                "name": f"vm{i:03d}",
                "host": f"esx{i % 4}",
                "disks": [{"datastore": f"DS-{(i // 4) % 4}", "size_gib": GIB_PER_HOUR * h}],
            }
            for i, h in enumerate(hours)
        ],
    )
    limits = {"per_host": 2, "per_datastore": 2}
    if conc:
        limits["concurrent_jobs"] = conc
    return topo, make_policy(limits=limits, cycle={"start": "2026-12-01", "nights": 2})


def test_the_planner_searches_a_single_large_component_by_neighbourhoods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One model of the whole instance must not run: the neighbourhood search does instead.
    def no_single_model(*_a: object, **_k: object) -> None:
        raise AssertionError("one CP-SAT model of the whole component")

    monkeypatch.setattr(planner, "solve_cpsat", no_single_model)
    topo, pol = _one_raid_group(30, cap=6, conc=6)
    seen: list[int] = []
    opts = PlanOptions(
        deterministic_budget=0.2, workers=1, lns_min_jobs=0, progress=lambda s, w, b: seen.append(s)
    )
    res = plan(topo, pol, opts)  # validated inside
    sched = res.schedule
    assert sched.solver.status in ("FEASIBLE", "OPTIMAL") and not sched.unscheduled
    assert sched.makespan_min <= (sched.solver.greedy_makespan_min or 0)
    if sched.solver.status == "OPTIMAL":
        assert sched.makespan_min == sched.lower_bound_min
    assert seen  # the warm start's makespan, then each improvement


def test_ctrl_c_in_the_planner_gives_a_valid_interrupted_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ctrl-C during the third re-solve (CP-SAT raises KeyboardInterrupt out of solve()).
    real = MakespanLns.solve
    calls = []

    def solve(self: MakespanLns, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MakespanLns, "solve", solve)
    topo, pol = _one_raid_group(30, cap=6, conc=6)
    opts = PlanOptions(deterministic_budget=5.0, workers=1, lns_min_jobs=0)
    try:
        sched = plan(topo, pol, opts).schedule  # validated inside
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the planner")
    assert sched.solver.interrupted and not sched.unscheduled and len(calls) == 3


_RUN = """
import json, sys
from tests.solve.test_makespan_lns import _one_raid_group
from stagger.planner import PlanOptions, plan
topo, pol = _one_raid_group(30, cap=4, conc=5)
opts = PlanOptions(deterministic_budget=0.3, seed=7, workers=2, lns_min_jobs=0)
s = plan(topo, pol, opts).schedule
print(json.dumps([[j.vm, j.start.isoformat()] for j in s.jobs]))
"""


def test_same_instance_and_seed_give_the_same_plan_in_separate_processes() -> None:
    runs = [
        subprocess.run(
            [sys.executable, "-c", _RUN], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert json.loads(runs[0]) == json.loads(runs[1]) and json.loads(runs[0])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(estates())
def test_every_search_plan_passes_the_validator(estate) -> None:  # type: ignore[no-untyped-def]
    topo, pol = estate
    inst = compile_instance(topo, pol)
    greedy = solve_greedy(inst)
    if not inst.jobs or greedy.dropped:
        return
    # Neighbourhoods of 1-3 jobs: most jobs stay fixed, so their occupied steps matter.
    best, _ = MakespanLns(inst, seed=1, workers=1, sizes=(2, 1, 3)).run(greedy, 0.2)
    assert makespan_slots(inst, best.starts) <= makespan_slots(inst, greedy.starts)
    bound = lower_bound(inst)
    info = SolverInfo(name="cpsat", status="FEASIBLE")
    validate(build_schedule(topo, pol, inst, best, bound, info), topo, pol)


def test_a_passed_deadline_stops_the_search_and_says_so() -> None:
    inst = _instance([3, 3, 2, 2, 2], raid_cap=2)
    greedy = solve_greedy(inst)
    best, stats = MakespanLns(inst, seed=0, workers=1, deadline=0.0).run(greedy, 5.0)
    assert stats.wall_limit_hit and stats.iterations == 0
    assert best.starts == greedy.starts


def _waiting_hosts(
    cap: int = 6, full_slots: int = 10, hosts: int = 4, per_host: int = 8
) -> tuple[Instance, Solution]:
    """One RAID group of ``cap`` units, full for ``full_slots`` one-hour slots with jobs of
    hosts that have nothing else to do (one job each), then ``hosts`` hosts of one unit run
    their ``per_host`` jobs one after the other while the RAID group idles: the plan a
    longest-first list schedule gives when the hosts' jobs come last. Every job lasts 1 h.
    The RAID group's load, (cap * full_slots + hosts * per_host) / cap, is the bound (16 h
    with the defaults); the plan ends at full_slots + per_host (18 h)."""
    night = 30
    resources = [Resource("raid_group", "RG", cap)]
    jobs: list[Job] = []
    starts: dict[int, int] = {}

    def job(name: str, start: int) -> None:
        own = (0, len(resources) - 2, len(resources) - 1)
        jobs.append(Job(name, 1, own, (((0, night - 1),),), size_gib=1.0, minutes=60.0))
        starts[len(jobs) - 1] = start

    for h in range(hosts):
        resources += [Resource("host", f"late{h}", 1), Resource("datastore", f"dl{h}", 1)]
        for t in range(per_host):
            job(f"late{h}-{t}", full_slots + t)
    for t in range(full_slots):
        for u in range(cap):
            resources += [Resource("host", f"h{t}-{u}", 1), Resource("datastore", f"d{t}-{u}", 1)]
            job(f"early{t}-{u}", t)
    inst = Instance(
        slot_minutes=60,
        anchor=datetime(2026, 1, 5, 20, tzinfo=UTC),
        nights=[NightSlots(0, 0, night)],
        resources=resources,
        jobs=jobs,
    )
    return inst, Solution(starts)


def _valid(inst: Instance, starts: dict[int, int]) -> bool:
    return len(starts) == len(inst.jobs) and all(
        int(_used(inst, starts, r).max()) <= res.capacity for r, res in enumerate(inst.resources)
    )


def test_hosts_waiting_on_a_full_raid_group_trade_places_with_slack_jobs() -> None:
    # The four late hosts must start earlier, so jobs of hosts with slack must move later,
    # into the hours where the RAID group idles. Freeing the jobs around the makespan (or a
    # band, or the RAID group's latest jobs) cannot do that: the RAID group is full everywhere
    # before. The tail neighbourhood frees a late host with the slack jobs running while it
    # waits, and the search accepts a plan that ends the same but leaves less past the bound.
    inst, warm = _waiting_hosts()
    assert _valid(inst, warm.starts)
    bound = lower_bound(inst).makespan
    assert (bound, makespan_slots(inst, warm.starts)) == (16, 18)
    # Neighbourhoods of 8-24 jobs of the 92, as a few hundred of 10,000 are.
    sizes = (16, 8, 24)
    old_kinds = ("critical", "band", "group")
    old = MakespanLns(inst, seed=1, workers=1, target=bound, sizes=sizes, kinds=old_kinds)
    best_old, _ = old.run(warm, 2.0)
    assert makespan_slots(inst, best_old.starts) == 18
    search = MakespanLns(inst, seed=1, workers=1, target=bound, sizes=sizes)
    best, stats = search.run(warm, 2.0)
    assert makespan_slots(inst, best.starts) == 16 and _valid(inst, best.starts)
    tail = [s for s in stats.log if s.kind == "tail" and s.accepted]
    assert tail and all(s.after is not None and s.after <= s.before for s in tail)
    # Some accepted re-solve kept the makespan and lowered only the energy past the bound.
    assert any(s.after and s.after[0] == s.before[0] and s.after[2] < s.before[2] for s in tail)


def test_the_tail_search_is_deterministic_and_every_plan_it_reports_is_valid() -> None:
    inst, warm = _waiting_hosts(cap=5, full_slots=8, hosts=4, per_host=10)
    plans, logs = [], []
    for _ in range(2):
        seen: list[int] = []
        search = MakespanLns(
            inst,
            seed=3,
            workers=1,
            target=lower_bound(inst).makespan,
            sizes=(16, 8, 24),
            progress=lambda span, _w, _b: seen.append(span),  # noqa: B023
        )
        best, stats = search.run(warm, 2.0)
        assert _valid(inst, best.starts)
        assert seen == sorted(seen, reverse=True) and seen[-1] == makespan_slots(inst, best.starts)
        plans.append(best.starts)
        logs.append(stats.log)
    assert plans[0] == plans[1] and logs[0] == logs[1]
    assert makespan_slots(inst, plans[0]) < makespan_slots(inst, warm.starts)

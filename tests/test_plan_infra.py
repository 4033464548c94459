"""The planner chooses proxy, mode and repository (issue 15): hand-computed cases.

Sizes are chosen so that lengths are exact: at 240 MB/s a job of 843.75 GiB lasts 60 min
(843.75 * 1024 / 240 / 60), at 120 MB/s 120 min; at 400 MB/s 1,406.25 GiB lasts 60 min.
The policy's throughput plays no part once an infrastructure file is given (the mode's rate
sets a job's length); there is no overhead, and the window is 20:00-06:00 (600 min).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.instance import Instance, compile_instance, fix_options
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, build_schedule, plan, solve_with_options
from stagger.solve.bounds import lower_bound
from stagger.solve.greedy import solve_greedy
from stagger.solve.solution import makespan_slots
from stagger.solve.timeline import Timeline, overloaded
from tests.factories import make_policy

HOUR_AT_240 = 843.75  # GiB: 60 min at 240 MB/s, 120 min at 120 MB/s
HOUR_AT_400 = 1406.25  # GiB: 60 min at 400 MB/s
C1 = {"cluster": "C1"}


def _estate(*vms: dict[str, Any]) -> Topology:
    """Two clusters; every VM on a host and datastore of its own (so only the backup
    infrastructure can make two jobs wait for each other)."""
    hosts = [{"name": f"esx-{v['name']}", "cluster": v.pop("cluster", "C1")} for v in vms]
    return Topology.model_validate(
        {
            "clusters": [{"name": "C1"}, {"name": "C2"}],
            "hosts": hosts,
            "datastores": [{"name": f"DS-{v['name']}"} for v in vms],
            "vms": [
                {
                    "host": f"esx-{v['name']}",
                    "disks": [{"datastore": f"DS-{v['name']}", "size_gib": v.pop("gib")}],
                    **v,
                }
                for v in vms
            ],
        }
    )


def _vm(name: str, gib: float, cluster: str = "C1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "gib": gib, "cluster": cluster, **extra}


def _infra(
    proxies: list[dict[str, Any]],
    repositories: list[dict[str, Any]] | None = None,
    rates: dict[str, float] | None = None,
) -> Infrastructure:
    rates = rates or {"hotadd": 240, "nbd": 120, "san": 400}
    return Infrastructure.model_validate(
        {
            "proxies": proxies,
            "transport": {m: {"mb_per_s": r} for m, r in rates.items()},
            "repositories": repositories
            if repositories is not None
            else [{"name": "repo-1", "max_tasks": 100, "ingest_mb_per_s": 100_000}],
        }
    )


def _policy(**extra: Any) -> Policy:
    return make_policy(throughput={"mb_per_s": 100, "overhead_minutes": 0}, **extra)


def _solve(
    topo: Topology, pol: Policy, infra: Infrastructure, solver: str = "cpsat"
) -> tuple[Instance, Schedule]:
    """Compile with the infrastructure, plan as the planner does and build the schedule
    (without the final validation: see the end-to-end tests below)."""
    inst = compile_instance(topo, pol, infrastructure=infra)
    bound = lower_bound(inst)
    opts = PlanOptions(solver=solver, seed=1)  # type: ignore[arg-type]
    out, fixed = solve_with_options(inst, bound, opts)
    assignment = {j: inst.jobs[j].options[k] for j, k in out.solution.options.items()}
    assert set(assignment) == {j for j in out.solution.starts if inst.jobs[j].options}
    assert not overloaded(fixed, out.solution.starts)
    sched = build_schedule(
        topo, pol, fixed, out.solution, bound, out.info, infrastructure=infra, assignment=assignment
    )
    return fixed, sched


def _jobs(sched: Schedule) -> dict[str, Any]:
    return {j.vm: j for j in sched.jobs}


def test_a_job_only_one_proxy_reaches_gets_that_proxy() -> None:
    topo = _estate(_vm("a", HOUR_AT_240, "C1"), _vm("b", HOUR_AT_240, "C2"))
    infra = _infra(
        [
            {"name": "p-c1", "max_tasks": 4, "modes": ["hotadd"], "reaches": {"cluster": "C1"}},
            {"name": "p-c2", "max_tasks": 4, "modes": ["nbd"], "reaches": {"cluster": "C2"}},
        ]
    )
    _, sched = _solve(topo, _policy(), infra)
    jobs = _jobs(sched)
    assert (jobs["a"].proxy, jobs["a"].mode, jobs["a"].duration_min) == ("p-c1", "hotadd", 60)
    assert (jobs["b"].proxy, jobs["b"].mode, jobs["b"].duration_min) == ("p-c2", "nbd", 120)
    assert jobs["b"].repository == "repo-1"
    assert sched.inputs.infrastructure == infra


def test_nbd_only_reach_doubles_a_duration() -> None:
    """Same size; ``fast`` is reached in hot-add (240 MB/s), ``slow`` only in NBD (120)."""
    topo = _estate(_vm("fast", HOUR_AT_240, "C1"), _vm("slow", HOUR_AT_240, "C2"))
    infra = _infra(
        [
            {
                "name": "p-hot",
                "max_tasks": 4,
                "modes": ["hotadd", "nbd"],
                "reaches": {"cluster": "C1"},
            },
            {"name": "p-nbd", "max_tasks": 4, "modes": ["nbd"]},
        ]
    )
    _, sched = _solve(topo, _policy(), infra)
    jobs = _jobs(sched)
    # ``fast`` could go in NBD too (p-hot and p-nbd both have it): hot-add ends earlier.
    assert (jobs["fast"].mode, jobs["fast"].duration_min) == ("hotadd", 60)
    assert (jobs["slow"].mode, jobs["slow"].duration_min) == ("nbd", 120)
    assert jobs["slow"].proxy == "p-nbd"
    assert (jobs["slow"].end - jobs["slow"].start).total_seconds() == 120 * 60
    assert sched.makespan_min == 120
    # The compiled minutes are exact, before rounding to slots.
    compiled = compile_instance(topo, _policy(), infrastructure=infra)
    minutes = {(job.vm, o.proxy, o.mode): o.minutes for job in compiled.jobs for o in job.options}
    assert minutes == {
        ("fast", "p-hot", "hotadd"): pytest.approx(60.0),
        ("fast", "p-hot", "nbd"): pytest.approx(120.0),
        ("fast", "p-nbd", "nbd"): pytest.approx(120.0),
        ("slow", "p-nbd", "nbd"): pytest.approx(120.0),
    }


def test_repository_ingest_cap_forces_two_fast_jobs_apart() -> None:
    """Two 400 MB/s jobs of 60 min each, on separate hosts, datastores and proxy slots:
    a repository ingesting 600 MB/s takes one at a time (makespan 120 = 60 + 60); one
    ingesting 800 MB/s takes both at once (60)."""
    topo = _estate(_vm("x", HOUR_AT_400), _vm("y", HOUR_AT_400))
    proxies = [{"name": "p-san", "max_tasks": 8, "modes": ["san"]}]

    def repo(ingest: float) -> list[dict[str, Any]]:
        return [{"name": "repo-1", "max_tasks": 8, "ingest_mb_per_s": ingest}]

    _, tight = _solve(topo, _policy(), _infra(proxies, repo(600)))
    x, y = _jobs(tight)["x"], _jobs(tight)["y"]
    assert x.duration_min == y.duration_min == 60
    assert x.end <= y.start or y.end <= x.start
    assert tight.makespan_min == 120
    _, loose = _solve(topo, _policy(), _infra(proxies, repo(800)))
    assert loose.makespan_min == 60
    ingest = next(u for u in tight.utilisation if u.kind == "ingest")
    # 2 jobs x 60 min x 400 MB/s over 600 min x 600 MB/s.
    assert (ingest.name, ingest.capacity, ingest.jobs, ingest.busy_min) == ("repo-1", 600, 2, 48000)
    assert ingest.utilisation_pct == pytest.approx(round(100 * 2 * 60 * 400 / (600 * 600), 1))


def test_a_proxy_with_one_task_slot_serialises() -> None:
    topo = _estate(_vm("a", HOUR_AT_240), _vm("b", HOUR_AT_240), _vm("c", HOUR_AT_240))
    one = [{"name": "p-1", "max_tasks": 1, "modes": ["hotadd"]}]
    _, sched = _solve(topo, _policy(), _infra(one))
    assert sched.makespan_min == 180
    starts = sorted(j.start for j in sched.jobs)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(starts)] == [3600, 3600]
    _, two = _solve(topo, _policy(), _infra([{**one[0], "max_tasks": 2}]))
    assert two.makespan_min == 120
    # Repository task slots serialise the same way.
    repo = [{"name": "repo-1", "max_tasks": 1, "ingest_mb_per_s": 100_000}]
    _, by_repo = _solve(topo, _policy(), _infra([{**one[0], "max_tasks": 8}], repo))
    assert by_repo.makespan_min == 180


def test_pins_are_honoured() -> None:
    """A proxy pin wins over a faster proxy; a repository pin over a free one; a time pin
    holds in the chosen option; a tier's pin applies to its VMs, a VM's own wins."""
    topo = _estate(
        _vm("pinned-proxy", HOUR_AT_240, proxy="p-nbd"),
        _vm("pinned-repo", HOUR_AT_240, repository="repo-2"),
        _vm("pinned-time", HOUR_AT_240, pin="22:00", mode="nbd"),
        _vm("free", HOUR_AT_240),
    )
    infra = _infra(
        [
            {"name": "p-hot", "max_tasks": 8, "modes": ["hotadd", "nbd"]},
            {"name": "p-nbd", "max_tasks": 8, "modes": ["nbd"]},
        ],
        [
            {"name": "repo-1", "max_tasks": 8, "ingest_mb_per_s": 100_000},
            {"name": "repo-2", "max_tasks": 8, "ingest_mb_per_s": 100_000},
        ],
    )
    _, sched = _solve(topo, _policy(), infra)
    jobs = _jobs(sched)
    assert (jobs["pinned-proxy"].proxy, jobs["pinned-proxy"].mode) == ("p-nbd", "nbd")
    assert jobs["pinned-proxy"].duration_min == 120
    assert jobs["pinned-repo"].repository == "repo-2"
    assert (jobs["free"].proxy, jobs["free"].mode, jobs["free"].repository) == (
        "p-hot",
        "hotadd",
        "repo-1",
    )
    t = jobs["pinned-time"]
    assert t.start.astimezone(_policy().tz).strftime("%H:%M") == "22:00"
    assert (t.mode, t.duration_min) == ("nbd", 120)


def test_tier_pin_applies_and_a_vm_pin_wins() -> None:
    topo = _estate(
        _vm("gold-a", HOUR_AT_240, tags=["gold"]),
        _vm("gold-b", HOUR_AT_240, tags=["gold"], proxy="p-hot"),
    )
    pol = _policy(
        tiers=[
            {
                "name": "gold",
                "match": {"tag": "gold"},
                "full": {"every": 1},
                "incremental": "none",
                "proxy": "p-nbd",
            }
        ]
    )
    infra = _infra(
        [
            {"name": "p-hot", "max_tasks": 8, "modes": ["hotadd"]},
            {"name": "p-nbd", "max_tasks": 8, "modes": ["nbd"]},
        ]
    )
    _, sched = _solve(topo, pol, infra)
    jobs = _jobs(sched)
    assert (jobs["gold-a"].proxy, jobs["gold-a"].duration_min) == ("p-nbd", 120)
    assert (jobs["gold-b"].proxy, jobs["gold-b"].duration_min) == ("p-hot", 60)


def test_an_option_that_fits_no_window_is_left_out_and_a_job_with_none_is_unscheduled() -> None:
    """11 h at 120 MB/s fits no 10 h window; 5.5 h at 240 MB/s does."""
    big = HOUR_AT_240 * 5.5
    topo = _estate(_vm("reached-fast", big, "C1"), _vm("nbd-only", big, "C2"))
    infra = _infra(
        [
            {
                "name": "p-hot",
                "max_tasks": 4,
                "modes": ["hotadd", "nbd"],
                "reaches": {"cluster": "C1"},
            },
            {"name": "p-nbd", "max_tasks": 4, "modes": ["nbd"], "reaches": {"cluster": "C2"}},
        ]
    )
    inst = compile_instance(topo, _policy(), infrastructure=infra)
    (job,) = inst.jobs
    assert [(o.proxy, o.mode, o.duration) for o in job.options] == [("p-hot", "hotadd", 66)]
    (why,) = inst.unschedulable
    assert why[0] == "nbd-only"
    assert "'p-nbd' in nbd mode (120 MB/s)" in why[1] and "11h" in why[1], why[1]
    assert "fits no window" in why[1]


def test_fix_options_folds_the_chosen_option_into_a_plain_job() -> None:
    topo = _estate(_vm("x", HOUR_AT_400), _vm("y", HOUR_AT_400))
    infra = _infra(
        [{"name": "p", "max_tasks": 8, "modes": ["san", "nbd"]}],
        [{"name": "repo-1", "max_tasks": 8, "ingest_mb_per_s": 600.5}],
        {"san": 400, "nbd": 120},
    )
    inst = compile_instance(topo, _policy(), infrastructure=infra)
    kinds = {r.kind: r.capacity for r in inst.resources if r.kind not in ("host", "datastore")}
    assert kinds == {"proxy": 8, "repository": 8, "ingest": 600}  # MB/s rounded down
    fixed = fix_options(inst, {0: 1})  # x in NBD; y unchosen: its shortest option (SAN)
    x, y = fixed.jobs
    assert (x.duration, x.options, y.duration) == (40, (), 12)
    assert x.resources == inst.jobs[0].resources + inst.jobs[0].options[1].resources
    assert x.demands == (1, 1, 1, 1, 120)  # host, datastore; proxy, repository, ingest
    assert y.demands[-1] == 400
    assert x.allowed == inst.jobs[0].options[1].allowed
    # The demands count on the timeline: two SAN jobs (400 + 400 MB/s) overflow 600.
    both_san = fix_options(inst, {0: 0, 1: 0})
    assert overloaded(both_san, {0: 0, 1: 0}) == [
        next(i for i, r in enumerate(inst.resources) if r.kind == "ingest")
    ]
    timeline = Timeline(both_san)
    timeline.place(both_san.jobs[0], 0)
    assert not timeline.fits(both_san.jobs[1], 0)
    assert timeline.fits(both_san.jobs[1], 12)


def test_greedy_takes_the_earliest_end_and_records_the_choice() -> None:
    """One hot-add slot: the first job takes it (ends at 60), the second ends earlier in
    NBD on another proxy right away (120) than waiting for hot-add (60 + 60 = 120: a tie,
    broken by the less loaded proxy)."""
    topo = _estate(_vm("a", HOUR_AT_240), _vm("b", HOUR_AT_240))
    infra = _infra(
        [
            {"name": "p-hot", "max_tasks": 1, "modes": ["hotadd"]},
            {"name": "p-nbd", "max_tasks": 1, "modes": ["nbd"]},
        ]
    )
    inst = compile_instance(topo, _policy(), infrastructure=infra)
    sol = solve_greedy(inst)
    chosen = {inst.jobs[j].vm: inst.jobs[j].options[k] for j, k in sol.options.items()}
    assert chosen["a"].proxy == "p-hot"
    assert chosen["b"].proxy == "p-nbd"  # ends at 120 either way: the idle proxy
    assert makespan_slots(fix_options(inst, sol.options), sol.starts) == 24


def test_an_unreached_vm_is_an_error_nothing_planned() -> None:
    topo = _estate(_vm("a", HOUR_AT_240, "C1"), _vm("lost", HOUR_AT_240, "C2"))
    infra = _infra(
        [{"name": "p-c1", "max_tasks": 4, "modes": ["hotadd"], "reaches": {"cluster": "C1"}}]
    )
    with pytest.raises(InputError, match="no proxy reaches it"):
        plan(topo, _policy(), PlanOptions(solver="greedy"), infrastructure=infra)


def test_without_infrastructure_the_instance_is_unchanged() -> None:
    topo = _estate(_vm("a", HOUR_AT_240, proxy="p-x"), _vm("b", HOUR_AT_240))
    inst = compile_instance(topo, _policy())
    assert [r.kind for r in inst.resources] == ["host", "datastore", "host", "datastore"]
    assert all(not job.options and not job.demands for job in inst.jobs)
    assert [job.duration for job in inst.jobs] == [29, 29]  # 843.75 GiB at 100 MB/s


# End to end: plan() validates its schedule (job lengths at the chosen mode's rate, the
# proxies' and repositories' rows).
def test_plan_with_infrastructure_end_to_end() -> None:
    topo = _estate(_vm("fast", HOUR_AT_240, "C1"), _vm("slow", HOUR_AT_240, "C2"))
    infra = _infra(
        [
            {"name": "p-hot", "max_tasks": 4, "modes": ["hotadd"], "reaches": {"cluster": "C1"}},
            {"name": "p-nbd", "max_tasks": 4, "modes": ["nbd"]},
        ]
    )
    result = plan(topo, _policy(), PlanOptions(seed=1), infrastructure=infra)
    jobs = _jobs(result.schedule)
    assert (jobs["fast"].mode, jobs["slow"].mode) == ("hotadd", "nbd")
    assert result.schedule.makespan_min == 120
    assert result.schedule.inputs.infrastructure == infra


def test_two_plans_are_the_same() -> None:
    """Deterministic: the same inputs and seed give the same choice and starts."""
    topo = _estate(*(_vm(f"v{i}", HOUR_AT_240 * (1 + i % 3) / 2) for i in range(8)))
    infra = _infra(
        [
            {"name": "p-hot", "max_tasks": 2, "modes": ["hotadd", "nbd"]},
            {"name": "p-nbd", "max_tasks": 2, "modes": ["nbd"]},
        ],
        [{"name": "repo-1", "max_tasks": 3, "ingest_mb_per_s": 500}],
    )
    a = _solve(topo, _policy(), infra)[1]
    b = _solve(topo, _policy(), infra)[1]
    assert a.model_dump_json() == b.model_dump_json()


def test_a_tiered_clock_pin_keeps_only_the_options_that_fit_then() -> None:
    """A nightly-full tier over two nights, the VM pinned at 04:30: a 120 min NBD job would
    run past 06:00, so only the 60 min hot-add option stays, on both nights."""
    topo = _estate(_vm("g", HOUR_AT_240, tags=["gold"], pin="04:30"))
    pol = _policy(
        cycle={"start": "2026-12-01", "nights": 2},
        tiers=[
            {"name": "gold", "match": {"tag": "gold"}, "full": {"every": 1}, "incremental": "none"}
        ],
    )
    infra = _infra([{"name": "p", "max_tasks": 4, "modes": ["nbd", "hotadd"]}])
    inst = compile_instance(topo, pol, infrastructure=infra)
    assert len(inst.jobs) == 2
    for job in inst.jobs:
        assert [(o.mode, o.duration) for o in job.options] == [("hotadd", 12)]
    _, sched = _solve(topo, pol, infra)
    assert {(j.mode, j.start.astimezone(pol.tz).strftime("%H:%M")) for j in sched.jobs} == {
        ("hotadd", "04:30")
    }


def test_the_time_stepping_schedule_counts_demands() -> None:
    """On a fixed choice (both jobs at 400 MB/s into 600 MB/s of ingest) the time-stepping
    schedule the planner's warm start tries must not start both at once; it refuses an
    instance whose options are not fixed."""
    from stagger.solve.parallel_sgs import parallel_schedule

    topo = _estate(_vm("x", HOUR_AT_400), _vm("y", HOUR_AT_400))
    infra = _infra(
        [{"name": "p-san", "max_tasks": 8, "modes": ["san"]}],
        [{"name": "repo-1", "max_tasks": 8, "ingest_mb_per_s": 600}],
    )
    inst = compile_instance(topo, _policy(), infrastructure=infra)
    fixed = fix_options(inst, {})
    for rule in ("chain", "urgency"):
        sol = parallel_schedule(fixed, rule)  # type: ignore[arg-type]
        assert sorted(sol.starts.values()) == [0, 12]
        assert not overloaded(fixed, sol.starts)
    with pytest.raises(ValueError, match="fixed options only"):
        parallel_schedule(inst)


_SIZES = [100.0, 400.0, HOUR_AT_240, HOUR_AT_400]


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(
        st.sampled_from([100.0, 400.0, HOUR_AT_240, HOUR_AT_400]), min_size=1, max_size=6
    ),
    tasks=st.integers(1, 3),
    ingest=st.sampled_from([150.5, 500, 900]),
    repo_tasks=st.integers(1, 4),
)
def test_the_greedy_choice_keeps_every_capacity(
    sizes: list[float], tasks: int, ingest: float, repo_tasks: int
) -> None:
    """Whatever the estate: each placed job runs in one of its options, at one of that
    option's allowed starts, and the plan keeps every capacity counted in units."""
    topo = _estate(*(_vm(f"v{i}", gib, "C1" if i % 2 else "C2") for i, gib in enumerate(sizes)))
    infra = _infra(
        [
            {"name": "p-hot", "max_tasks": tasks, "modes": ["hotadd", "nbd"], "reaches": C1},
            {"name": "p-any", "max_tasks": 1, "modes": ["nbd"]},
        ],
        [
            {"name": "r1", "max_tasks": repo_tasks, "ingest_mb_per_s": ingest},
            {"name": "r2", "max_tasks": 1, "ingest_mb_per_s": 300},
        ],
    )
    inst = compile_instance(topo, _policy(), infrastructure=infra)
    sol = solve_greedy(inst)
    assert set(sol.options) == set(sol.starts)
    for j, s in sol.starts.items():
        o = inst.jobs[j].options[sol.options[j]]
        assert any(lo <= s <= hi for spans in o.allowed for lo, hi in spans)
    assert not overloaded(fix_options(inst, sol.options), sol.starts)


def test_a_vm_left_out_names_the_proxy_that_overflows() -> None:
    """Three 4-hour jobs on one proxy with one task slot in a 10-hour window: one VM cannot
    fit, and its reason names the proxy (not 'no free stretch' on its own host)."""
    topo = _estate(*(_vm(n, 4 * HOUR_AT_240) for n in ("a", "b", "c")))
    infra = _infra([{"name": "p-one", "max_tasks": 1, "modes": ["hotadd"]}])
    pol = _policy(window={"start": "20:00", "end": "06:00"})
    _, sched = _solve(topo, pol, infra)
    assert len(sched.unscheduled) == 1
    reason = sched.unscheduled[0].reason
    assert reason == "does not fit: proxy p-one: 12 h of tasks for 1 slot in 10 h", reason

"""The run-time simulator (stagger.simulate): hand-computed nights.

Rates are chosen so that lengths are whole: at 100 MB/s a job of GIB_PER_HOUR GiB lasts
60 minutes (no overhead in make_policy), at 50 MB/s 120 minutes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagger.calendar import window_occurrences
from stagger.cycle import cycle_jobs
from stagger.errors import InputError
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Night, Schedule, ScheduledJob, ScheduleInputs, SolverInfo
from stagger.model.topology import Topology
from stagger.simulate import Assignment, Release, SimJob, run, simulate
from tests.factories import GIB_PER_HOUR, make_policy, make_topology

# 20:00 Europe/Berlin on 1 Dec 2026 (make_policy's first window) is 19:00 UTC.
T0 = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)


def estate(vms: list[dict[str, Any]], **policy: Any) -> tuple[Topology, Policy]:
    hosts = sorted({v["host"] for v in vms})
    datastores = sorted({d["datastore"] for v in vms for d in v["disks"]})
    clusters = sorted({v.get("cluster", "C1") for v in vms})
    cluster_of = {v["host"]: v.get("cluster", "C1") for v in vms}
    topo = make_topology(
        clusters=[{"name": c} for c in clusters],
        hosts=[{"name": h, "cluster": cluster_of[h]} for h in hosts],
        datastores=[{"name": d} for d in datastores],
        vms=[{k: val for k, val in v.items() if k != "cluster"} for v in vms],
        **({"raid_groups": policy.pop("raid_groups")} if "raid_groups" in policy else {}),
    )
    return topo, make_policy(**policy)


def vm(name: str, host: str, ds: str, hours: float = 1.0, **kw: Any) -> dict[str, Any]:
    """A VM whose job lasts ``hours`` at 100 MB/s."""
    disk = {"datastore": ds, "size_gib": GIB_PER_HOUR * hours}
    return {"name": name, "host": host, "disks": [disk], **kw}


def infra(**data: Any) -> Infrastructure:
    base: dict[str, Any] = {
        "proxies": [{"name": "prx", "max_tasks": 2, "modes": ["nbd"]}],
        "transport": {
            "hotadd": {"mb_per_s": 100},
            "san": {"mb_per_s": 100},
            "nbd": {"mb_per_s": 100},
        },
        "repositories": [],
    }
    base.update(data)
    return Infrastructure.model_validate(base)


def releases(
    topo: Topology, policy: Policy, at_min: dict[str, float] | None = None
) -> list[Release]:
    """Every VM's job released at T0 (+ at_min[vm] minutes), topology order."""
    out = []
    for job in cycle_jobs(topo, policy):
        at = T0 + timedelta(minutes=(at_min or {}).get(job.vm, 0.0))
        out.append(Release(job, 0, at, T0 + timedelta(hours=10)))
    return out


def minutes(jobs: list[SimJob]) -> dict[str, tuple[float, float]]:
    """VM -> (start, end) in minutes after T0, rounded to the second."""
    return {
        j.vm: (
            round((j.start - T0).total_seconds() / 60, 3),
            round((j.end - T0).total_seconds() / 60, 3),
        )
        for j in jobs
    }


def test_three_jobs_one_proxy_two_slots_exact_ends() -> None:
    # a 60 min and b 30 min take both slots at 0; c (45 min) gets b's slot at 30, ends 75.
    topo, pol = estate(
        [vm("a", "h1", "D1", 1), vm("b", "h2", "D2", 0.5), vm("c", "h3", "D3", 0.75)]
    )
    jobs = run(releases(topo, pol), infra(), topo, pol)
    assert minutes(jobs) == {"a": (0, 60), "b": (0, 30), "c": (30, 75)}
    assert [j.wait_min for j in jobs] == [0, 0, 30]
    assert {j.assignment for j in jobs} == {Assignment("prx", "nbd", None)}


def test_one_slot_is_fifo_in_job_order() -> None:
    topo, pol = estate(
        [vm("a", "h1", "D1", 1), vm("b", "h2", "D2", 0.5), vm("c", "h3", "D3", 0.75)]
    )
    one = infra(proxies=[{"name": "prx", "max_tasks": 1, "modes": ["nbd"]}])
    assert minutes(run(releases(topo, pol), one, topo, pol)) == {
        "a": (0, 60),
        "b": (60, 90),
        "c": (90, 135),
    }


def test_a_job_blocked_by_its_host_does_not_block_the_queue() -> None:
    # per_host 1: b waits for a (same host); c, behind b in the queue, starts at once.
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h1", "D2"), vm("c", "h2", "D3")])
    assert minutes(run(releases(topo, pol), infra(), topo, pol)) == {
        "a": (0, 60),
        "b": (60, 120),
        "c": (0, 60),
    }


def test_datastore_limit_holds_and_raid_groups_do_not() -> None:
    # a and b share D1 (per_datastore 1): b waits. c and d share only RAID group RG (which
    # the product does not know): both run at once.
    topo, pol = estate(
        [
            vm("a", "h1", "D1"),
            vm("b", "h2", "D1"),
            vm("c", "h3", "D3"),
            vm("d", "h4", "D4"),
        ],
        raid_groups=[{"name": "RG", "datastores": ["D3", "D4"]}],
    )
    big = infra(proxies=[{"name": "prx", "max_tasks": 8, "modes": ["nbd"]}])
    assert minutes(run(releases(topo, pol), big, topo, pol)) == {
        "a": (0, 60),
        "b": (60, 120),
        "c": (0, 60),
        "d": (0, 60),
    }


def test_concurrent_jobs_stays_a_global_cap() -> None:
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h2", "D2")], limits={"concurrent_jobs": 1})
    assert minutes(run(releases(topo, pol), infra(), topo, pol)) == {
        "a": (0, 60),
        "b": (60, 120),
    }


def test_ingest_cap_makes_the_second_fast_job_wait() -> None:
    # Two 100 MB/s jobs into a 150 MB/s repository: together 200 > 150, so b waits for a.
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h2", "D2")])
    repos = [{"name": "repo", "max_tasks": 8, "ingest_mb_per_s": 150}]
    jobs = run(releases(topo, pol), infra(repositories=repos), topo, pol)
    assert minutes(jobs) == {"a": (0, 60), "b": (60, 120)}
    assert {j.assignment.repository for j in jobs} == {"repo"}
    # With room for both (200 MB/s) they run together.
    repos[0]["ingest_mb_per_s"] = 200
    assert minutes(run(releases(topo, pol), infra(repositories=repos), topo, pol)) == {
        "a": (0, 60),
        "b": (0, 60),
    }


def test_a_job_goes_to_the_next_repository_with_room() -> None:
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h2", "D2")])
    repos = [
        {"name": "r1", "max_tasks": 1, "ingest_mb_per_s": 1000},
        {"name": "r2", "max_tasks": 1, "ingest_mb_per_s": 1000},
    ]
    jobs = run(releases(topo, pol), infra(repositories=repos), topo, pol)
    assert [j.assignment.repository for j in jobs] == ["r1", "r2"]
    assert minutes(jobs) == {"a": (0, 60), "b": (0, 60)}


def test_repository_slower_than_the_mode_caps_the_rate() -> None:
    topo, pol = estate([vm("a", "h1", "D1")])
    repos = [{"name": "slow", "max_tasks": 1, "ingest_mb_per_s": 50}]
    jobs = run(releases(topo, pol), infra(repositories=repos), topo, pol)
    assert minutes(jobs) == {"a": (0, 120)}
    assert jobs[0].rate_mb_per_s == 50


def test_a_job_only_one_proxy_reaches_waits_for_it() -> None:
    # u and v (cluster C2) are reached only by prx-any (1 slot); w (C1) by prx-a first.
    topo, pol = estate(
        [
            vm("u", "h1", "D1", cluster="C2"),
            vm("v", "h2", "D2", cluster="C2"),
            vm("w", "h3", "D3", cluster="C1"),
        ]
    )
    inf = infra(
        proxies=[
            {"name": "prx-a", "max_tasks": 4, "modes": ["hotadd"], "reaches": {"cluster": "C1"}},
            {"name": "prx-any", "max_tasks": 1, "modes": ["nbd"]},
        ]
    )
    jobs = run(releases(topo, pol), inf, topo, pol)
    assert minutes(jobs) == {"u": (0, 60), "v": (60, 120), "w": (0, 60)}
    assert [j.assignment.proxy for j in jobs] == ["prx-any", "prx-any", "prx-a"]
    assert jobs[2].assignment.mode == "hotadd"


def test_mode_by_veeam_order_not_file_order_and_nbd_is_slower() -> None:
    # The proxy lists nbd first; Veeam picks Direct SAN, then hot-add, then network. b's
    # second datastore is not zoned to the SAN proxy: it is read in NBD at half the rate.
    b = vm("b", "h2", "DS-12")
    b["disks"].append({"datastore": "DS-20", "size_gib": 0.001})
    topo, pol = estate([vm("a", "h1", "DS-11"), b])
    inf = infra(
        proxies=[
            {
                "name": "p-san",
                "max_tasks": 4,
                "modes": ["nbd", "san"],
                "reaches": {"datastore": "DS-1*"},
            },
            {"name": "p-nbd", "max_tasks": 4, "modes": ["nbd", "hotadd"]},
        ],
        transport={"san": {"mb_per_s": 100}, "hotadd": {"mb_per_s": 100}, "nbd": {"mb_per_s": 50}},
    )
    jobs = run(releases(topo, pol), inf, topo, pol)
    assert [(j.assignment.proxy, j.assignment.mode) for j in jobs] == [
        ("p-san", "san"),
        ("p-nbd", "hotadd"),
    ]
    inf2 = infra(
        proxies=[{"name": "p", "max_tasks": 4, "modes": ["nbd"]}],
        transport={"nbd": {"mb_per_s": 50}},
    )
    assert minutes(run(releases(topo, pol)[:1], inf2, topo, pol)) == {"a": (0, 120)}


def test_pins_are_honoured() -> None:
    topo, pol = estate([vm("a", "h1", "D1", proxy="p2", repository="r2")])
    inf = infra(
        proxies=[
            {"name": "p1", "max_tasks": 1, "modes": ["nbd"]},
            {"name": "p2", "max_tasks": 1, "modes": ["nbd"]},
        ],
        repositories=[
            {"name": "r1", "max_tasks": 1, "ingest_mb_per_s": 1000},
            {"name": "r2", "max_tasks": 1, "ingest_mb_per_s": 1000},
        ],
    )
    (job,) = run(releases(topo, pol), inf, topo, pol)
    assert job.assignment == Assignment("p2", "nbd", "r2")


def test_assigned_job_waits_for_its_planned_proxy() -> None:
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h2", "D2")])
    inf = infra(
        proxies=[
            {"name": "p1", "max_tasks": 1, "modes": ["nbd"]},
            {"name": "p2", "max_tasks": 1, "modes": ["nbd"]},
        ]
    )
    rels = [
        Release(r.job, r.night, r.at, r.window_end, Assignment("p1", "nbd", None))
        for r in releases(topo, pol)
    ]
    jobs = run(rels, inf, topo, pol)
    assert minutes(jobs) == {"a": (0, 60), "b": (60, 120)}  # p2 stays idle


def test_later_release_starts_at_its_release() -> None:
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h2", "D2")])
    jobs = run(releases(topo, pol, {"b": 90}), infra(), topo, pol)
    assert minutes(jobs) == {"a": (0, 60), "b": (90, 150)}
    assert jobs[1].wait_min == 0


def test_vm_no_proxy_reaches_is_one_error_line_per_vm() -> None:
    topo, pol = estate([vm("a", "h1", "D1", cluster="C2"), vm("b", "h2", "D2")])
    inf = infra(
        proxies=[{"name": "p", "max_tasks": 1, "modes": ["hotadd"], "reaches": {"cluster": "C1"}}]
    )
    with pytest.raises(InputError) as exc:
        run(releases(topo, pol), inf, topo, pol)
    assert exc.value.lines() == [
        "vm 'a': no proxy reaches it (or none in the way its pins ask): a backup server would"
        " queue its job for ever"
    ]


# --- simulate(): a schedule's nights -----------------------------------------------------


def schedule_of(topo: Topology, policy: Policy, starts: dict[str, float], **job: Any) -> Schedule:
    """A one-night schedule with each VM's job at T0 + starts[vm] minutes, lasting its
    minutes at the policy's throughput (100 MB/s), rounded up to 5."""
    occ = window_occurrences(policy)
    jobs = []
    for bj in cycle_jobs(topo, policy):
        v = next(x for x in topo.vms if x.name == bj.vm)
        start = T0 + timedelta(minutes=starts[bj.vm])
        dur = -(-int(bj.minutes) // 5) * 5
        jobs.append(
            ScheduledJob(
                vm=v.name,
                host=v.host,
                cluster="C1",
                datastores=v.datastores,
                start=start,
                end=start + timedelta(minutes=dur),
                duration_min=dur,
                size_gib=bj.size_gib,
                night=0,
                level="full",
                **job,
            )
        )
    last = max(j.end for j in jobs)
    span = int((last - occ[0].start).total_seconds() // 60)
    return Schedule(
        timezone=policy.timezone,
        cycle_start=policy.cycle.start,
        nights=[
            Night(
                index=o.index,
                date=o.date,
                window_start=o.start,
                window_end=o.end,
                jobs=len(jobs),
                last_end=last,
                makespan_min=span,
            )
            for o in occ
        ],
        jobs=jobs,
        solver=SolverInfo(name="greedy", status="GREEDY"),
        makespan_min=span,
        lower_bound_min=span,
        gap_pct=0.0,
        inputs=ScheduleInputs(topology=topo, policy=policy),
    )


def test_planned_vs_default_release_by_hand() -> None:
    # One slot; the plan staggers a (0-60), b (60-120), c (120-180). By default all three
    # are released at 20:00: same order, so the same ends, but b waits 60 and c 120 min.
    # Then a 2-slot proxy: the plan's releases keep one slot idle (end 180), the default
    # release fills both (a 0-60, b 0-60, c 60-120).
    topo, pol = estate([vm("a", "h1", "D1"), vm("b", "h2", "D2"), vm("c", "h3", "D3")])
    sched = schedule_of(topo, pol, {"a": 0, "b": 60, "c": 120})
    one = infra(proxies=[{"name": "prx", "max_tasks": 1, "modes": ["nbd"]}])
    planned = simulate(sched, one, "planned")
    default = simulate(sched, one, "default")
    (pn,) = planned.nights
    (dn,) = default.nights
    assert pn.planned_end == pn.simulated_end == T0 + timedelta(minutes=180)
    assert pn.longest_wait_min == 0
    assert dn.simulated_end == T0 + timedelta(minutes=180)
    assert dn.longest_wait_min == 120
    assert dn.past_window == 0 and dn.jobs == 3
    two = infra()
    assert simulate(sched, two, "planned").nights[0].simulated_end == T0 + timedelta(minutes=180)
    assert simulate(sched, two, "default").nights[0].simulated_end == T0 + timedelta(minutes=120)


def test_jobs_past_the_window_end_are_counted() -> None:
    # Window 20:00-06:00 (600 min); one slot, six 2-hour jobs released at 20:00: the sixth
    # starts at 600 and ends at 720, past the window (the fifth ends exactly at 600).
    vms = [vm(f"v{i}", f"h{i}", f"D{i}", 2) for i in range(6)]
    topo, pol = estate(vms)
    sched = schedule_of(topo, pol, {f"v{i}": 120 * i for i in range(6)})
    one = infra(proxies=[{"name": "prx", "max_tasks": 1, "modes": ["nbd"]}])
    (night,) = simulate(sched, one, "default").nights
    assert night.simulated_end == T0 + timedelta(minutes=720)
    assert night.past_window == 1
    assert night.longest_wait_min == 600


def test_planned_assigned_needs_a_planned_proxy() -> None:
    topo, pol = estate([vm("a", "h1", "D1")])
    sched = schedule_of(topo, pol, {"a": 0})
    with pytest.raises(InputError, match="has no planned proxy and mode"):
        simulate(sched, infra(), "planned-assigned")
    assigned = schedule_of(topo, pol, {"a": 0}, proxy="prx", mode="nbd")
    (job,) = simulate(assigned, infra(), "planned-assigned").jobs
    assert job.assignment == Assignment("prx", "nbd", None)
    far = infra(
        proxies=[{"name": "prx", "max_tasks": 1, "modes": ["nbd"], "reaches": {"host": "h9"}}]
    )
    with pytest.raises(InputError, match="vm 'a': field 'proxy': planned proxy 'prx' does not"):
        simulate(assigned, far, "planned-assigned")
    unknown = schedule_of(topo, pol, {"a": 0}, proxy="gone", mode="nbd")
    with pytest.raises(InputError, match="planned proxy 'gone' in mode 'nbd' is not in"):
        simulate(unknown, infra(), "planned-assigned")


def test_same_inputs_same_simulation() -> None:
    vms = [vm(f"v{i}", f"h{i % 3}", f"D{i % 4}", 0.25 + i / 8) for i in range(12)]
    topo, pol = estate(vms)
    sched = schedule_of(topo, pol, {f"v{i}": 0 for i in range(12)})
    runs = [simulate(sched, infra(), "default") for _ in range(2)]
    assert runs[0] == runs[1]


# --- invariants on random estates --------------------------------------------------------


def _peak(jobs: list[SimJob], key: Any) -> dict[Any, int]:
    """Most jobs running at once per key(job) (ends before starts at one instant)."""
    events = sorted(
        [(j.start, 1, k) for k, j in enumerate(jobs)]
        + [(j.end, -1, k) for k, j in enumerate(jobs)],
        key=lambda e: (e[0], e[1]),
    )
    now: dict[Any, int] = {}
    peak: dict[Any, int] = {}
    for _, d, k in events:
        for name in key(jobs[k]):
            now[name] = now.get(name, 0) + d
            peak[name] = max(peak.get(name, 0), now[name])
    return peak


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.floats(0.1, 3), st.integers(0, 240)),
        min_size=1,
        max_size=14,
    ),
    st.integers(1, 3),
    st.floats(60, 400),
)
def test_no_limit_is_ever_exceeded(
    spec: list[tuple[int, int, float, int]], slots: int, ingest: float
) -> None:
    vms = [vm(f"v{i}", f"h{h}", f"D{d}", hours) for i, (h, d, hours, _) in enumerate(spec)]
    topo, pol = estate(vms, limits={"per_datastore": 2})
    inf = infra(
        proxies=[
            {"name": "p1", "max_tasks": slots, "modes": ["hotadd"]},
            {"name": "p2", "max_tasks": 1, "modes": ["nbd"]},
        ],
        transport={"hotadd": {"mb_per_s": 100}, "nbd": {"mb_per_s": 40}},
        repositories=[{"name": "r", "max_tasks": 3, "ingest_mb_per_s": ingest}],
    )
    at = {f"v{i}": float(a) for i, (*_, a) in enumerate(spec)}
    jobs = run(releases(topo, pol, at), inf, topo, pol)
    vms_by = {v.name: v for v in topo.vms}
    assert all(j.start >= j.release for j in jobs)
    assert max(_peak(jobs, lambda j: [vms_by[j.vm].host]).values()) <= 1
    assert max(_peak(jobs, lambda j: vms_by[j.vm].datastores).values()) <= 2
    proxies = _peak(jobs, lambda j: [j.assignment.proxy])
    assert proxies.get("p1", 0) <= slots and proxies.get("p2", 0) <= 1
    assert max(_peak(jobs, lambda j: [j.assignment.repository]).values()) <= 3
    # Ingest: at every start, the rates running then (this one included) fit.
    for j in jobs:
        load = sum(k.rate_mb_per_s for k in jobs if k.start <= j.start < k.end)
        assert load <= ingest + 1e-6
    # Work-conserving: a job that waited could not have started at its release on any free
    # proxy... at least one resource it needs was busy at every instant it waited.
    for j in jobs:
        if j.wait_min > 0:
            busy = [k for k in jobs if k is not j and k.start < j.start and k.end > j.release]
            assert busy


# --- the benchmark's infrastructure (benchmarks/infra.py) --------------------------------


def test_benchmark_infrastructure_is_seeded_and_reaches_every_vm() -> None:
    from benchmarks.generate import EstateSpec, generate
    from benchmarks.infra import infrastructure_for
    from stagger.infrastructure import check_infrastructure

    topo, pol = generate(EstateSpec(1000, "balanced", "incremental", 0))
    infra = infrastructure_for(topo, 0)
    assert infra == infrastructure_for(topo, 0)
    # 14 hot-add proxies at 10,000 VMs (55 clusters); one per cluster in smaller estates.
    hot = min(14, len(topo.clusters))
    assert len(infra.proxies) == hot + 6 and len(infra.repositories) == 4
    modes = [p.modes[0] for p in infra.proxies]
    assert (modes.count("hotadd"), modes.count("san"), modes.count("nbd")) == (hot, 4, 2)
    report = check_infrastructure(infra, topo, pol)
    report.check()
    # The SAN globs and the hot-add clusters reach VMs (not only the NBD proxies).
    assert all(report.reached[p.name] for p in infra.proxies)


def test_benchmark_rows_on_the_example_estate() -> None:
    from benchmarks.infra import run_case, table
    from stagger.sources.yamlfile import load_infrastructure, load_inputs
    from tests.factories import EXAMPLES

    topo, pol = load_inputs(
        EXAMPLES / "estate" / "topology.yaml", EXAMPLES / "estate" / "policy.yaml"
    )
    infra = load_infrastructure(EXAMPLES / "infra" / "infrastructure.yaml")
    rows = run_case("examples/estate", topo, pol, infra, time_limit=10, seed=1)
    assert [r["night"] for r in rows] == [0, 1]
    # Every VM of the example is planned with the infrastructure and replayed, each night's
    # jobs as the plan put them (81 and 65 with seed 1; the split is the planner's choice).
    assert sum(r["jobs"] for r in rows) == 146 and all(r["unscheduled"] == 0 for r in rows)
    assert all(r["plan"] == "with infra" and r["default_end"] is not None for r in rows)
    text = table(rows)
    assert text.count("\n") == 3 and text.splitlines()[2].startswith("| examples/estate | 148 |")


# --- the event loop against a plain reference --------------------------------------------


def reference_run(
    rels: list[Release], inf: Infrastructure, topo: Topology, pol: Policy
) -> list[tuple[float, str, str, str | None]]:
    """The rules of stagger.simulate written the slow, obvious way: at every event walk the
    whole queue in order and start every job that fits. (start minute, proxy, mode, repo)."""
    from stagger.infrastructure import Pins, job_rate, options
    from stagger.rules import capacity, vm_resources
    from stagger.simulate import MODE_PREFERENCE

    idx = topo.index()
    vms = {v.name: v for v in topo.vms}
    at = [(r.at - T0).total_seconds() / 60 for r in rels]
    res = [
        [x for x in vm_resources(vms[r.job.vm], idx, pol) if x.kind != "raid_group"] for r in rels
    ]
    cands = []
    for r in rels:
        opts = options(vms[r.job.vm], Pins(), inf, idx)
        per: dict[str, list[str]] = {}
        for p, m in opts:
            per.setdefault(p, []).append(m)
        cands.append([(p, next(m for m in MODE_PREFERENCE if m in ms)) for p, ms in per.items()])
    used: dict[Any, float] = {}
    running: list[tuple[float, int, list[tuple[Any, float]]]] = []
    queue: list[int] = []
    out: dict[int, tuple[float, str, str, str | None]] = {}
    pending = sorted(range(len(rels)), key=lambda j: (at[j], j))
    while pending or running or queue:
        now = min([at[pending[0]]] if pending else [math.inf])
        now = min([now, *(e for e, _, _ in running)])
        for e, j, took in [x for x in running if x[0] <= now]:
            running.remove((e, j, took))
            for key, amount in took:
                used[key] -= amount
        while pending and at[pending[0]] <= now:
            queue.append(pending.pop(0))
        for j in list(queue):
            if any(used.get(x, 0) >= capacity(x, idx, pol) for x in res[j]):
                continue
            choice = None
            for p, m in cands[j]:
                if used.get(("proxy", p), 0) >= inf.proxy(p).max_tasks:  # type: ignore[union-attr]
                    continue
                if not inf.repositories:
                    choice = (p, m, None, job_rate(inf, m, None))
                    break
                for repo in inf.repositories:
                    rate = job_rate(inf, m, repo.name)
                    if (
                        used.get(("repo", repo.name), 0) < repo.max_tasks
                        and used.get(("ingest", repo.name), 0) + rate <= repo.ingest_mb_per_s + 1e-9
                    ):
                        choice = (p, m, repo.name, rate)
                        break
                if choice:
                    break
            if choice is None:
                continue
            p, m, repo_name, rate = choice
            took: list[tuple[Any, float]] = [(x, 1) for x in res[j]] + [(("proxy", p), 1)]
            if repo_name is not None:
                took += [(("repo", repo_name), 1), (("ingest", repo_name), rate)]
            for key, amount in took:
                used[key] = used.get(key, 0) + amount
            running.append((now + rels[j].job.minutes_at(rate), j, took))
            queue.remove(j)
            out[j] = (round(now, 6), p, m, repo_name)
    return [out[j] for j in range(len(rels))]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.integers(0, 4),
            st.sampled_from(["C1", "C2"]),
            st.floats(0.1, 2),
            st.sampled_from([0, 0, 30, 45]),
        ),
        min_size=1,
        max_size=16,
    ),
    st.integers(1, 3),
    st.sampled_from([90.0, 150.0, 1000.0]),
    st.booleans(),
)
def test_event_loop_matches_the_plain_reference(
    spec: list[tuple[int, int, str, float, int]], slots: int, ingest: float, repos: bool
) -> None:
    vms = [
        vm(f"v{i}", f"h{h}", f"D{d}", hours, cluster=c)
        for i, (h, d, c, hours, _) in enumerate(spec)
    ]
    # A host's cluster is its first VM's (estate() takes one cluster per host).
    topo, pol = estate(vms, limits={"per_datastore": 2})
    inf = infra(
        proxies=[
            {
                "name": "hot",
                "max_tasks": slots,
                "modes": ["nbd", "hotadd"],
                "reaches": {"cluster": "C1"},
            },
            {"name": "any1", "max_tasks": 1, "modes": ["nbd"]},
            {"name": "any2", "max_tasks": 1, "modes": ["nbd"]},
        ],
        transport={"hotadd": {"mb_per_s": 100}, "nbd": {"mb_per_s": 40}},
        repositories=(
            [
                {"name": "r1", "max_tasks": 2, "ingest_mb_per_s": ingest},
                {"name": "r2", "max_tasks": 1, "ingest_mb_per_s": ingest},
            ]
            if repos
            else []
        ),
    )
    rels = releases(topo, pol, {f"v{i}": float(a) for i, (*_, a) in enumerate(spec)})
    got = [
        (
            round((j.start - T0).total_seconds() / 60, 6),
            j.assignment.proxy,
            j.assignment.mode,
            j.assignment.repository,
        )
        for j in run(rels, inf, topo, pol)
    ]
    want = reference_run(rels, inf, topo, pol)
    # Starts agree to the microsecond a datetime keeps; the assignments exactly.
    assert [g[1:] for g in got] == [w[1:] for w in want]
    assert all(abs(g[0] - w[0]) < 1e-4 for g, w in zip(got, want, strict=True))

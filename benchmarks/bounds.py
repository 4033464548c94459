"""The lower bound before and after issue 13 (night bin-packing, effective capacity), and what
it costs, on the examples, the generator's regimes and one-component estates.

    python -m benchmarks.bounds [--sizes 1000 10000] [--big 100000] [--plan]
    python -m benchmarks.bounds --tiered 1000 10000 [--plan]

Per estate, in one process and one run: compile wall; the bound with the issue-13 rules off
(the bound before) and on, each timed; the rule that sets the new bound; with ``--plan``, the
planning wall (default pipeline and budget) and its makespan, so that the bound's wall is a
share of the planning wall measured in the same run. ``--big`` sizes get the bound only (their
plans take minutes), and so does the one-group estate unless ``--plan-onegroup``. A benchmark,
not a timed test.

One-component estates: ``onegroup`` is the generator's balanced estate (full cycle) with every
datastore in one RAID group taking 200 jobs at once (the issue's second row); ``sixhour`` is the
issue's 4 x 6 h jobs per host over 3 nights of 14 h, ``per_host`` 1, one datastore per VM.

``--tiered``: the balanced estate as a week of nightly incrementals with one staggered full
per VM (issue 14): the bound without the night-aware rules of tiered cycles
(:mod:`stagger.solve.bound_nights`) and with them, each timed.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from stagger.fmt import hm
from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.solve.bounds import lower_bound

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
GIB_PER_HOUR = 351.5625  # at 100 MB/s


def _examples() -> Iterator[tuple[str, Callable[[], tuple[Topology, Policy]]]]:
    from stagger.sources.yamlfile import load_policy, load_topology

    for name in ("minimal", "estate"):
        d = ROOT / "examples" / name
        yield (
            f"examples/{name}",
            lambda d=d: (load_topology(d / "topology.yaml"), load_policy(d / "policy.yaml")),
        )


def _generated(vms: int, regime: str) -> tuple[Topology, Policy]:
    from benchmarks.generate import EstateSpec, generate

    return generate(EstateSpec(vms, regime), validate=False)  # type: ignore[arg-type]


def _one_group(vms: int) -> tuple[Topology, Policy]:
    """The balanced estate with every datastore in one RAID group of capacity 200."""
    from stagger.model.topology import RaidGroup

    topo, pol = _generated(vms, "balanced")
    group = RaidGroup(name="array", datastores=[d.name for d in topo.datastores], max_jobs=200)
    return topo.model_copy(update={"raid_groups": [group]}), pol


def _six_hour(vms: int) -> tuple[Topology, Policy]:
    hosts = vms // 4
    topo = Topology.model_validate(
        {
            "clusters": [{"name": "C1"}],
            "hosts": [{"name": f"esx{h:04d}", "cluster": "C1"} for h in range(hosts)],
            "datastores": [{"name": f"ds{h:04d}-{i}"} for h in range(hosts) for i in range(4)],
            "vms": [
                {
                    "name": f"vm{h:04d}-{i}",
                    "host": f"esx{h:04d}",
                    "disks": [{"datastore": f"ds{h:04d}-{i}", "size_gib": 6 * GIB_PER_HOUR}],
                }
                for h in range(hosts)
                for i in range(4)
            ],
        }
    )
    pol = Policy.model_validate(
        {
            "timezone": "Europe/Berlin",
            "cycle": {"start": "2026-12-01", "nights": 3},
            "window": {"start": "18:00", "end": "08:00"},
            "slot_minutes": 5,
            "throughput": {"mb_per_s": 100, "overhead_minutes": 0},
            "limits": {"per_host": 1},
        }
    )
    return topo, pol


def _tiered(vms: int) -> tuple[Topology, Policy]:
    """The balanced estate over 7 nights, every VM nightly incrementals and one full in the
    week placed by the planner (`every: 7`): 7 jobs per VM (/work/briefs/probe.py, issue 14)."""
    from benchmarks.generate import EstateSpec, generate

    topo, pol = generate(EstateSpec(vms, "balanced", "full", 0))
    d = pol.model_dump(mode="json", exclude_none=True)
    d["cycle"] = {"start": "2026-11-30", "nights": 7}
    weekly = {"incremental": "nightly", "full": {"every": 7}, "change_rate": 0.05}
    d["tiers"] = [
        {"name": "gold", "match": {"name": "*1"}, "consistency": "application", **weekly},
        {"name": "default", "match": {"default": True}, **weekly},
    ]
    return topo, Policy.model_validate(d)


def measure_tiered(vms: int, with_plan: bool) -> str:
    """One row of the tiered table: the bound without and with the night-aware rules."""
    from stagger.planner import PlanOptions, plan

    topo, pol = _tiered(vms)
    inst, compile_s = _timed(lambda: compile_instance(topo, pol))
    before, before_s = _timed(lambda: lower_bound(inst, nights_aware=False))
    after, after_s = _timed(lambda: lower_bound(inst))
    sm = inst.slot_minutes
    nights = f"{hm(min(after.nights) * sm)}-{hm(max(after.nights) * sm)}"
    plan_cells = "| - | - |"
    if with_plan:
        res, plan_s = _timed(lambda: plan(topo, pol, PlanOptions(processes=2)))
        plan_cells = f"| {hm(res.schedule.makespan_min)} | {plan_s:.1f} |"
    return (
        f"| tiered {vms:,} | {len(inst.jobs):,} | {hm(before.makespan * sm)} |"
        f" {hm(after.makespan * sm)} | {nights} | {after.reason} | {compile_s:.2f} |"
        f" {before_s:.2f} | {after_s:.2f} {plan_cells}"
    )


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def measure(name: str, make: Callable[[], tuple[Topology, Policy]], with_plan: bool) -> str:
    from stagger.planner import PlanOptions, plan

    topo, pol = make()
    inst, compile_s = _timed(lambda: compile_instance(topo, pol))
    before, before_s = _timed(lambda: lower_bound(inst, packing=False, effective=False))
    after, after_s = _timed(lambda: lower_bound(inst))
    b0, b1 = before.makespan * inst.slot_minutes, after.makespan * inst.slot_minutes
    plan_cells = "| - | - | - |"
    if with_plan:
        res, plan_s = _timed(lambda: plan(topo, pol, PlanOptions(processes=2)))
        s = res.schedule
        plan_cells = f"| {hm(s.makespan_min)} | {plan_s:.1f} | {100 * after_s / plan_s:.1f} |"
    return (
        f"| {name} | {len(inst.jobs):,} | {hm(b0)} | {hm(b1)} | {after.reason} | "
        f"{compile_s:.2f} | {before_s:.2f} | {after_s:.2f} {plan_cells}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--big", type=int, nargs="*", default=[])
    ap.add_argument("--plan", action="store_true", help="also plan (default pipeline)")
    ap.add_argument(
        "--tiered",
        type=int,
        nargs="*",
        default=None,
        help="only the tiered week (7 jobs per VM) at these sizes: bound without/with the"
        " night-aware rules",
    )
    ap.add_argument(
        "--plan-onegroup", action="store_true", help="plan the one-group estate too (minutes)"
    )
    args = ap.parse_args()
    print(f"Python {platform.python_version()}; load average at start {_load():.1f}\n")
    if args.tiered is not None:
        print(
            "| estate | jobs | bound without night rules | bound | per-night bounds |"
            " rule that sets it | compile s | bound s without | bound s with | makespan |"
            " plan s |"
        )
        print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|")
        for size in args.tiered:
            print(measure_tiered(size, args.plan), flush=True)
        return
    print(
        "| estate | jobs | bound before | bound after | rule that sets it | compile s |"
        " bound s before | bound s after | makespan | plan s | bound % of plan |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    cases: list[tuple[str, Callable[[], tuple[Topology, Policy]], bool]] = [
        (n, f, args.plan) for n, f in _examples()
    ]
    for size in args.sizes:
        for regime in ("datastore", "balanced"):
            cases.append(
                (f"{regime} {size:,}", lambda s=size, r=regime: _generated(s, r), args.plan)
            )
    cases.append(("sixhour 1,000", lambda: _six_hour(1000), args.plan))
    if 10000 in args.sizes:
        cases.append(("onegroup 10,000", lambda: _one_group(10000), args.plan_onegroup))
    for size in args.big:
        for regime in ("datastore", "balanced"):
            cases.append((f"{regime} {size:,}", lambda s=size, r=regime: _generated(s, r), False))
    for name, make, with_plan in cases:
        print(measure(name, make, with_plan), flush=True)


def _load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


if __name__ == "__main__":
    main()

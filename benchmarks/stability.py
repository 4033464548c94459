"""Stability benchmark: lengthen 2% of the jobs of a planned estate, then re-plan twice.

    python -m benchmarks.stability --vms 10000 --time-limit 60

1. plan the seeded estate of ``benchmarks.generate`` from scratch: the baseline;
2. lengthen 2% of the jobs (seeded choice; their disks grow by ``--grow`` percent);
3. re-plan from scratch (the ordinary planner) and count the jobs whose start changed;
4. re-plan with the stability objective (``stagger.whatif.replan``) and count again.

Prints one Markdown table row per method (moved jobs, total shift, makespan, wall time).
"""

from __future__ import annotations

import argparse
import random
import time

from benchmarks.generate import EstateSpec, generate
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.whatif import diff_schedules, replan


def lengthen(topology: Topology, share: float, grow_pct: float, seed: int) -> Topology:
    rng = random.Random(seed)
    names = sorted(v.name for v in topology.vms if v.needs_backup)
    chosen = set(rng.sample(names, max(1, round(len(names) * share))))
    vms = []
    for v in topology.vms:
        if v.name in chosen:
            disks = [
                d.model_copy(update={"size_gib": d.size_gib * (1 + grow_pct / 100)})
                for d in v.disks
            ]
            v = v.model_copy(update={"disks": disks})
        vms.append(v)
    return topology.model_copy(update={"vms": vms})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--regime", default="datastore")
    ap.add_argument("--share", type=float, default=0.02)
    ap.add_argument("--grow", type=float, default=30.0, help="percent the chosen jobs grow")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    topo, pol = generate(EstateSpec(args.vms, args.regime, "full", args.seed))  # type: ignore[arg-type]
    opts = PlanOptions(time_limit_s=args.time_limit, seed=args.seed, workers=2)
    t0 = time.perf_counter()
    base = plan(topo, pol, opts).schedule
    t_base = time.perf_counter() - t0
    print(
        f"baseline: {len(base.jobs)} jobs, {len(base.unscheduled)} unscheduled, makespan"
        f" {base.makespan_min} min, {t_base:.0f} s ({base.solver.status})",
        flush=True,
    )
    changed = lengthen(topo, args.share, args.grow, args.seed)

    t0 = time.perf_counter()
    scratch = plan(
        changed, pol, PlanOptions(time_limit_s=args.time_limit, seed=args.seed, workers=2)
    )
    t_scratch = time.perf_counter() - t0
    d1 = diff_schedules(base, scratch.schedule)

    t0 = time.perf_counter()
    stable = replan(
        changed, pol, base, PlanOptions(time_limit_s=args.time_limit, seed=args.seed, workers=2)
    )
    t_stable = time.perf_counter() - t0
    d2 = diff_schedules(base, stable.schedule)

    print("| method | moved jobs | total shift (h) | makespan (min) | unscheduled | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, d, sched, wall in (
        ("re-solve from scratch", d1, scratch.schedule, t_scratch),
        ("stability objective", d2, stable.schedule, t_stable),
    ):
        shift_h = sum(abs(m.shift_min) for m in d.moved) / 60
        print(
            f"| {name} | {len(d.moved)} | {shift_h:,.1f} | {sched.makespan_min} |"
            f" {len(sched.unscheduled)} | {wall:.0f} |"
        )
    w = stable.warm_start
    print(
        f"warm start (repair): moved {w.moved}, excess {sum(w.excess)} slots, dropped {w.dropped};"
        f" baseline makespan {base.makespan_min} min;"
        f" lengthened {round(len(base.jobs) * args.share)} jobs by {args.grow:g} %"
    )


if __name__ == "__main__":
    main()

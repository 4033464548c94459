"""Issue 13's estates and the generator's old regimes planned under a wall-clock time limit,
one case per process, as a user would (``stagger plan --time-limit``).

    python -m benchmarks.lns_sweep [--cases adversarial:10000:incremental ...]

A case is ``REGIME:VMS:CYCLE`` (a ``benchmarks.generate`` regime) or ``one-rg:VMS``
(``benchmarks.lns.connected``). The time limit is 10 s at 1,000 VMs and 60 s above. Prints
one JSON line per case: plan, bound and greedy (minutes), gap, wall seconds (compile to
validated schedule), status and whether the wall clock cut a search.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.generate import EstateSpec, generate
from benchmarks.lns import connected
from stagger.planner import PlanOptions, plan

CASES = (
    "adversarial:10000:incremental",
    "adversarial:10000:full",
    "connected:1000:full",
    "connected:1000:incremental",
    "connected:10000:full",
    "connected:10000:incremental",
    "one-rg:10000",
    "datastore:1000:full",
    "datastore:1000:incremental",
    "balanced:1000:full",
    "balanced:1000:incremental",
    "datastore:10000:full",
    "datastore:10000:incremental",
    "balanced:10000:full",
    "balanced:10000:incremental",
)


def run_case(case: str) -> dict[str, object]:
    parts = case.split(":")
    vms = int(parts[1])
    if parts[0] == "one-rg":
        topo, pol = connected(vms, "one-rg")
    else:
        topo, pol = generate(EstateSpec(vms, parts[0], parts[2], 0))
    limit = 10.0 if vms <= 1000 else 60.0
    t0 = time.perf_counter()
    sched = plan(topo, pol, PlanOptions(seed=0, time_limit_s=limit)).schedule
    wall = time.perf_counter() - t0
    return {
        "case": case,
        "limit_s": limit,
        "plan_min": sched.makespan_min,
        "bound_min": sched.lower_bound_min,
        "greedy_min": sched.solver.greedy_makespan_min,
        "gap_pct": sched.gap_pct,
        "wall_s": round(wall, 1),
        "status": sched.solver.status,
        "wall_limit_hit": sched.solver.wall_limit_hit,
        "load": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one)), flush=True)
        return
    for case in args.cases:
        subprocess.run([sys.executable, "-m", "benchmarks.lns_sweep", "--one", case], check=False)


if __name__ == "__main__":
    main()

"""Makespan LNS on estates that are one large component (issue 13).

    python -m benchmarks.lns --vms 1000 10000 --budget 60

The generator's estates split into many small components; these are rewritten into one:

- ``one-rg``: every datastore in one RAID group (capacity ``vms / 50``, 200 at 10,000 VMs: the
  issue's second row);
- ``spanning``: the datastores dealt round-robin into four RAID groups (capacity ``vms / 150``
  each), so that the clusters' multi-datastore VMs tie them all together;
- ``spanning+slots``: four RAID groups of ``vms / 100`` units and ``limits.concurrent_jobs`` =
  ``vms / 50`` task slots.

The generator's own ``concurrent_jobs`` (0.6 per host) stays on the first two. For each estate:
the lower bound, the greedy warm start, then the planner with the neighbourhood
search switched off (one CP-SAT model, as before) and on, with the same budget, in one run (the
machine is shared: compare the ratios, not the seconds, across runs).
"""

from __future__ import annotations

import argparse
import os
import time

from benchmarks.generate import EstateSpec, generate
from stagger.model.policy import Policy
from stagger.model.topology import RaidGroup, Topology
from stagger.planner import PlanOptions, plan

ESTATES = ("one-rg", "spanning", "spanning+slots")


def connected(vms: int, kind: str, seed: int = 0) -> tuple[Topology, Policy]:
    """A generated estate (``balanced``, full cycle) rewritten into one component."""
    topo, pol = generate(EstateSpec(vms, "balanced", "full", seed))
    stores = [d.name for d in topo.datastores]
    if kind == "one-rg":
        groups = [RaidGroup(name="RG-ALL", datastores=stores, max_jobs=max(2, vms // 50))]
    else:
        per = 100 if kind == "spanning+slots" else 150  # units per RAID group: vms / per
        groups = [
            RaidGroup(name=f"RG-{g}", datastores=stores[g::4], max_jobs=max(2, vms // per))
            for g in range(4)
        ]
    topo = topo.model_copy(update={"raid_groups": groups})
    if kind == "spanning+slots":
        limits = pol.limits.model_copy(update={"concurrent_jobs": max(2, vms // 50)})
        pol = pol.model_copy(update={"limits": limits})
    return Topology.model_validate(topo.model_dump()), Policy.model_validate(pol.model_dump())


def run(vms: int, kind: str, budget_s: float, wall: bool) -> dict[str, object]:
    topo, pol = connected(vms, kind)
    out: dict[str, object] = {"vms": vms, "estate": kind}
    # The neighbourhood search forced (threshold 0) against it switched off: the same estate,
    # budget and seed.
    for name, lns_min in (("single model", 1 << 30), ("LNS", 0)):
        opts = PlanOptions(seed=0, lns_min_jobs=lns_min)
        if wall:
            opts.time_limit_s = budget_s
        else:
            opts.deterministic_budget = budget_s * 0.1
        t0 = time.perf_counter()
        sched = plan(topo, pol, opts).schedule
        wall_s = time.perf_counter() - t0
        out["bound"] = sched.lower_bound_min
        out["greedy"] = sched.solver.greedy_makespan_min
        out[name] = (sched.makespan_min, sched.gap_pct, round(wall_s, 1), sched.solver.status)
    out["load"] = round(os.getloadavg()[0], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vms", type=int, nargs="+", default=[1000])
    ap.add_argument("--estates", nargs="+", default=list(ESTATES), choices=ESTATES)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds (time limit)")
    ap.add_argument("--deterministic", action="store_true", help="budget in dtime, no wall")
    args = ap.parse_args()
    for vms in args.vms:
        for kind in args.estates:
            print(run(vms, kind, args.budget, not args.deterministic), flush=True)


if __name__ == "__main__":
    main()

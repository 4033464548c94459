"""The time-stepping warm start (``stagger/solve/parallel_sgs.py``, issue 13) against the
serial orders alone, on the issue's hard estates and the generator's old regimes.

    python -m benchmarks.sgs --cases adversarial:10000:incremental one-rg:10000:full \\
        --time-limit 60
    python -m benchmarks.sgs --scale 10000 50000 100000

Per case, in one process: the lower bound; the warm start (``solve_greedy_best``) without the
time-stepping candidates ("before": a bound so high the serial orders always meet it, which
skips them, the code path of the parent commit) and with them ("after", given the planner's
bound), each with its wall seconds; then, with ``--time-limit``, the planner's final plan both
ways (before: the planner's warm start patched to skip them). ``--scale``: the time-stepping
candidates' own wall seconds (``sgs_candidates`` without a bound, so every targeted run
happens) on the adversarial incremental and connected full estates.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from benchmarks.generate import EstateSpec, generate
from benchmarks.lns import ESTATES, connected
from stagger import planner
from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve.bounds import lower_bound
from stagger.solve.components import components
from stagger.solve.greedy import solve_greedy_best
from stagger.solve.parallel_sgs import sgs_candidates
from stagger.solve.solution import Solution, makespan_slots

SKIP = 1 << 30  # a bound every plan meets: the time-stepping candidates are skipped


def estate(name: str, vms: int, cycle: str) -> tuple[Topology, Policy]:
    if name in ESTATES:
        return connected(vms, name)
    return generate(EstateSpec(vms, name, cycle, 0))  # type: ignore[arg-type]


def _serial_only(inst: Any, groups: Any = None, bound_slots: Any = None) -> Solution:
    return solve_greedy_best(inst, groups, SKIP)


def case(name: str, vms: int, cycle: str, time_limit: float | None) -> dict[str, Any]:
    topo, pol = estate(name, vms, cycle)
    inst = compile_instance(topo, pol)
    bound = lower_bound(inst).makespan
    groups = components(inst)
    row: dict[str, Any] = {"case": f"{name} {vms} {cycle}", "slot_min": inst.slot_minutes}
    row["bound"] = bound
    for label, b in (("before", SKIP), ("after", bound)):
        t0 = time.perf_counter()
        warm = solve_greedy_best(inst, groups, b)
        row[f"warm {label}"] = (makespan_slots(inst, warm.starts), len(warm.dropped))
        row[f"warm {label} s"] = round(time.perf_counter() - t0, 2)
    if time_limit:
        original = planner.solve_greedy_best
        for label in ("before", "after"):
            planner.solve_greedy_best = _serial_only if label == "before" else original
            t0 = time.perf_counter()
            s = plan(topo, pol, PlanOptions(seed=0, time_limit_s=time_limit)).schedule
            wall = round(time.perf_counter() - t0, 1)
            row[f"plan {label}"] = (s.makespan_min, s.gap_pct, wall, s.solver.status)
            row["bound_min"] = s.lower_bound_min
        planner.solve_greedy_best = original
    row["load"] = round(os.getloadavg()[0], 1)
    return row


def scale(vms: int) -> list[dict[str, Any]]:
    rows = []
    for name, cycle in (("adversarial", "incremental"), ("connected", "full")):
        inst = compile_instance(*estate(name, vms, cycle))
        t0 = time.perf_counter()
        runs = sgs_candidates(inst)
        wall = round(time.perf_counter() - t0, 2)
        best = min(makespan_slots(inst, r.starts) for r in runs if not r.dropped) if runs else 0
        rows.append({"vms": vms, "estate": f"{name} {cycle}", "runs": len(runs), "s": wall,
                     "best": best, "jobs": len(inst.jobs)})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=[], help="estate:vms:cycle")
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--scale", type=int, nargs="*", default=[])
    args = ap.parse_args()
    for c in args.cases:
        name, vms, cycle = c.split(":")
        print(case(name, int(vms), cycle, args.time_limit), flush=True)
    for vms in args.scale:
        for row in scale(vms):
            print(row, flush=True)


if __name__ == "__main__":
    main()

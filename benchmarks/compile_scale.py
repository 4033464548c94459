"""How compile, bound, greedy, schedule building and validation grow with the estate.

    python -m benchmarks.compile_scale [--sizes 10000 20000 40000] [--regime datastore]

Each size runs in its own subprocess: generate the estate, add two blackouts per host and two
per cluster (an antivirus scan every night and a one-off patch window on each), then time each
stage once: ``compile_instance``, ``lower_bound``, the plain longest-first greedy, the
planner's warm start (``components`` and ``solve_greedy_best``: several orders, the best per
component), ``build_schedule`` and ``find_violations`` (the validator). Printed: seconds per
stage and size, and the ratios of consecutive sizes (2.0 for a doubling is linear growth, 4.0
quadratic). A benchmark, not a timed test; ratios from one run on one machine state.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SIZES = (10_000, 20_000, 40_000)
STAGES = ("compile", "bound", "greedy", "warm", "schedule", "validate")


def with_blackouts(pol: Any, topo: Any) -> Any:
    """``pol`` plus two blackouts per host and two per cluster of ``topo``."""
    from stagger.model.policy import Blackout

    start = datetime.combine(pol.cycle.start, datetime.min.time()) + timedelta(hours=22)
    extra = []
    for kind, names in (
        ("host", [h.name for h in topo.hosts]),
        ("cluster", [c.name for c in topo.clusters]),
    ):
        for i, name in enumerate(names):
            extra.append(
                Blackout(
                    name=f"bench-scan-{name}",
                    scope={kind: name},  # type: ignore[arg-type]
                    rrule=f"FREQ=DAILY;BYHOUR={i % 3};BYMINUTE=30",
                    duration=timedelta(minutes=20),
                )
            )
            s = start + timedelta(minutes=10 * (i % 12))
            extra.append(
                Blackout(
                    name=f"bench-maint-{name}",
                    scope={kind: name},  # type: ignore[arg-type]
                    start=s,
                    end=s + timedelta(minutes=30),
                )
            )
    return pol.model_copy(update={"blackouts": [*pol.blackouts, *extra]})


def run_case(vms: int, regime: str, seed: int) -> dict[str, Any]:
    from benchmarks.generate import EstateSpec, generate
    from stagger.instance import compile_instance
    from stagger.model.schedule import SolverInfo
    from stagger.planner import build_schedule
    from stagger.solve.bounds import lower_bound
    from stagger.solve.components import components
    from stagger.solve.greedy import solve_greedy, solve_greedy_best
    from stagger.validate import find_violations

    topo, pol = generate(EstateSpec(vms, regime, "full", seed))  # type: ignore[arg-type]
    pol = with_blackouts(pol, topo)
    seconds: dict[str, float] = {}

    def timed(stage: str, fn: Any, *args: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args)
        seconds[stage] = round(time.perf_counter() - t, 3)
        return out

    inst = timed("compile", compile_instance, topo, pol)
    bound = timed("bound", lower_bound, inst)
    sol = timed("greedy", solve_greedy, inst)
    timed("warm", lambda: solve_greedy_best(inst, components(inst)))
    info = SolverInfo(name="greedy", status="GREEDY")
    schedule = timed("schedule", build_schedule, topo, pol, inst, sol, bound, info)
    violations = timed("validate", find_violations, schedule, topo, pol)
    if violations:
        raise SystemExit(f"{vms}: the greedy plan fails validation: {violations[0]}")
    return {
        "vms": vms,
        "jobs": len(inst.jobs),
        "blackouts": len(pol.blackouts),
        "hosts": len(topo.hosts),
        **seconds,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = "| VMs | blackouts | " + " | ".join(f"{s} s" for s in STAGES) + " |\n"
    head += "|---:|---:|" + "---:|" * len(STAGES) + "\n"
    body = "".join(
        f"| {r['vms']:,} | {r['blackouts']:,} | "
        + " | ".join(f"{r[s]:.2f}" for s in STAGES)
        + " |\n"
        for r in rows
    )
    ratios = ""
    for a, b in itertools.pairwise(rows):
        ratios += (
            f"| ratio {b['vms'] // 1000}k/{a['vms'] // 1000}k | "
            f"{b['blackouts'] / a['blackouts']:.2f} | "
            + " | ".join(f"{b[s] / a[s]:.2f}" if a[s] else "n/a" for s in STAGES)
            + " |\n"
        )
    return head + body + ratios


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--regime", default="datastore")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--case", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.regime, args.seed)))
        return
    env = dict(os.environ)
    env["PYTHONPATH"] = (
        str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    )
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, "-m", "benchmarks.compile_scale", "--case", str(n)]
        cmd += ["--regime", args.regime, "--seed", str(args.seed)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            print(f"{n}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    print(table(rows))


if __name__ == "__main__":
    main()

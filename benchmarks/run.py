"""Scale benchmark: plan synthetic estates and tabulate time, memory and plan quality.

    python -m benchmarks.run [--sizes 100 1000 10000] [--regimes datastore balanced]
                             [--cycles full incremental] [--out benchmarks/RESULTS.md]

Every case runs in its own subprocess (so peak RSS is that case's alone): generate the estate,
then ``stagger.planner.plan`` with the default pipeline (compile, bound, greedy, decomposed
CP-SAT, validation). Wall time is the planning only, not the generation. Peak RSS is the
planning process's high-water mark plus, for the component process pool, the largest pool
process times the pool size (an upper bound). A benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZES = (100, 1_000, 10_000, 50_000, 100_000)
# Solver budget per size (seconds), leaving room for compile, bound, greedy and validation
# inside the targets (10 s, 60 s, 5 min).
BUDGET = {100: 5.0, 1_000: 8.0, 10_000: 45.0, 50_000: 150.0, 100_000: 200.0}
TARGET_GAP = {1_000: 0.5, 10_000: 1.0, 100_000: 2.0}


def _peak_rss_mib() -> float:
    hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    pool = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return (hwm + pool * 2) / 1024


def run_case(
    vms: int,
    regime: str,
    cycle: str,
    seed: int,
    time_limit: float | None,
    concurrent: int | None = None,
) -> dict[str, Any]:
    from benchmarks.generate import EstateSpec, generate
    from stagger.planner import PlanOptions, plan
    from stagger.solve.cpsat import DTIME_PER_SECOND

    t = time.perf_counter()
    topo, pol = generate(EstateSpec(vms, regime, cycle, seed))  # type: ignore[arg-type]
    gen_s = time.perf_counter() - t
    limit = time_limit if time_limit is not None else BUDGET.get(vms, 60.0)
    t = time.perf_counter()
    if concurrent is not None:
        pol = pol.model_copy(
            update={"limits": pol.limits.model_copy(update={"concurrent_jobs": concurrent})}
        )
    # Per-size budgets are deterministic (reproducible rows); an explicit --time-limit is the
    # CLI's wall-clock promise.
    opts = (
        PlanOptions(time_limit_s=time_limit, seed=seed)
        if time_limit is not None
        else PlanOptions(deterministic_budget=limit * DTIME_PER_SECOND, seed=seed)
    )
    res = plan(topo, pol, opts)
    wall = time.perf_counter() - t
    s = res.schedule
    greedy = s.solver.greedy_makespan_min or s.makespan_min
    return {
        "vms": vms,
        "regime": regime,
        "cycle": cycle,
        "jobs": len(s.jobs),
        "gen_s": round(gen_s, 2),
        "wall_s": round(wall, 2),
        "rss_mib": round(_peak_rss_mib(), 1),
        "makespan_min": s.makespan_min,
        "bound_min": s.lower_bound_min,
        "gap_pct": s.gap_pct,
        "greedy_min": greedy,
        "ratio": round(s.makespan_min / greedy, 4) if greedy else 1.0,
        "unscheduled": len(s.unscheduled),
        "status": s.solver.status + (" (wall limit hit)" if s.solver.wall_limit_hit else ""),
        "unscheduled_min": s.unscheduled_min,
        "time_limit_s": limit,
    }


def _hm(minutes: float) -> str:
    m = round(minutes)
    return f"{m // 60}h{m % 60:02d}"


def _gap(row: dict[str, Any]) -> str:
    """Makespan gap; with VMs left out, the gap on their count (at least N must go)."""
    if row["gap_pct"] is not None:
        return f"{row['gap_pct']:.2f}"
    return f"n/a (>= {row.get('unscheduled_min', 0)} must go)"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| VMs | regime | cycle | wall s | peak RSS MiB | makespan | bound | gap % | greedy |"
        " CP-SAT/greedy | unscheduled | status |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    body = "".join(
        f"| {r['vms']:,} | {r['regime']} | {r['cycle']} | {r['wall_s']:.1f} | {r['rss_mib']:.0f} |"
        f" {_hm(r['makespan_min'])} | {_hm(r['bound_min'])} | {_gap(r)} |"
        f" {_hm(r['greedy_min'])} | {r['ratio']:.3f} | {r['unscheduled']} | {r['status']} |\n"
        for r in rows
    )
    return head + body


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import ortools

    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()},"
        f" OR-Tools {ortools.__version__}; load average at start {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="stagger scale benchmark")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--regimes", nargs="+", default=["datastore", "balanced"])
    ap.add_argument("--cycles", nargs="+", default=["full", "incremental"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=None, help="override the per-size budget")
    ap.add_argument("--concurrent", type=int, default=None, help="override limits.concurrent_jobs")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    ap.add_argument("--case", nargs=3, metavar=("VMS", "REGIME", "CYCLE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        n, regime, cycle = args.case
        row = run_case(int(n), regime, cycle, args.seed, args.time_limit, args.concurrent)
        print(json.dumps(row))
        return
    rows = []
    env = dict(os.environ)
    env["PYTHONPATH"] = (
        str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    )
    header = machine()
    print(header, flush=True)
    for n in args.sizes:
        for regime in args.regimes:
            for cycle in args.cycles:
                cmd = [sys.executable, "-m", "benchmarks.run", "--case", str(n), regime, cycle]
                cmd += ["--seed", str(args.seed)]
                if args.time_limit is not None:
                    cmd += ["--time-limit", str(args.time_limit)]
                if args.concurrent is not None:
                    cmd += ["--concurrent", str(args.concurrent)]
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if out.returncode != 0:
                    print(f"{n} {regime} {cycle}: failed\n{out.stderr[-2000:]}", flush=True)
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(
            "# Scale benchmark results\n\n"
            f"Machine: {header}.\n\n"
            "`python -m benchmarks.run --out benchmarks/RESULTS.md` (seed "
            f"{args.seed}). Wall = planning (compile, bound, greedy, decomposed CP-SAT,"
            " validation), not estate generation.\n\n" + text
        )


if __name__ == "__main__":
    main()

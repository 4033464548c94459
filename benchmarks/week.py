"""Issue 14 benchmark: a tiered week (``benchmarks.generate.week_dicts``), 7 nights, every VM
an incremental each night and a weekly full, planned against two baselines.

    python -m benchmarks.week [--vms 10000] [--time-limit 60] [--out /tmp/week.md]

Three cases, each in its own subprocess (peak RSS is that case's alone: the process's
high-water mark, ``VmHWM``, plus the largest pool process times two, as benchmarks.run):

- ``tiered``: ``stagger.planner.plan`` with ``--time-limit`` semantics (the whole plan, compile
  to validated schedule, inside that many wall seconds);
- ``saturday``: the same estate with every tier's full fixed on Saturday ("all fulls on one
  fixed night"), planned by the same planner with the same limit;
- ``roundrobin``: the tiered instance with VM i's planner-chosen full pinned to night i mod 7
  (VMs numbered in inventory order; the weekly tier keeps its Saturday), then stagger's plain
  longest-first greedy places every start (no search).

Per case and night: makespan (window start to last end), spread (largest night minus smallest),
the planner's lower bound on the makespan (``Schedule.lower_bound_min``, over all nights: the
bound of ``stagger.solve.bounds.lower_bound``), each night's gap to it, wall and peak memory.
The baselines are compared by their worst night, as ratios within one run (the machine is
shared). A benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.run import _hm, _peak_rss_mib, machine

CASES = ("tiered", "saturday", "roundrobin")
TARGET_GAP_PCT = 5.0  # the target: every night within 5 % of the bound


def round_robin(inst: Any) -> Any:
    """A copy of ``inst`` whose planner-chosen fulls (a group's full job) are each pinned to
    night ``i mod N`` of their block, ``i`` the VM's position among the VMs with such a full
    (inventory order); a night outside the block or not allowed keeps the job as it was."""
    import copy

    out = copy.copy(inst)
    out.jobs = list(inst.jobs)
    order: dict[str, int] = {}
    n_nights = len(inst.nights)
    for j, job in enumerate(inst.jobs):
        if job.level != "full" or job.group is None:
            continue
        i = order.setdefault(job.vm, len(order))
        night = i % n_nights
        if not job.allowed[night]:
            continue
        pinned = copy.copy(job)
        pinned.allowed = tuple(spans if n == night else () for n, spans in enumerate(job.allowed))
        out.jobs[j] = pinned
    return out


def run_case(case: str, vms: int, regime: str, seed: int, time_limit: float) -> dict[str, Any]:
    from benchmarks.generate import EstateSpec, generate_week
    from stagger.planner import PlanOptions, plan
    from stagger.solve.bounds import lower_bound
    from stagger.solve.greedy import solve_greedy
    from stagger.solve.solution import night_spans

    spec = EstateSpec(vms, regime, "full", seed)  # type: ignore[arg-type]
    topo, pol = generate_week(spec, "saturday" if case == "saturday" else "every", validate=False)
    t = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    if case == "roundrobin":
        from stagger.instance import compile_instance

        inst = round_robin(compile_instance(topo, pol))
        sol = solve_greedy(inst)
        spans_min = [s * inst.slot_minutes for s in night_spans(inst, sol.starts)]
        bound_min = lower_bound(inst).makespan * inst.slot_minutes
        jobs, dropped, status = len(sol.starts), len(sol.dropped), "GREEDY"
    else:
        res = plan(topo, pol, PlanOptions(time_limit_s=time_limit, seed=seed))
        s = res.schedule
        spans_min = [n.makespan_min for n in s.nights]
        bound_min = s.lower_bound_min
        jobs, dropped = len(s.jobs), len(s.unscheduled)
        status = s.solver.status + (" (wall limit hit)" if s.solver.wall_limit_hit else "")
    wall = time.perf_counter() - t
    done = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds of this process (every thread: CP-SAT's workers too; not the decomposition's
    # pool processes) say what the wall time does not on a machine shared with other work.
    cpu_s = done.ru_utime + done.ru_stime - cpu.ru_utime - cpu.ru_stime
    return {
        "case": case,
        "vms": vms,
        "jobs": jobs,
        "dropped": dropped,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu_s, 2),
        "rss_mib": round(_peak_rss_mib(), 1),
        "nights_min": spans_min,
        "bound_min": bound_min,
        "status": status,
    }


def _gap(span: int, bound: int) -> float:
    return 100.0 * (span - bound) / bound if bound else 0.0


def table(rows: list[dict[str, Any]]) -> str:
    """One line per case: the nights' makespans, spread, bound, worst gap, wall, memory."""
    n = max((len(r["nights_min"]) for r in rows), default=0)
    tiered = next((r for r in rows if r["case"] == "tiered"), None)
    head = (
        "| case | jobs | "
        + " | ".join(f"night {i}" for i in range(n))
        + " | spread | bound | worst gap % | nights within 5 % | worst / tiered |"
        " wall s | CPU s | peak RSS MiB | left out | status |\n"
        + "|---|---:|"
        + "---:|" * n
        + "---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    body = ""
    for r in rows:
        spans, bound = r["nights_min"], r["bound_min"]
        worst = max(spans)
        # A plan that leaves VMs out is not held to a bound for every job, nor compared.
        full = not r["dropped"] and not (tiered and tiered["dropped"])
        within = sum(_gap(s, bound) <= TARGET_GAP_PCT for s in spans)
        gap = f"{_gap(worst, bound):.1f}" if not r["dropped"] else "n/a"
        inside = f"{within}/{len(spans)}" if not r["dropped"] else "n/a"
        ratio = f"{worst / max(tiered['nights_min']):.3f}" if tiered and full else "n/a"
        cpu = f"{r['cpu_s']:.1f}" if "cpu_s" in r else "n/m"
        body += (
            f"| {r['case']} | {r['jobs']:,} | "
            + " | ".join(_hm(s) for s in spans)
            + f" | {_hm(worst - min(spans))} | {_hm(bound)} | {gap} |"
            f" {inside} | {ratio} | {r['wall_s']:.1f} | {cpu} | {r['rss_mib']:.0f} |"
            f" {r['dropped']} | {r['status']} |\n"
        )
    return head + body


def main() -> None:
    ap = argparse.ArgumentParser(description="stagger tiered-week benchmark (issue 14)")
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--regime", default="balanced")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=60.0, help="wall seconds per plan")
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.vms, args.regime, args.seed, args.time_limit)))
        return
    env = dict(os.environ)
    env["PYTHONPATH"] = (
        str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    )
    header = machine()
    print(header, flush=True)
    rows = []
    for case in args.cases:
        cmd = [sys.executable, "-m", "benchmarks.week", "--case", case, "--vms", str(args.vms)]
        cmd += ["--regime", args.regime, "--seed", str(args.seed)]
        cmd += ["--time-limit", str(args.time_limit)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            print(f"{case}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(table(rows).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(
            f"Machine: {header}.\n\n`python -m benchmarks.week {' '.join(sys.argv[1:])}`\n\n" + text
        )


if __name__ == "__main__":
    main()

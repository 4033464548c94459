"""CP-SAT choosing proxy, mode and repository (``Job.options``) against the same model with
each job's option fixed beforehand by a simple rule, on synthetic estates.

python -m benchmarks.options_cpsat [JOBS ...]

Estate: hosts (2 jobs at once each) in clusters of 4; per cluster one hot-add proxy (2
tasks, reaches its cluster, hot-add 400 MB/s) and one NBD proxy for everything (4 tasks, 120
MB/s); two repositories (6 tasks, ingest 900 and 600 MB/s); VM sizes 50-400 GiB; one 8-hour
night of 15-minute slots.
"Fixed" gives each job one option: hot-add through its cluster's proxy into the repositories in
turn (what a backup job definition usually names), so only the starts are planned. Same seed,
same deterministic budget (5 s at DTIME_PER_SECOND), one run; figures in
benchmarks/RESULTS-infra-cpsat.md (wall times as ratios).
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

from stagger.instance import Instance, Job, NightSlots, Option, Resource, allowed_starts
from stagger.solve.cpsat import build_model, solve_cpsat
from stagger.solve.solution import Solution

SLOT_MIN = 15
NIGHT = [NightSlots(0, 0, 32)]  # 8 h
RATES = {"hotadd": 400, "nbd": 120}
REPOS = {"repo-1": 900, "repo-2": 600}


def estate(n_jobs: int, seed: int = 1) -> Instance:
    rng = random.Random(seed)
    n_hosts = max(4, n_jobs // 6)
    n_clusters = math.ceil(n_hosts / 4)
    res = [Resource("host", f"esx{h}", 2) for h in range(n_hosts)]
    proxy = {}
    for c in range(n_clusters):
        proxy[c] = len(res)
        res.append(Resource("proxy", f"prx-c{c}", 2))
    nbd = len(res)
    res.append(Resource("proxy", "prx-nbd", 4))
    tasks, ingest = {}, {}
    for name, mb in REPOS.items():
        tasks[name] = len(res)
        res.append(Resource("repository", name, 6))
        ingest[name] = len(res)
        res.append(Resource("ingest", name, mb))
    jobs = []
    for i in range(n_jobs):
        h = rng.randrange(n_hosts)
        gib = rng.uniform(50, 400)
        opts = []
        for p, mode in ((proxy[h // 4], "hotadd"), (nbd, "nbd")):
            for repo, cap in REPOS.items():
                rate = min(RATES[mode], cap)
                minutes = 5 + gib * 1024 / rate / 60
                d = max(1, math.ceil(minutes / SLOT_MIN))
                allowed = allowed_starts(NIGHT, [], d)
                if not any(allowed):
                    continue
                opts.append(
                    Option(
                        res[p].name,
                        mode,
                        repo,
                        d,
                        minutes,
                        allowed,
                        (p, tasks[repo], ingest[repo]),
                        (1, 1, math.ceil(rate)),
                    )
                )
        short = min(opts, key=lambda o: o.duration)
        jobs.append(
            Job(
                f"vm{i}",
                short.duration,
                (h,),
                short.allowed,
                gib,
                short.minutes,
                options=tuple(opts),
            )
        )
    return Instance(SLOT_MIN, datetime(2026, 11, 26, 20, tzinfo=UTC), NIGHT, res, jobs)


def fixed(inst: Instance) -> Instance:
    """Each job keeps one option: hot-add, repositories in turn."""
    jobs = []
    for i, job in enumerate(inst.jobs):
        repo = list(REPOS)[i % len(REPOS)]
        pick = next(o for o in job.options if o.mode == "hotadd" and o.repository == repo)
        jobs.append(replace(job, duration=pick.duration, allowed=pick.allowed, options=(pick,)))
    return replace(inst, jobs=jobs)


def run(inst: Instance, budget_s: float) -> tuple[int | None, int, str, float, int]:
    """(makespan in slots or None, jobs dropped, status, wall s, intervals in the model)."""
    built = build_model(inst, None, False)
    intervals = sum(1 for c in built.model.proto.constraints if c.has_interval())
    t0 = time.perf_counter()
    res = solve_cpsat(inst, None, time_limit_s=budget_s, seed=1, workers=4)
    wall = time.perf_counter() - t0
    sol: Solution = res.solution
    ends = [
        s + (inst.jobs[j].options[sol.options[j]].duration if j in sol.options else 0)
        for j, s in sol.starts.items()
    ]
    return (max(ends) if ends else None), len(sol.dropped), res.status, wall, intervals


def main(sizes: list[int]) -> None:
    print("| jobs | plan | makespan | dropped | status | intervals | wall s |")
    print("|---:|---|---:|---:|---|---:|---:|")
    for n in sizes:
        inst = estate(n)
        for label, case in (("options chosen", inst), ("options fixed", fixed(inst))):
            span, dropped, status, wall, ivs = run(case, 5.0)
            shown = "-" if span is None else f"{span * SLOT_MIN / 60:.2f} h"
            print(f"| {n} | {label} | {shown} | {dropped} | {status} | {ivs} | {wall:.1f} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [40])

"""Long fuzz runs of every file loader, with figures for benchmarks/RESULTS-fuzz.md.

    python -m benchmarks.fuzz --seconds 600                 # every target, 10 min each
    python -m benchmarks.fuzz --seconds 60 --targets policy,schedule --out /tmp/r.md
    python -m benchmarks.fuzz --inputs 100000 --seconds 7200 --cpu 1 --targets topology

Runs the harness of tests/fuzz (byte and structured mutation of real seeds; for inputs that
load: plan, every export, read-backs) target after target, each in a worker subprocess
pinned to one CPU with a memory cap, so that a crash that kills the interpreter (segfault,
out of memory) is counted and the run goes on with a fresh worker. A worker writes the input
it is about to run to disk first, so the input that killed it is kept.

A *crash* is anything but a one-line StaggerError: a traceback, a multi-line error, an input
that takes longer than --input-timeout seconds, or a dead worker. Crashes are grouped by
signature (exception type and innermost stagger frame). Recorded per target: inputs tried,
share that loaded, crashes and distinct signatures, the slowest input.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fuzz import harness  # noqa: E402
from tests.fuzz.harness import TARGETS, make_input, run_input  # noqa: E402

MEMORY_CAP_BYTES = 3 * 1024**3


class _InputTimeout(Exception):
    pass


def _on_alarm(_sig: int, _frame: Any) -> None:
    raise _InputTimeout


def worker(
    target_name: str, seconds: float, inputs: int, seed: int, report: Path, timeout_s: float
) -> None:
    """Fuzz one target until the deadline or ``inputs`` inputs (0: no count limit); keep
    ``report`` (JSON) current as it goes."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    signal.signal(signal.SIGALRM, _on_alarm)
    target = TARGETS[target_name]
    rng = random.Random(seed)
    state: dict[str, Any] = {
        "inputs": 0,
        "loaded": 0,
        "crashes": {},
        "details": {},
        "slowest_s": 0.0,
        "slowest": "",
        "exercised": 0,
        "done": False,
    }
    current = report.with_suffix(".input")
    deadline = time.monotonic() + seconds
    last_write = 0.0
    while time.monotonic() < deadline and not (inputs and state["inputs"] >= inputs):
        try:
            data = make_input(target, rng)
        except Exception as exc:  # a bug of the mutators, not of stagger: counted apart
            state["harness_errors"] = state.get("harness_errors", 0) + 1
            state["harness_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        current.write_bytes(data)
        started = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            out = run_input(target, data)
            crash, detail = out.crash, out.detail
            loaded, what = out.loaded, out.refused or "loaded"
        except _InputTimeout:
            crash, detail, loaded, what = f"timeout > {timeout_s:g} s", "", False, "timeout"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.perf_counter() - started
        state["inputs"] += 1
        state["loaded"] += int(loaded)
        if crash:
            state["crashes"][crash] = state["crashes"].get(crash, 0) + 1
            if crash not in state["details"]:
                keep = report.parent / f"{target_name}-crash-{len(state['details'])}.input"
                keep.write_bytes(data)
                state["details"][crash] = {"detail": detail[:400], "input": str(keep)}
        if took > state["slowest_s"]:
            state["slowest_s"] = took
            state["slowest"] = f"{len(data):,} bytes: {what[:160]}"
            # Kept, so that a slow input can be triaged after the run (not only its size).
            (report.parent / f"{target_name}-slowest-{seed}.input").write_bytes(data)
        state["exercised"] = len(harness._EXERCISED)
        if time.monotonic() - last_write > 2:
            report.write_text(json.dumps(state))
            last_write = time.monotonic()
    state["done"] = True
    report.write_text(json.dumps(state))


def run_target(
    name: str, seconds: float, inputs: int, seed: int, workdir: Path, timeout_s: float
) -> dict[str, Any]:
    """Run workers for ``name`` until ``seconds`` are used or ``inputs`` inputs ran (0: no
    count limit); merge their reports."""
    total: dict[str, Any] = {
        "inputs": 0,
        "loaded": 0,
        "exercised": 0,
        "seconds": 0.0,
        "crashes": Counter(),
        "details": {},
        "slowest_s": 0.0,
        "slowest": "",
    }
    start = time.monotonic()
    end = start + seconds
    n = 0
    while (left := end - time.monotonic()) > 1 and not (inputs and total["inputs"] >= inputs):
        report = workdir / f"{name}-{n}.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.fuzz",
            "--worker",
            name,
            "--seconds",
            str(left),
            "--inputs",
            str(inputs - total["inputs"] if inputs else 0),
            "--seed",
            str(seed + n),
            "--report",
            str(report),
            "--input-timeout",
            str(timeout_s),
        ]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        state = json.loads(report.read_text()) if report.exists() else {}
        for key in ("inputs", "loaded", "exercised"):
            total[key] += state.get(key, 0)
        total["crashes"].update(state.get("crashes", {}))
        for k, v in state.get("details", {}).items():
            total["details"].setdefault(k, v)
        if state.get("slowest_s", 0) > total["slowest_s"]:
            total["slowest_s"], total["slowest"] = state["slowest_s"], state["slowest"]
        if not state.get("done"):
            # The worker died: the input it was running is the crash.
            why = f"worker died (exit {proc.returncode})"
            tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
            total["inputs"] += 1
            total["crashes"][why] += 1
            kept = report.with_suffix(".input")
            total["details"].setdefault(why, {"detail": tail[0][:400], "input": str(kept)})
        n += 1
    total["seconds"] = time.monotonic() - start
    return total


def render(
    results: dict[str, dict[str, Any]], seconds: float, inputs: int, cpu: int, started: str
) -> str:
    lines = [
        "# Fuzzing the file loaders",
        "",
        "Produced by `python -m benchmarks.fuzz` (tests/fuzz/harness.py). Every input is a",
        "real seed (the bundled examples, RVTools tabs and RAID maps generated from them, a",
        "schedule planned from them) through byte or structured mutation; inputs that load",
        "are planned (greedy), exported in every format, and read back (once per distinct",
        "topology + policy per worker: that part is deterministic). A crash is anything but a",
        "one-line StaggerError (traceback, multi-line error, an input over the time limit, a",
        "dead worker).",
        "",
        f"Run of {started}: up to {seconds:g} s"
        + (f" or {inputs:,} inputs" if inputs else "")
        + " per target, one worker process pinned to",
        f"CPU {cpu}, memory capped at 3 GiB. The target is 0 crashes in 100,000 inputs per",
        "loader; the counts below are what this run reached, nothing more.",
        "",
        "| target | inputs tried | loaded | distinct plans exercised | crashes"
        " | distinct signatures | time | slowest input |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        share = f"{100 * r['loaded'] / r['inputs']:.0f} %" if r["inputs"] else "-"
        crashes = sum(r["crashes"].values())
        slow = f"{r['slowest_s']:.2f} s ({r['slowest']})".replace("|", "\\|")
        plans = f"{r['exercised']:,}" if r["exercised"] else "-"
        lines.append(
            f"| {name} | {r['inputs']:,} | {share} | {plans} | {crashes:,}"
            f" | {len(r['crashes'])} | {r['seconds']:,.0f} s | {slow} |"
        )
    lines += [
        "",
        "(-: the schedule target plans nothing; every schedule that loads is validated and",
        "exported.)",
        "",
        "## Crash signatures",
        "",
    ]
    any_crash = False
    for name, r in results.items():
        for sig, count in r["crashes"].most_common():
            any_crash = True
            detail = r["details"].get(sig, {}).get("detail", "").replace("\n", " ")[:200]
            lines.append(f"- **{name}**: `{sig}` x{count}: {detail}")
    if not any_crash:
        lines.append("None in this run.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600, help="per target (at most)")
    ap.add_argument("--inputs", type=int, default=0, help="per target: stop after N (0: no limit)")
    ap.add_argument("--cpu", type=int, help="the CPU to pin workers to (default: the lowest)")
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma list")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-fuzz.md")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/stagger-fuzz"))
    ap.add_argument("--input-timeout", type=float, default=20.0)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    cpu = args.cpu
    if hasattr(os, "sched_setaffinity"):
        # One core, so that two runs side by side (--cpu 0, --cpu 1) do not share one.
        cpu = min(os.sched_getaffinity(0)) if cpu is None else cpu
        os.sched_setaffinity(0, {cpu})
    if args.worker:
        worker(args.worker, args.seconds, args.inputs, args.seed, args.report, args.input_timeout)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {}
    for name in [t.strip() for t in args.targets.split(",") if t.strip()]:
        if name not in TARGETS:
            raise SystemExit(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
        results[name] = run_target(
            name, args.seconds, args.inputs, args.seed, args.workdir, args.input_timeout
        )
        r = results[name]
        print(
            f"{name}: {r['inputs']} inputs in {r['seconds']:.0f} s, {r['loaded']} loaded,"
            f" {sum(r['crashes'].values())} crashes ({len(r['crashes'])} signatures)",
            flush=True,
        )
        args.out.write_text(render(results, args.seconds, args.inputs, cpu or 0, started))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

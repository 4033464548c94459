"""A by-hand mutation run: does the suite notice when a rule is broken?

    python -m benchmarks.mutation                      # every mutant in MUTANTS
    python -m benchmarks.mutation --only validate      # mutants whose name contains "validate"
    python -m benchmarks.mutation --out /tmp/m.md

Each mutant is one small edit to stagger's source (a rule dropped, a comparison flipped, a
rounding direction changed) and the tests that guard that code. The run copies the
repository to a temporary folder per mutant, applies the edit there (the working tree is
never touched), and runs the tests with the copy first on the import path. A mutant is
*killed* when a test fails, *survived* when the tests pass, and *stale* when its text is not
in the source any more (the code moved: the mutant must be updated, it proves nothing). Each
set of tests first runs once on an unmutated copy: if that fails, its mutants are *error*.

Mutants are chosen by hand where a wrong answer would look right to an admin: these are the
rules whose breakage the suite must see. See benchmarks/RESULTS-mutation.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    """File under the repository root."""
    old: str
    """Exact text to replace: must occur exactly once."""
    new: str
    tests: tuple[str, ...]
    """pytest arguments (files or node ids) that should kill it."""


def run_mutant(m: Mutant, timeout_s: float, apply: bool = True) -> tuple[str, float, str]:
    """Apply ``m`` in a copy of the repository and run its tests: (verdict, seconds, detail).
    With ``apply=False`` the copy is left as it is (the control run of the same tests)."""
    source = (ROOT / m.path).read_text()
    count = source.count(m.old)
    if count != 1:
        return "stale", 0.0, f"text found {count} times in {m.path}"
    with tempfile.TemporaryDirectory(prefix="stagger-mutant-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(
            ROOT,
            copy,
            ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.pyc", ".*_cache"),
        )
        if apply:
            (copy / m.path).write_text(source.replace(m.old, m.new))
        env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests]
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            return "timeout", time.perf_counter() - started, f"over {timeout_s:g} s"
        took = time.perf_counter() - started
        tail = (proc.stdout.strip().splitlines() or [""])[-1]
        if proc.returncode == 0:
            return "survived", took, tail
        if proc.returncode == 1:
            return "killed", took, tail
        return "error", took, tail  # collection error, usage error: not a kill


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default="", help="run mutants whose name contains this")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-mutation.md")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant")
    args = ap.parse_args()
    from benchmarks.mutants import MUTANTS as chosen

    picked = [m for m in chosen if args.only in m.name]
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    rows = []
    control: dict[tuple[str, ...], str] = {}
    for m in picked:
        if m.tests not in control:
            # The same tests on the unmutated copy must pass, or a "kill" proves nothing.
            verdict, _took, detail = run_mutant(m, args.timeout, apply=False)
            control[m.tests] = "" if verdict == "survived" else f"control run {verdict}: {detail}"
        if control[m.tests]:
            rows.append((m, "error", 0.0, control[m.tests]))
            print(f"error    {m.name}: {control[m.tests]}", flush=True)
            continue
        verdict, took, detail = run_mutant(m, args.timeout)
        rows.append((m, verdict, took, detail))
        print(f"{verdict:8} {took:6.1f} s  {m.name}: {detail}", flush=True)
    counts = {v: sum(1 for r in rows if r[1] == v) for v in ("killed", "survived", "stale")}
    other = len(rows) - sum(counts.values())
    lines = [
        "# Mutation run",
        "",
        "Produced by `python -m benchmarks.mutation` (mutants in benchmarks/mutants.py): each",
        "mutant is one hand-chosen edit to a rule, applied in a copy of the repository; its",
        "guarding tests run against the copy. Killed = a test failed.",
        "",
        f"Run of {started} on commit {commit}: {len(rows)} mutants, {counts['killed']} killed,"
        f" {counts['survived']} survived, {counts['stale']} stale, {other} timeout/error.",
        "",
        "| mutant | file | verdict | tests | seconds |",
        "|---|---|---|---|---:|",
    ]
    for m, verdict, took, _detail in rows:
        tests = " ".join(t.split("::")[-1] if "::" in t else t for t in m.tests)
        lines.append(f"| {m.name} | `{m.path}` | {verdict} | {tests} | {took:.0f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

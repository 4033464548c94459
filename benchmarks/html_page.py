"""HTML Gantt benchmark: page size, Python render time and what Chromium does with the page.

    python -m benchmarks.html_page [--out benchmarks/RESULTS-html.md]

For a 7-night, 800-VM estate and a 3-night, 10,000-VM estate (``benchmarks/generate.py``,
greedy plans so the estates are the same on every run): render the page (best of 3) and
re-validate the schedule in the same run, so the render time is also given as a ratio to
validation (machine load moves both alike); then open the page in headless Chromium
(``tests/exporters/browser.py``) and read, inside the page, how long the first render took
(navigation to load event; the page's script runs before it), switching the lane mode,
choosing a night and showing all nights, and how many DOM elements and bars it holds.
A benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.generate import EstateSpec, generate_dicts
from stagger.exporters.html import render
from stagger.exporters.options import ExportOptions
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.validate import validate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "exporters"))
from browser import run_page

CASES = ((800, "balanced", 7), (10_000, "datastore", 3))

# Each expression measures one interaction inside the page with performance.now().
TIMED = "(function(f){var t=performance.now();f();return performance.now()-t})(function(){SETUP})"
EXPRESSIONS = {
    "load_ms": "performance.getEntriesByType('navigation')[0].loadEventEnd",
    "mode_ms": TIMED.replace(
        "SETUP",
        "var s=document.getElementById('mode');s.value='datastore';"
        "s.dispatchEvent(new Event('change'));",
    ),
    "mode_back_ms": TIMED.replace(
        "SETUP",
        "var s=document.getElementById('mode');s.value='host';"
        "s.dispatchEvent(new Event('change'));",
    ),
    "night_ms": TIMED.replace(
        "SETUP", "document.querySelector('.nbtn[data-night=\"1\"]').click();"
    ),
    "night_bars": "document.querySelectorAll('#grid .bar').length",
    "all_ms": TIMED.replace(
        "SETUP", "document.querySelector('.nbtn[data-night=\"all\"]').click();"
    ),
    "all_bars": "document.querySelectorAll('#grid .bar').length",
    "elements": "document.getElementsByTagName('*').length",
}


def measure(vms: int, regime: str, nights: int, workdir: Path) -> dict[str, Any]:
    topo_d, pol_d = generate_dicts(EstateSpec(vms, regime, "full"))  # type: ignore[arg-type]
    pol_d["cycle"]["nights"] = nights
    topo, pol = Topology.model_validate(topo_d), Policy.model_validate(pol_d)
    sched = plan(topo, pol, PlanOptions(solver="greedy")).schedule
    render_s = validate_s = float("inf")
    text = ""
    for _ in range(3):
        t = time.perf_counter()
        text = render(sched, ExportOptions())
        render_s = min(render_s, time.perf_counter() - t)
        t = time.perf_counter()
        validate(sched)
        validate_s = min(validate_s, time.perf_counter() - t)
    page = workdir / f"plan-{vms}.html"
    page.write_text(text, encoding="utf-8")
    run = run_page(page, expressions=EXPRESSIONS, width=1600, height=1000)
    if run.errors:
        raise RuntimeError(f"{vms} VMs: page errors {run.errors}")
    return {
        "vms": vms,
        "regime": regime,
        "nights": nights,
        "jobs": len(sched.jobs),
        "size_mib": len(text.encode()) / 2**20,
        "render_s": render_s,
        "validate_s": validate_s,
        **run.values,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| VMs | nights | jobs | page MiB | render s | render / validate | first render ms |"
        " lane switch ms | one night ms (bars) | all nights ms (bars) | DOM elements |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    return head + "".join(
        f"| {r['vms']:,} | {r['nights']} | {r['jobs']:,} | {r['size_mib']:.2f} |"
        f" {r['render_s']:.2f} | {r['render_s'] / r['validate_s']:.1f} | {r['load_ms']:.0f} |"
        f" {(r['mode_ms'] + r['mode_back_ms']) / 2:.0f} | {r['night_ms']:.0f} ({r['night_bars']:,})"
        f" | {r['all_ms']:.0f} ({r['all_bars']:,}) | {r['elements']:,} |\n"
        for r in rows
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write the results table (Markdown) here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="stagger-html-bench-") as tmp:
        rows = [measure(v, r, n, Path(tmp)) for v, r, n in CASES]
    load = os.getloadavg()[0]
    text = (
        "# HTML Gantt benchmark\n\n"
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores;"
        f" Python {platform.python_version()}; load average at the end {load:.1f}.\n\n"
        "`python -m benchmarks.html_page --out benchmarks/RESULTS-html.md`. Greedy plans of\n"
        "`benchmarks/generate.py` estates (seed 0, full cycle). Render = `page_data` + HTML,\n"
        "best of 3; render / validate = that over the re-validation of the same schedule in\n"
        "the same run. Browser figures are read inside headless Chromium at 1600x1000 with\n"
        "`performance.now()`: first render = navigation to load event (parse, JSON.parse,\n"
        "first Gantt and load chart); lane switch = host to datastore and back, averaged.\n\n"
        + table(rows)
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

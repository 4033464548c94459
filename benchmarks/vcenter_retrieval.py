"""Retrieval of a simulated 2,000-VM estate from vcsim: wall time and PropertyCollector round trips.

Run: .venv/bin/python benchmarks/vcenter_retrieval.py [--vms 2000] [--page-size 1000] [--repeat 3]
Needs Go and Debian's golang-github-vmware-govmomi-dev (see tests/vcsim/harness.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "stagger_vcsim_harness", ROOT / "tests/vcsim/harness.py"
)
assert spec is not None and spec.loader is not None
harness = importlib.util.module_from_spec(spec)
sys.modules["stagger_vcsim_harness"] = harness
spec.loader.exec_module(harness)

from stagger.sources.vcenter import VCenterOptions, load_vcenter  # noqa: E402


def ab_ratio(sim: object, repeat: int) -> None:
    """Median wall of loads with the budget's socket class over loads with ssl.SSLSocket."""
    import ssl

    from stagger.sources import vcenter

    bounded = vcenter._bounded_socket_class
    walls: dict[str, list[float]] = {"bounded": [], "plain": []}
    for _ in range(repeat):
        for kind in ("bounded", "plain"):
            vcenter._bounded_socket_class = (  # type: ignore[assignment]
                bounded if kind == "bounded" else (lambda budget: ssl.SSLSocket)
            )
            opts = VCenterOptions(
                server=sim.host,  # type: ignore[attr-defined]
                port=sim.port,  # type: ignore[attr-defined]
                user=sim.user,  # type: ignore[attr-defined]
                password=sim.password,  # type: ignore[attr-defined]
                ca_file=str(sim.ca_file),  # type: ignore[attr-defined]
            )
            start = time.monotonic()
            load_vcenter(opts)
            walls[kind].append(time.monotonic() - start)
    vcenter._bounded_socket_class = bounded
    b, p = statistics.median(walls["bounded"]), statistics.median(walls["plain"])
    print(
        f"bounded socket vs plain SSLSocket, {repeat} interleaved loads each:"
        f" median {b:.2f} s / {p:.2f} s = ratio {b / p:.3f}"
    )


def tags_ratio(sim: object, repeat: int) -> None:
    """Median wall of loads with the vSphere tag read over loads with --no-tags, interleaved."""
    walls: dict[bool, list[float]] = {True: [], False: []}
    calls, tags, tagged, extra = 0, 0, 0, 0
    for _ in range(repeat):
        for read_tags in (True, False):
            opts = VCenterOptions(
                server=sim.host,  # type: ignore[attr-defined]
                port=sim.port,  # type: ignore[attr-defined]
                user=sim.user,  # type: ignore[attr-defined]
                password=sim.password,  # type: ignore[attr-defined]
                ca_file=str(sim.ca_file),  # type: ignore[attr-defined]
                read_tags=read_tags,
            )
            start = time.monotonic()
            inv = load_vcenter(opts)
            walls[read_tags].append(time.monotonic() - start)
            if read_tags:
                calls, tags = inv.stats.tag_requests, inv.stats.tags or 0
                tagged = inv.stats.tagged_vms
                extra = inv.stats.bytes_read
            else:
                extra -= inv.stats.bytes_read
    w, wo = statistics.median(walls[True]), statistics.median(walls[False])
    print(
        f"vSphere tags: {tags} tags on {tagged} VMs in {calls} REST calls, {extra / 1024:.1f} KiB;"
        f" load with / without tags, {repeat} interleaved loads each: median {w:.2f} s /"
        f" {wo:.2f} s = ratio {w / wo:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=2000)
    ap.add_argument("--page-size", type=int, nargs="+", default=[1000, 100])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--ab",
        action="store_true",
        help="Also time the bounded socket (deadline + byte cap) against a plain SSLSocket,"
        " interleaved in one run, and print the ratio.",
    )
    ap.add_argument(
        "--tags",
        action="store_true",
        help="Also time loads with the vSphere tag read against --no-tags, interleaved.",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="stagger-bench-") as tmp:
        t0 = time.monotonic()
        build = harness.build_vcsim(harness.shared_cache_dir(Path(tmp) / "build"))
        print(
            f"vcsim build: {build.seconds:.1f} s (cold GOCACHE)"
            if not build.cached
            else "vcsim build: cached"
        )
        sim = harness.start_vcsim(build.binary, Path(tmp) / "run", vms=args.vms, timeout=600)
        print(
            f"vcsim start + estate of {args.vms} VMs built through the API:"
            f" {sim.startup_seconds:.1f} s"
        )
        try:
            if args.ab:
                ab_ratio(sim, args.repeat)
            if args.tags:
                tags_ratio(sim, args.repeat)
            for page in args.page_size:
                walls, trips, objects, vms, read = [], 0, 0, 0, 0
                for _ in range(args.repeat):
                    opts = VCenterOptions(
                        server=sim.host,
                        port=sim.port,
                        user=sim.user,
                        password=sim.password,
                        ca_file=str(sim.ca_file),
                        page_size=page,
                    )
                    start = time.monotonic()
                    inv = load_vcenter(opts)
                    walls.append(time.monotonic() - start)
                    trips, objects, vms = (
                        inv.stats.round_trips,
                        inv.stats.objects,
                        len(inv.topology.vms),
                    )
                    read = inv.stats.bytes_read
                    retrieval = inv.stats.seconds
                print(
                    f"page size {page}: {vms} VMs ({objects} objects) in {trips}"
                    " PropertyCollector round trips"
                    f" (1 RetrievePropertiesEx + {trips - 1} ContinueRetrievePropertiesEx);"
                    f" total wall (login..topology) median {statistics.median(walls):.2f} s,"
                    f" min {min(walls):.2f} s; last retrieval alone {retrieval:.2f} s;"
                    f" read from the server {read / (1 << 20):.1f} MiB"
                    f" ({read / max(vms, 1) / 1024:.1f} KiB per VM, counted against"
                    " --max-response-mib)"
                )
        finally:
            sim.stop()
        print(f"total benchmark time {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()

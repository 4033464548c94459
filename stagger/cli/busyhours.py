"""`stagger busy-hours`: recurring busy hours from vCenter or a CSV export, as blackouts."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from stagger.atomic import OutputSet
from stagger.busyhours import Series, Settings, Thresholds, blackouts_yaml, cluster_series, detect
from stagger.cli.app import app, console, err_console, handle_errors
from stagger.cli.outputs import commit
from stagger.cli.vcenter_options import VCenterArgs, print_warnings, vcenter_options
from stagger.errors import InputError


def _zone(value: str, option: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown IANA time zone {value!r}", field=option) from None


def _positive(value: float, option: str) -> float:
    if not value > 0:
        raise InputError(f"must be more than 0, not {value:g}", field=option)
    return value


@app.command("busy-hours")
@vcenter_options()
def busy_hours_cmd(
    vc: VCenterArgs,
    csv: Path | None = typer.Option(
        None, "--csv", help="esxtop -b batch CSV or PowerCLI Get-Stat CSV instead of --vcenter."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Blackouts YAML to write."),
    html: Path | None = typer.Option(None, "--html", help="Also write the weekly load profile."),
    timezone: str = typer.Option(
        "UTC", "--timezone", help="IANA zone of the blackouts: use the policy's."
    ),
    csv_timezone: str = typer.Option(
        "UTC", "--csv-timezone", help="Zone of CSV time stamps that carry none (Get-Stat)."
    ),
    topology: Path | None = typer.Option(
        None,
        "--topology",
        help="With --csv: hosts' clusters from this topology; drop periods of unknown ones.",
    ),
    days: int = typer.Option(14, "--days", help="With --vcenter: days of history to read."),
    pct: float = typer.Option(95.0, "--percentile", help="Percentile per hour of the week."),
    threshold_cpu: float = typer.Option(80.0, "--threshold-cpu", help="CPU usage, %."),
    threshold_latency: float = typer.Option(
        20.0, "--threshold-latency", help="Disk / datastore latency, ms."
    ),
    threshold_net: float = typer.Option(100.0, "--threshold-net", help="Network usage, MB/s."),
    threshold_datastore_io: float = typer.Option(
        200.0, "--threshold-datastore-io", help="Datastore throughput, MB/s."
    ),
    min_weeks: int = typer.Option(2, "--min-weeks", help="Weeks an hour must be seen in."),
    min_share: float = typer.Option(
        0.5, "--min-share", help="Busy only if over the threshold in more than this share of weeks."
    ),
) -> None:
    """Find the hours of the week when hosts, clusters or datastores are busy, from vCenter's
    performance history (--vcenter) or a CSV export (--csv), and write them as blackouts that
    `stagger plan --blackouts FILE` adds to the policy.

    Exit codes: 0 written (also when nothing is busy), 1 bad input, 3 vCenter failed, 64 usage.
    """
    with handle_errors():
        if (csv is None) == (not vc.given):
            raise InputError("give exactly one of --vcenter HOST or --csv FILE")
        if topology is not None and csv is None:
            raise InputError("--topology is for --csv (vCenter names its own clusters)")
        if not 0 < pct <= 100:
            raise InputError(f"must be in (0, 100], not {pct:g}", field="--percentile")
        if not 0 <= min_share < 1:
            raise InputError(f"must be in [0, 1), not {min_share:g}", field="--min-share")
        if min_weeks < 1:
            raise InputError(f"must be at least 1, not {min_weeks}", field="--min-weeks")
        tz = _zone(timezone, "--timezone")
        settings = Settings(
            tz=tz,
            percentile=pct,
            thresholds=Thresholds(
                cpu_pct=_positive(threshold_cpu, "--threshold-cpu"),
                latency_ms=_positive(threshold_latency, "--threshold-latency"),
                net_mb_s=_positive(threshold_net, "--threshold-net"),
                datastore_io_mb_s=_positive(threshold_datastore_io, "--threshold-datastore-io"),
            ),
            min_weeks=min_weeks,
            min_share=min_share,
        )
        outputs = OutputSet()
        outputs.check([output, *([html] if html else [])])
        known: dict[str, set[str]] | None = None
        if csv is not None:
            from stagger.sources.perfcsv import load_perf_csv

            hist = load_perf_csv(csv, _zone(csv_timezone, "--csv-timezone"))
            series: list[Series] = hist.series
            cluster_of = hist.cluster_of
            warnings = hist.warnings
            source = str(csv)
            detail = f"{csv}: {hist.layout}, {len(series)} series"
            if topology is not None:
                from stagger.sources.yamlfile import load_topology

                topo = load_topology(topology)
                cluster_of = {h.name: h.cluster for h in topo.hosts}
                known = {
                    "host": {h.name for h in topo.hosts},
                    "cluster": {c.name for c in topo.clusters},
                    "datastore": {d.name for d in topo.datastores},
                }
        else:
            from stagger.sources.perf import load_perf

            opts = vc.options()
            assert opts is not None
            with console.status(f"reading performance history from {opts.server}..."):
                perf = load_perf(opts, days)
            series, cluster_of, warnings = perf.series, perf.cluster_of, perf.warnings
            source = opts.server
            detail = (
                f"{opts.server}: {len(series)} series at {perf.interval_s} s in"
                f" {perf.query_calls} QueryPerf calls, {perf.bytes_read / (1 << 20):.1f} MiB"
            )
        print_warnings(warnings)
        series = [*series, *cluster_series(series, cluster_of)]
        profiles, found = detect(series, settings)
        if known is not None:
            kept = [p for p in found if p.name in known[p.kind]]
            if len(kept) != len(found):
                print_warnings(
                    [
                        f"{len(found) - len(kept)} busy periods of resources not in {topology}"
                        " dropped"
                    ]
                )
            found = kept
        outputs.add_text(
            output, blackouts_yaml(found, timezone=timezone, source=source, settings=settings)
        )
        if html is not None:
            from stagger.exporters.busyprofile import render_profile

            outputs.add_text(
                html,
                render_profile(
                    profiles, found, source=source, timezone=timezone, settings=settings
                ),
            )
        commit(outputs)
        always = [p for p in found if p.hours >= 168]
        for p in always:
            err_console.print(
                f"[yellow]warning:[/] {p.kind} {p.name!a} is busy every hour of the week:"
                " its VMs cannot be planned with this blackout",
                highlight=False,
                soft_wrap=True,
            )
        tbl = Table(title=f"Busy hours ({timezone})", title_justify="left")
        for c in ("resource", "busy", "evidence"):
            tbl.add_column(c)
        for p in found:
            tbl.add_row(
                f"{p.kind} {p.name}",
                p.label,
                "; ".join(f"{e.counter} {e.peak:.1f} {e.unit}" for e in p.evidence),
            )
        console.print(detail, highlight=False, markup=False)
        if found:
            console.print(tbl)
        else:
            console.print("no recurring busy hours found", highlight=False)
        written = [output, *([html] if html else [])]
        console.print("wrote " + ", ".join(str(p) for p in written), highlight=False)

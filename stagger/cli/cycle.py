"""`stagger cycle`: the backup jobs the policy's tiers ask for, per tier, before planning."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from stagger.atomic import write_text_atomic
from stagger.cli.app import app, console, handle_errors
from stagger.cli.common import blackouts_option, raid_map_option
from stagger.cli.text import as_text
from stagger.cli.vcenter_options import print_warnings
from stagger.cycle import BackupJob, cycle_jobs
from stagger.fmt import hm
from stagger.sources.yamlfile import load_inputs
from stagger.tiers import tier_warnings

_SINGLE = "(single regime)"


def _job_dict(job: BackupJob) -> dict[str, object]:
    data = asdict(job)
    data["nights"] = list(job.nights)
    data["window"] = {"start": f"{job.window.start:%H:%M}", "end": f"{job.window.end:%H:%M}"}
    return data


@app.command("cycle")
def cycle_cmd(
    topology: Path = typer.Argument(..., help="Topology file."),
    policy: Path = typer.Argument(..., help="Policy file."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write every job as JSON here."
    ),
    raid_map: Path | None = raid_map_option(),
    blackouts: list[Path] = blackouts_option(),
) -> None:
    """List the backup jobs of one cycle: which tier takes each VM, its fulls and
    incrementals and their minutes (no planning; docs/tiers.md has the rule).

    Exit codes: 0 listed, 1 bad input (nothing written), 64 usage error.
    """
    with handle_errors():
        topo, pol = load_inputs(topology, policy, raid_map, blackouts)
        print_warnings(tier_warnings(pol, topo))
        jobs = cycle_jobs(topo, pol)
        if output is not None:
            text = json.dumps([_job_dict(j) for j in jobs], indent=1, ensure_ascii=False)
            write_text_atomic(output, text + "\n")
        per_tier: dict[str, dict[str, float]] = {}
        vms: dict[str, set[str]] = {}
        for j in jobs:
            key = j.tier if j.tier is not None else _SINGLE
            row = per_tier.setdefault(key, {"full": 0, "incremental": 0, "minutes": 0.0})
            row[j.level] += 1
            row["minutes"] += j.minutes
            vms.setdefault(key, set()).add(j.vm)
        tbl = Table(title=f"Jobs of the cycle ({pol.cycle.nights} nights)", title_justify="left")
        for col in ("tier", "VMs", "fulls", "incrementals", "backup time"):
            tbl.add_column(col, justify="left" if col == "tier" else "right")
        for key, row in per_tier.items():
            tbl.add_row(
                as_text(key),
                str(len(vms[key])),
                str(int(row["full"])),
                str(int(row["incremental"])),
                hm(row["minutes"]),
            )
        console.print(tbl)
        written = f"; wrote {as_text(output)}" if output is not None else ""
        console.print(f"{len(jobs)} jobs{written}", highlight=False)

"""`stagger simulate`: a plan's nights replayed through a backup server, against its default."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from stagger.cli.app import app, console, handle_errors
from stagger.errors import InputError
from stagger.fmt import hm
from stagger.simulate import NightOutcome, simulate
from stagger.sources.yamlfile import load_infrastructure, load_schedule
from stagger.validate import validate


class SimModeChoice(StrEnum):
    """``--mode``: a click Choice, so a typo is a usage error (64) listing the choices."""

    planned = "planned"
    planned_assigned = "planned-assigned"
    default = "default"


def _end(night: NightOutcome, when: datetime | None, tz: ZoneInfo) -> str:
    """'+9h35m (05:35)': minutes after the window opened, and the local clock time."""
    minutes = night.minutes_from_start(when)
    if minutes is None or when is None:
        return "-"
    return f"+{hm(minutes)} ({when.astimezone(tz):%H:%M})"


@app.command("simulate")
def simulate_cmd(
    schedule: Path = typer.Argument(..., help="Schedule file (stagger plan's JSON)."),
    infra: Path | None = typer.Option(
        None,
        "--infra",
        help="Infrastructure file (infrastructure.yaml); default: the one the schedule embeds.",
    ),
    mode: SimModeChoice = typer.Option(
        SimModeChoice.planned,
        "--mode",
        help="planned: jobs released at their planned start, proxies assigned at run time;"
        " planned-assigned: on the planned proxy, mode and repository; default: every job"
        " released at its window's opening (the backup product's default).",
    ),
    raid_groups: bool = typer.Option(
        False,
        "--raid-groups",
        help="Also hold the RAID groups' limits at run time (a product does not know them).",
    ),
) -> None:
    """Replay a schedule through a backup server that assigns proxies at run time.

    Per night: the plan's end, the simulated end in --mode and the end of the product's
    default (every job at the window's opening), each with the longest queue wait, the jobs
    past the window's end, and the rules the replay does not apply and broke: jobs started
    on a RAID group already at its limit, jobs run into a blackout (docs/simulate.md).
    Writes nothing. Exit codes: 0 simulated, 1 bad input (a file, a VM no proxy reaches,
    no infrastructure), 4 the schedule fails validation.
    """
    with handle_errors():
        sched = load_schedule(schedule)
        validate(sched, file=str(schedule))
        if infra is not None:
            model = load_infrastructure(infra)
        elif sched.inputs.infrastructure is not None:
            model = sched.inputs.infrastructure
        else:
            raise InputError(
                "the schedule embeds no infrastructure (planned without --infra): give one"
                " with --infra FILE",
                file=str(schedule),
                obj="schedule",
                field="inputs.infrastructure",
            )
        try:
            sim = simulate(sched, model, mode.value, raid_groups=raid_groups)
            base = (
                sim
                if mode is SimModeChoice.default
                else simulate(sched, model, "default", raid_groups=raid_groups)
            )
        except InputError as exc:
            # The jobs, their VMs and the planned assignment are the schedule's.
            for problem in (exc, *exc.more):
                problem.file = problem.file or str(schedule)
            raise
        tz = ZoneInfo(sched.timezone)
        tbl = Table(
            title="Nights: the plan, its replay, the product's default", title_justify="left"
        )
        for c in (
            "night",
            "run",
            "jobs",
            "end",
            "longest wait",
            "past window",
            "RAID over",
            "in blackout",
        ):
            tbl.add_column(c, justify="left" if c in ("night", "run") else "right")
        runs = [(f"simulated {mode.value}", sim)] if mode is not SimModeChoice.default else []
        runs.append(("default (all at opening)", base))
        for k, night in enumerate(sched.nights):
            first = sim.nights[k]
            label = f"{night.index} ({first.window_start.astimezone(tz):%a %d %b})"
            tbl.add_row(label, "plan", str(first.jobs), _end(first, first.planned_end, tz))
            for name, result in runs:
                n = result.nights[k]
                tbl.add_row(
                    "",
                    name,
                    str(n.jobs),
                    _end(n, n.simulated_end, tz),
                    hm(n.longest_wait_min),
                    str(n.past_window),
                    str(n.raid_group_overloads),
                    str(n.in_blackout),
                )
        console.print(tbl)
        if sim.not_simulated:
            console.print(
                f"{sim.not_simulated} VM(s) the plan left unscheduled are not replayed"
                " (they have no night)",
                highlight=False,
            )
        applied = "RAID groups held" if raid_groups else "RAID groups not held (--raid-groups)"
        console.print(
            "Run-time rules: FIFO queue, first free proxy slot in file order, mode san >"
            " hotadd > nbd, repository ingest as a cap; per-host, per-datastore and"
            f" concurrent_jobs limits hold; {applied}; blackouts not held. Nothing written.",
            highlight=False,
        )

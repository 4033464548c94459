"""Format name -> exporter. Used by ``stagger export`` and ``stagger plan --export FMT:OUT``.

Every exporter is a pure function ``(schedule, options) -> str`` over a validated schedule;
the caller writes its text (``atomic.OutputSet``). :func:`render` checks what every exporter
relies on (the options, the zone) before it runs, and refuses an output that would hold a
control character other than tab/newline/CR or a lone surrogate, whatever exporter wrote it:
a last line of defence behind the quoting functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stagger.errors import InputError
from stagger.exporters import bacula, cron, html, ics, markdown, veeam
from stagger.exporters._common import check_zone
from stagger.exporters.options import ExportOptions, check_options
from stagger.model.schedule import Schedule
from stagger.tiers import refuse_tiered_schedule

Exporter = Callable[[Schedule, ExportOptions], str]


@dataclass(frozen=True)
class Format:
    name: str
    render: Exporter
    suffix: str
    help: str
    tiered: bool = False
    """Writes a tiered schedule (several jobs per VM, each night's level); the others
    refuse one (:func:`stagger.tiers.refuse_tiered_schedule`) until they read levels."""


def _formats() -> dict[str, Format]:
    items = [
        Format(
            "bacula",
            bacula.render,
            ".conf",
            "Bacula/Bareos Director Job+Schedule resources",
            tiered=True,
        ),
        Format(
            "veeam",
            veeam.render,
            ".ps1",
            "Veeam B&R PowerShell script (Set-VBRJobSchedule)",
            tiered=True,
        ),
        Format(
            "cron", cron.render, ".crontab", "crontab, one line per job (ghettoVCB)", tiered=True
        ),
        Format("ics", ics.render, ".ics", "iCalendar, one event per job", tiered=True),
        Format("html", html.render, ".html", "self-contained Gantt page", tiered=True),
        Format("md", markdown.render, ".md", "Markdown report for a change ticket", tiered=True),
    ]
    return {f.name: f for f in items}


def formats() -> dict[str, Format]:
    return _formats()


def get_format(name: str) -> Format:
    fmts = _formats()
    aliases = {"markdown": "md", "bareos": "bacula", "ical": "ics", "gantt": "html"}
    key = aliases.get(name.lower(), name.lower())
    if key not in fmts:
        raise InputError(
            f"unknown export format '{name}' (use {', '.join(sorted(fmts))})", field="--format"
        )
    return fmts[key]


_BAD_OUTPUT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def render(schedule: Schedule, fmt: str, options: ExportOptions | None = None) -> str:
    opts = options or ExportOptions()
    chosen = get_format(fmt)
    check_options(opts)
    check_zone(schedule)
    if not chosen.tiered:
        refuse_tiered_schedule(schedule, f"the {chosen.name} export")
    text = chosen.render(schedule, opts)
    bad = _BAD_OUTPUT.search(text)
    if bad:
        raise InputError(
            f"the {chosen.name} export would hold character U+{ord(bad.group()):04X} at"
            f" offset {bad.start()} (from a name?); nothing written",
            field="--format",
        )
    return text

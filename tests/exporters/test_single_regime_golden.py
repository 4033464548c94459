"""Bacula, cron, iCalendar, HTML and Markdown output of single-regime schedules (one job per
VM, no tiers), kept as golden files written before these exports learnt tiered levels:
teaching them levels and scripts must not change one byte of what they already wrote.
Regenerate only on purpose (``STAGGER_UPDATE_GOLDEN=1``) and review the diff."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from schedules import GOLDEN, estate_schedule

from stagger.exporters.options import ExportOptions
from stagger.exporters.registry import render

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # the ics DTSTAMP, fixed

CASES = {
    "bacula_include_1.conf": ("bacula", 1, ExportOptions()),
    "bacula_include_7.conf": ("bacula", 7, ExportOptions()),
    "bacula_standalone_7.conf": (
        "bacula",
        7,
        ExportOptions(standalone=True, workdir="/var/lib/bacula"),
    ),
    "bacula_per_vm_3.conf": ("bacula", 3, ExportOptions(per_vm=True)),
    "cron_1.crontab": ("cron", 1, ExportOptions()),
    "cron_7.crontab": ("cron", 7, ExportOptions()),
    "cron_utc_3.crontab": ("cron", 3, ExportOptions(extra={"utc": "yes"})),
    "cron_command_7.crontab": (
        "cron",
        7,
        ExportOptions(command="/usr/local/bin/backup {vm} {host} {datastores} > /tmp/{slug}.log"),
    ),
    "ics_1.ics": ("ics", 1, ExportOptions(now=NOW)),
    "ics_7.ics": ("ics", 7, ExportOptions(now=NOW)),
    "html_3.html": ("html", 3, ExportOptions()),
    "html_7.html": ("html", 7, ExportOptions()),
    "md_1.md": ("md", 1, ExportOptions()),
    "md_7.md": ("md", 7, ExportOptions()),
}


@pytest.mark.parametrize("golden", sorted(CASES))
def test_single_regime_output_is_unchanged(golden: str) -> None:
    fmt, nights, options = CASES[golden]
    text = render(estate_schedule(nights), fmt, options)
    path = GOLDEN / golden
    if os.environ.get("STAGGER_UPDATE_GOLDEN"):
        path.write_bytes(text.encode("utf-8"))  # bytes: ics lines end in CRLF
    assert text == path.read_bytes().decode("utf-8")

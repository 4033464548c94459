"""What a user may choose about an export (``--prefix``, ``--per-vm``, ...) and its check.

Its own module so that every exporter can read its options without importing the registry,
which imports every exporter: data flows one way (registry -> exporters -> options).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from stagger.errors import InputError
from stagger.exporters.quoting import visible


@dataclass
class ExportOptions:
    standalone: bool = False  # bacula: a complete bacula-dir.conf instead of an include
    per_vm: bool = False  # veeam: one job per VM instead of one per start-time slot
    command: str | None = None  # cron: command template, {vm} {host} {datastores}
    prefix: str = "stagger"  # names of created jobs/schedules
    workdir: str = "/var/lib/bacula"  # bacula --standalone: WorkingDirectory
    now: datetime | None = None  # ics: DTSTAMP (default: the current time)
    extra: dict[str, str] = field(default_factory=dict)


# Job, schedule and client names are built from it (Bacula allows [A-Za-z0-9 :._-], 127
# characters; Veeam job names end up in Windows paths).
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def check_options(options: ExportOptions) -> None:
    if not _PREFIX.fullmatch(options.prefix):
        raise InputError(
            f"{visible(options.prefix)!r}: use 1-32 of A-Z a-z 0-9 _ . - (starting with a"
            " letter or digit)",
            field="--prefix",
        )

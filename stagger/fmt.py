"""How durations are shown to admins."""

from __future__ import annotations

import math


def hm(minutes: float) -> str:
    """'9h35m'. Rounded up: a job that needs 60.2 minutes does not fit in 1h00m."""
    m = math.ceil(minutes)
    return f"{m // 60}h{m % 60:02d}m"


def data_volume(mb: float) -> str:
    """'2.1 TB', '850 GB', '40 MB': decimal units, as transfer rates in MB/s are."""
    for unit, size in (("TB", 1e6), ("GB", 1e3)):
        if mb >= size:
            return f"{mb / size:.1f} {unit}"
    return f"{mb:.0f} MB"


def use_amount(kind: str, busy_or_free_min: int) -> str:
    """A utilisation row's busy or free amount as an admin reads it: time for a resource of
    task slots; for a repository's ingest row, whose amounts are MB/s x minutes, the data it
    stands for (x 60 s)."""
    if kind == "ingest":
        return data_volume(busy_or_free_min * 60)
    return hm(busy_or_free_min)

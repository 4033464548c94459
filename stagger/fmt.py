"""How durations are shown to admins."""

from __future__ import annotations

import math


def hm(minutes: float) -> str:
    """'9h35m'. Rounded up: a job that needs 60.2 minutes does not fit in 1h00m."""
    m = math.ceil(minutes)
    return f"{m // 60}h{m % 60:02d}m"

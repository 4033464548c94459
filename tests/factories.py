"""Tiny estates and policies built in code, shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stagger.model.policy import Policy
from stagger.model.topology import Topology

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def make_topology(**overrides: Any) -> Topology:
    data: dict[str, Any] = {
        "clusters": [{"name": "C1"}],
        "hosts": [{"name": "esx01", "cluster": "C1"}, {"name": "esx02", "cluster": "C1"}],
        "datastores": [{"name": "DS-01"}, {"name": "DS-02"}],
        "raid_groups": [],
        "vms": [],
    }
    data.update(overrides)
    return Topology.model_validate(data)


def make_policy(**overrides: Any) -> Policy:
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "cycle": {"start": "2026-12-01", "nights": 1},
        "window": {"start": "20:00", "end": "06:00"},
        "slot_minutes": 5,
        # 100 MB/s and no overhead: a job of 351.5625 GiB lasts exactly 60 minutes.
        "throughput": {"mb_per_s": 100, "overhead_minutes": 0},
        "limits": {},
        "blackouts": [],
    }
    data.update(overrides)
    return Policy.model_validate(data)


GIB_PER_HOUR = 351.5625  # at 100 MB/s

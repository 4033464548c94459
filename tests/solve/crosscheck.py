"""Small random estates of every feature, for the exact cross-check (tests and benchmark)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from stagger.model.policy import Policy
from stagger.model.topology import Topology

# DST changes (Europe/Berlin 29 Mar / 25 Oct 2026, America/New_York 8 Mar / 1 Nov 2026) inside
# the cycle, and ordinary dates.
STARTS = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 10, 24), date(2026, 10, 25),
          date(2026, 3, 7), date(2026, 10, 31), date(2026, 6, 10), date(2026, 12, 1)]  # fmt: skip
ZONES = ["Europe/Berlin", "America/New_York", "UTC"]
WINDOWS = [("20:00", "02:00"), ("22:00", "06:00"), ("23:30", "04:30"), ("00:30", "04:30"),
           ("01:00", "05:00"), ("21:00", "23:30")]  # fmt: skip
SLOTS = [15, 20, 25, 30, 60]
# 100 MB/s: this many GiB move in 5 minutes (exact in binary floating point).
GIB_PER_5_MIN = 29.296875


def exact_settings(examples: int) -> settings:
    """Hypothesis settings of the tests that compare stagger with the exact model: fixed
    examples, no deadline, and no shrinking (shrinking these composite estates can take
    minutes; a failure prints its full input)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _clock(hhmm: str, plus_min: int) -> tuple[int, int]:
    h, m = (int(x) for x in hhmm.split(":"))
    t = (h * 60 + m + plus_min) % (24 * 60)
    return t // 60, t % 60


@st.composite
def estates(draw: st.DrawFn) -> tuple[Topology, Policy]:
    n_clusters = draw(st.integers(1, 2))
    n_hosts = draw(st.integers(1, 4))
    n_ds = draw(st.integers(1, 5))
    clusters = [{"name": f"C{i}"} for i in range(n_clusters)]
    hosts: list[dict[str, Any]] = [
        {"name": f"h{i}", "cluster": f"C{draw(st.integers(0, n_clusters - 1))}"}
        for i in range(n_hosts)
    ]
    for h in hosts:
        if draw(st.integers(0, 4)) == 0:
            h["max_jobs"] = draw(st.integers(1, 3))
    stores: list[dict[str, Any]] = [{"name": f"d{i}"} for i in range(n_ds)]
    for d in stores:
        if draw(st.integers(0, 4)) == 0:
            d["max_jobs"] = draw(st.integers(1, 3))
    groups = []
    pool = list(range(n_ds))
    for g in range(draw(st.integers(0, 2))):
        take = [i for i in pool if draw(st.booleans())]
        pool = [i for i in pool if i not in take]
        if take:
            rg: dict[str, Any] = {"name": f"rg{g}", "datastores": [f"d{i}" for i in take]}
            if draw(st.booleans()):
                rg["max_jobs"] = draw(st.integers(1, 3))
            groups.append(rg)
    slot = draw(st.sampled_from(SLOTS))
    win = draw(st.sampled_from(WINDOWS))
    vms = []
    for v in range(draw(st.integers(1, 7))):
        fives = draw(st.integers(1, 36))  # 5 min to 3 h of data
        ds = draw(st.lists(st.integers(0, n_ds - 1), min_size=1, max_size=2, unique=True))
        parts = [fives // len(ds) + (1 if i < fives % len(ds) else 0) for i in range(len(ds))]
        disks = [
            {"datastore": f"d{i}", "size_gib": max(p, 1) * GIB_PER_5_MIN}
            for i, p in zip(ds, parts, strict=True)
        ]
        vm: dict[str, Any] = {
            "name": f"v{v}",
            "host": f"h{draw(st.integers(0, n_hosts - 1))}",
            "disks": disks,
            "tags": ["db"] if draw(st.integers(0, 2)) == 0 else [],
            "priority": draw(st.sampled_from([100, 100, 1, 500])),
        }
        if draw(st.integers(0, 5)) == 0:
            h, m = _clock(win[0], slot * draw(st.integers(0, 3)))
            if not 2 <= h <= 3:  # never a local time a DST change skips or repeats
                vm["pin"] = f"{h:02d}:{m:02d}"
        vms.append(vm)
    topo = Topology.model_validate(
        {"clusters": clusters, "hosts": hosts, "datastores": stores, "raid_groups": groups,
         "vms": vms}
    )  # fmt: skip
    start = draw(st.sampled_from(STARTS))
    nights = draw(st.integers(1, 3))
    blackouts = []
    for b in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["global", "cluster", "host", "datastore", "raid_group",
                                     "vm", "tag"]))  # fmt: skip
        scope: Any = "global"
        if kind == "cluster":
            scope = {"cluster": f"C{draw(st.integers(0, n_clusters - 1))}"}
        elif kind == "host":
            scope = {"host": f"h{draw(st.integers(0, n_hosts - 1))}"}
        elif kind == "datastore":
            scope = {"datastore": f"d{draw(st.integers(0, n_ds - 1))}"}
        elif kind == "raid_group" and groups:
            scope = {"raid_group": draw(st.sampled_from(groups))["name"]}
        elif kind == "vm":
            scope = {"vm": f"v{draw(st.integers(0, len(vms) - 1))}"}
        elif kind == "tag":
            scope = {"tag": "db"}
        hour = draw(st.sampled_from([0, 1, 4, 21, 22, 23]))
        minute = draw(st.sampled_from([0, 10, 30]))
        length = draw(st.sampled_from([20, 45, 60, 90, 180]))
        if draw(st.booleans()):
            blackouts.append({"name": f"b{b}", "scope": scope, "duration": f"{length}m",
                              "rrule": f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}"})  # fmt: skip
        else:
            day = start + timedelta(days=draw(st.integers(0, nights)))
            s = datetime(day.year, day.month, day.day, hour, minute)
            blackouts.append({"name": f"b{b}", "scope": scope, "start": s.isoformat(),
                              "end": (s + timedelta(minutes=length)).isoformat()})  # fmt: skip
    conc = draw(st.sampled_from([None, 1, 1, 2, 3]))
    policy = Policy.model_validate(
        {
            "timezone": draw(st.sampled_from(ZONES)),
            "cycle": {"start": start.isoformat(), "nights": nights},
            "window": {"start": win[0], "end": win[1]},
            "slot_minutes": slot,
            "throughput": {"mb_per_s": 100, "overhead_minutes": draw(st.sampled_from([0, 5]))},
            "limits": {
                "per_host": draw(st.integers(1, 3)),
                "per_datastore": draw(st.integers(1, 2)),
                "per_raid_group": draw(st.integers(1, 3)),
                **({"concurrent_jobs": conc} if conc else {}),
            },
            "blackouts": blackouts,
        }
    )
    return topo, policy

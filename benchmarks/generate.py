"""Seeded synthetic vSphere estates for the scale benchmark.

    python -m benchmarks.generate --vms 10000 --regime balanced --out /tmp/est
    python -m benchmarks.generate --vms 10000 --regime connected --components --out /tmp/est
    python -m benchmarks.generate --vms 10000 --regime balanced --week --out /tmp/week

Distributions follow what real estates look like:
- clusters of 4-16 ESXi hosts; 1-44 VMs per host (log-normal, median ~15);
- VMFS datastores shared by the hosts of one cluster, 5-20 VMs each; RAID groups of 2-6
  datastores of one cluster (an array pool); now and then a pool serves two clusters, which
  joins them into one scheduling component;
- VM size log-normal with median ~220 GiB (a few multi-TB servers); 20% of the VMs have a
  second disk on another datastore of the cluster;
- full cycles (every VM moves its whole size) or incremental ones (5-10% change rate per VM);
- blackouts: nightly antivirus scans on some clusters, month-end payroll on a few tagged VMs
  (their hosts are busy), one-off patch windows on some hosts.

Four regimes:
- ``datastore``: RAID groups (capacity 1) carry several times a host's load: they bound the
  makespan and hosts rarely matter;
- ``balanced``: RAID groups take 3 jobs at once and the VMs are spread over hosts and
  datastores as DRS and Storage DRS would (largest first onto the least loaded), so hosts,
  datastores and RAID groups carry similar loads and interact, which is what makes list
  scheduling lose a few percent;
- ``connected``: shared arrays. Every 3-5 clusters share an array whose RAID groups (capacity
  2, a quarter of them 3) mix the datastores of those clusters (each cluster's first LUN in a
  group that already serves an earlier one); the first cluster of an array, and half the
  others, also mount a LUN or two of the previous array; 30% of the VMs have a second disk in
  another RAID group; a fifth of the datastores take 2 jobs; antivirus scans per cluster,
  patch windows per host, the payroll blackout; hosts take 2 jobs at once (so RAID groups and
  task slots, not the busiest host, set the makespan); task slots 0.4 per host. The estate is
  one large scheduling component (10,000 of 10,000 jobs at seed 0), not many small ones;
- ``adversarial``: one RAID group holds every datastore (its capacity set so that the jobs
  fill about 80% of it over the cycle); on about a third of the hosts one VM whose job lasts
  60-95% of the window (no longer than the longest stretch its blackouts leave); many short
  blackouts (15-45 min): antivirus scans two or three times a night on most clusters, one to
  three maintenance stops on half the hosts.

In ``connected`` and ``adversarial`` no VM is unschedulable by construction: every job is at
most as long as the longest free stretch its host's blackouts leave in some night (a VM that
would be longer is made smaller), and the capacities leave room for every job: a host,
datastore or RAID group whose jobs would keep it more than ``RAID_BUSY`` of its window time busy
takes more jobs at once (checked by the tests with the greedy planner, which places every job,
and per host at 1,000 VMs).

``--week`` (:func:`week_dicts`) turns any regime's estate into a tiered week (issue 14): a
7-night cycle from Monday 30 Nov 2026, every VM an incremental each night (change rate 3-8 %)
and a weekly full: about 10 % ``gold`` (application consistency, priority 1, a 20:00-06:00
window, full every 7 nights), 10 % ``weekly`` (full fixed on Saturday), the rest ``default``
(full every 7 nights). The regime's estate is generated first, unchanged, and the week is laid
over it with its own random stream, so the regimes' estates stay byte-identical. The week is
then sized for its nights, as an admin sizes hosts so that the nightly backups fit, and so is
feasible by construction: per host, datastore, RAID group (and the proxy's task slots), per
night, the jobs that must run that night (every VM's smallest job of the night: an
incremental, or its weekly tier's fixed Saturday full) plus a seventh of the staggered fulls'
slots beyond an incremental (the fulls spread evenly over the week) must keep it at most
``RAID_BUSY`` busy of its capacity x its free time that night (after the blackouts that apply
to all its jobs, as the compiler reads them); a resource that would be busier takes more jobs
at once (``max_jobs`` raised, never lowered). The balanced regime's blackouts stay (the
month-end payroll blackout falls on night 0). Before this, the week kept the regime's
capacities and was infeasible at 10,000 VMs: host CL0033-esx01 (44 VMs, one job at a time)
has 96 free slots on night 0 and its 44 incrementals need 104. At 10,000 VMs 7 hosts take 2
jobs at once; both ``fulls`` variants get the same estate (sized for staggered fulls).

The estate is built as plain Python data and validated by the pydantic models (``validate``);
``model_construct`` skips that for the largest sizes after a sample has been validated.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from stagger.model.policy import Policy
from stagger.model.topology import VM, Cluster, Datastore, Disk, Host, RaidGroup, Topology

Regime = Literal["datastore", "balanced", "connected", "adversarial"]
CycleKind = Literal["full", "incremental"]
REGIMES: tuple[Regime, ...] = ("datastore", "balanced", "connected", "adversarial")

# Fulls run over the weekend from Friday 27 Nov 2026; incrementals on Monday 30 Nov, the last
# working day of the month, so the payroll blackout (18:00 on that day) hits them.
CYCLE_START = date(2026, 11, 27)
INCREMENTAL_START = date(2026, 11, 30)


@dataclass(frozen=True)
class EstateSpec:
    vms: int
    regime: Regime = "datastore"
    cycle: CycleKind = "full"
    seed: int = 0


def _lognormal_int(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, round(median * math.exp(rng.gauss(0, sigma))))))


def _hosts_of_cluster(rng: random.Random, vms_left: int) -> list[int]:
    """VMs per host of one cluster of 4-16 hosts (log-normal, median ~15), at most
    ``vms_left`` in all (the cluster may have fewer hosts when the estate runs out)."""
    n_hosts = rng.randint(4, 16)
    host_vms: list[int] = []
    for _ in range(n_hosts):
        k = min(_lognormal_int(rng, 15, 0.6, 1, 44), vms_left - sum(host_vms))
        if k <= 0:
            break
        host_vms.append(k)
    return host_vms


def _datastore_sizes(rng: random.Random, n_vms: int) -> list[int]:
    """VMs per datastore of a cluster: 5-20 each until every VM has a home disk."""
    ds_cap: list[int] = []
    while sum(ds_cap) < n_vms:
        ds_cap.append(rng.randint(5, 20))
    return ds_cap


def _disk_size(rng: random.Random) -> float:
    # Median 220 GiB, a long right tail (p99 ~ 2.5 TiB), at least 20 GiB.
    return float(max(20, min(3000, round(220 * math.exp(rng.gauss(0, 1.0))))))


def _balance(
    rng: random.Random,
    vms: list[dict[str, Any]],
    hosts: list[str],
    host_count: list[int],
    stores: list[str],
    store_count: list[int],
) -> None:
    """What DRS and Storage DRS do: spread the VMs so that every host and every datastore of
    the cluster carries a similar load (largest VM first onto the least loaded one), keeping
    the number of VMs per host and per datastore."""
    size = {v["name"]: sum(d["size_gib"] for d in v["disks"]) for v in vms}
    h_load = dict.fromkeys(hosts, 0.0)
    h_left = dict(zip(hosts, host_count, strict=True))
    d_load = dict.fromkeys(stores, 0.0)
    d_left = dict(zip(stores, store_count, strict=True))
    for v in sorted(vms, key=lambda v: (-size[v["name"]], v["name"])):
        h = min((h for h in hosts if h_left[h] > 0), key=lambda h: (h_load[h], h))
        h_left[h] -= 1
        h_load[h] += size[v["name"]]
        v["host"] = h
        home = min((d for d in stores if d_left[d] > 0), key=lambda d: (d_load[d], d))
        d_left[home] -= 1
        v["disks"][0]["datastore"] = home
        for disk in v["disks"][1:]:
            if disk["datastore"] == home:
                disk["datastore"] = rng.choice([d for d in stores if d != home])
        for d in {disk["datastore"] for disk in v["disks"]}:
            d_load[d] += size[v["name"]]
    vms.sort(key=lambda v: v["name"])


def generate_dicts(spec: EstateSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Topology and policy as plain data (what a YAML file would hold)."""
    rng = random.Random(f"{spec.seed}:{spec.vms}:{spec.regime}")
    if spec.regime in ("connected", "adversarial"):
        return _hard_dicts(spec, rng)
    clusters: list[dict[str, Any]] = []
    hosts: list[dict[str, Any]] = []
    datastores: list[dict[str, Any]] = []
    raid_groups: list[dict[str, Any]] = []
    vms: list[dict[str, Any]] = []
    blackouts: list[dict[str, Any]] = []
    made = 0
    c = 0
    pending_pool: list[str] = []  # a pool's leftover datastores shared with the next cluster
    while made < spec.vms:
        cname = f"CL{c:04d}"
        clusters.append({"name": cname})
        host_vms = _hosts_of_cluster(rng, spec.vms - made)
        hnames = [f"{cname}-esx{h:02d}" for h in range(len(host_vms))]
        hosts += [{"name": h, "cluster": cname} for h in hnames]
        n_vms = sum(host_vms)
        ds_cap = _datastore_sizes(rng, n_vms)
        dnames = [f"{cname}-ds{d:02d}" for d in range(len(ds_cap))]
        datastores += [{"name": d} for d in dnames]
        # RAID groups of 2-6 datastores; sometimes the last pool of the previous cluster
        # (same array) takes this cluster's first datastores too.
        order = list(dnames)
        g = 0
        if pending_pool and rng.random() < 0.5:
            take = order[: rng.randint(1, 2)]
            order = order[len(take) :]
            raid_groups[-1]["datastores"] += take
        while order:
            size = rng.randint(2, 6)
            if len(order) - size == 1:
                size += 1  # no pool of a single datastore
            group, order = order[:size], order[size:]
            raid_groups.append({"name": f"{cname}-rg{g}", "datastores": group})
            g += 1
        pending_pool = (
            raid_groups[-1]["datastores"] if len(raid_groups[-1]["datastores"]) < 5 else []
        )
        slots = [d for d, cap in zip(dnames, ds_cap, strict=True) for _ in range(cap)]
        rng.shuffle(slots)
        i = 0
        first_vm = len(vms)
        payroll_host = rng.random() < 0.15
        for h, k in zip(hnames, host_vms, strict=True):
            for _ in range(k):
                home = slots[i]
                i += 1
                disks = [{"datastore": home, "size_gib": _disk_size(rng)}]
                if rng.random() < 0.2 and len(dnames) > 1:
                    other = rng.choice([d for d in dnames if d != home])
                    disks.append({"datastore": other, "size_gib": _disk_size(rng) / 2})
                vm: dict[str, Any] = {"name": f"vm{made:06d}", "host": h, "disks": disks}
                if spec.cycle == "incremental":
                    vm["change_rate"] = round(rng.uniform(0.05, 0.10), 3)
                if payroll_host and h == hnames[0]:
                    vm["tags"] = ["payroll"]
                    payroll_host = False
                vms.append(vm)
                made += 1
        if spec.regime == "balanced":
            _balance(rng, vms[first_vm:], hnames, host_vms, dnames, ds_cap)
        if rng.random() < 0.25:
            blackouts.append(
                {
                    "name": f"av-{cname}",
                    "scope": {"cluster": cname},
                    "rrule": f"FREQ=DAILY;BYHOUR={rng.choice([0, 1, 2])};BYMINUTE=0",
                    "duration": "60m",
                }
            )
        if rng.random() < 0.1:
            h = rng.choice(hnames)
            day = CYCLE_START if spec.cycle == "full" else INCREMENTAL_START
            s = datetime.combine(day, datetime.min.time()) + timedelta(hours=21)
            blackouts.append(
                {
                    "name": f"patch-{h}",
                    "scope": {"host": h},
                    "start": s.isoformat(timespec="minutes"),
                    "end": (s + timedelta(hours=rng.choice([2, 3]))).isoformat(timespec="minutes"),
                }
            )
        c += 1
    if any("payroll" in v.get("tags", ()) for v in vms):
        blackouts.append(
            {
                "name": "payroll",
                "scope": {"tag": "payroll", "expand": "hosts"},
                "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=18;BYMINUTE=0",
                "duration": "5h",
            }
        )
    topology = {
        "clusters": clusters,
        "hosts": hosts,
        "datastores": datastores,
        "raid_groups": raid_groups,
        "vms": vms,
    }
    full = spec.cycle == "full"
    if spec.regime == "datastore":
        limits = {"per_host": 1, "per_datastore": 1, "per_raid_group": 1}
        mb_per_s = 600 if full else 300
    else:
        limits = {"per_host": 1, "per_datastore": 1, "per_raid_group": 3}
        mb_per_s = 250 if full else 100
    # Proxy task slots: a bit more than half the hosts may run a job at once, so the global
    # limit matters when every component is busy but does not set the makespan by itself.
    limits["concurrent_jobs"] = max(4, int(len(hosts) * 0.6))
    if full:
        # Weekly fulls over the weekend: Friday to Sunday night, 18:00-08:00.
        cycle = {"start": CYCLE_START.isoformat(), "nights": 3}
        window = {"start": "18:00", "end": "08:00"}
        slot, overhead = 5, 5
    else:
        # Nightly incrementals: short jobs, so a finer grid and a smaller fixed cost.
        cycle = {"start": INCREMENTAL_START.isoformat(), "nights": 1}
        window = {"start": "19:00", "end": "07:00"}
        slot, overhead = 2, 2
    policy = {
        "timezone": "Europe/Berlin",
        "cycle": cycle,
        "window": window,
        "slot_minutes": slot,
        "throughput": {"mb_per_s": mb_per_s, "overhead_minutes": overhead},
        "limits": limits,
        "blackouts": blackouts,
    }
    return topology, policy


# --- connected and adversarial --------------------------------------------------------------


@dataclass(frozen=True)
class _Cycle:
    """Window and throughput of a cycle kind, and where its nights lie."""

    start: date
    nights: int
    window: tuple[str, str]
    slot_min: int
    overhead_min: int

    @property
    def window_min(self) -> int:
        (h0, m0), (h1, m1) = (map(int, t.split(":")) for t in self.window)
        return ((h1 * 60 + m1) - (h0 * 60 + m0)) % (24 * 60) or 24 * 60

    def local(self, night: int, offset_min: int) -> datetime:
        """Local time ``offset_min`` after night ``night``'s window opens."""
        h, m = map(int, self.window[0].split(":"))
        day = datetime.combine(self.start + timedelta(days=night), datetime.min.time())
        return day + timedelta(hours=h, minutes=m + offset_min)

    def offset(self, hour: int, minute: int) -> int:
        """Minutes from the window's opening to the clock time ``hour:minute``."""
        h, m = map(int, self.window[0].split(":"))
        return ((hour * 60 + minute) - (h * 60 + m)) % (24 * 60)


RAID_BUSY = 0.8
"""``connected``/``adversarial``: the largest share of its capacity x the cycle's windows that
a datastore's or RAID group's jobs keep it busy (a busier one takes more jobs at once)."""
_FULL = _Cycle(CYCLE_START, 3, ("18:00", "08:00"), 5, 5)
_INCREMENTAL = _Cycle(INCREMENTAL_START, 1, ("19:00", "07:00"), 2, 2)
# Blackouts as minutes after a night's window opens: [(night, start, end)], night None = all.
_Stops = list[tuple[int | None, int, int]]


def _free_slots(cycle: _Cycle, stops: _Stops) -> tuple[int, int]:
    """The longest run of slots, in any night, that no stop touches, and the free slots of
    all nights together (stops rounded outward to the slot grid, as the compiler does)."""
    slot = cycle.slot_min
    total = cycle.window_min // slot
    best = free = 0
    for night in range(cycle.nights):
        spans = sorted((s // slot, -(-e // slot)) for n, s, e in stops if n is None or n == night)
        cur = 0
        for lo, hi in spans:
            run = min(lo, total) - cur
            best, free = max(best, run), free + max(0, run)
            cur = max(cur, hi)
        best, free = max(best, total - cur), free + max(0, total - cur)
    return best, free


def _job_slots(size_gib: float, rate: float, mb_per_s: int, cycle: _Cycle) -> int:
    minutes = cycle.overhead_min + size_gib * rate * 1024 / mb_per_s / 60
    return max(1, math.ceil(minutes / cycle.slot_min - 1e-9))


def _size_for_slots(slots: int, rate: float, mb_per_s: int, cycle: _Cycle) -> float:
    """Largest whole GiB whose job takes at most ``slots`` slots."""
    minutes = slots * cycle.slot_min - cycle.overhead_min
    return float(max(1, math.floor(minutes * 60 * mb_per_s / 1024 / rate)))


def _hard_dicts(spec: EstateSpec, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``connected`` and ``adversarial`` regimes (module docstring)."""
    connected = spec.regime == "connected"
    full = spec.cycle == "full"
    cycle = _FULL if full else _INCREMENTAL
    mb_per_s = (250 if full else 100) if connected else (200 if full else 100)
    clusters: list[dict[str, Any]] = []
    hosts: list[dict[str, Any]] = []
    datastores: list[dict[str, Any]] = []
    raid_groups: list[dict[str, Any]] = []
    vms: list[dict[str, Any]] = []
    blackouts: list[dict[str, Any]] = []
    cluster_stops: dict[str, _Stops] = {}
    host_stops: dict[str, _Stops] = {}
    # Shared arrays (connected): the RAID groups of the current array still taking datastores.
    array = 0
    clusters_left = 0
    open_groups: list[dict[str, Any]] = []
    previous_array_groups: list[dict[str, Any]] = []
    all_in_one: dict[str, Any] = {"name": "SAN00-rg00", "datastores": []}
    if not connected:
        raid_groups.append(all_in_one)

    def new_group() -> dict[str, Any]:
        group: dict[str, Any] = {
            "name": f"SAN{array:02d}-rg{len(open_groups) + len(closed):02d}",
            "datastores": [],
        }
        group["_room"] = rng.randint(3, 6)
        if rng.random() < 0.25:
            group["max_jobs"] = 3
        raid_groups.append(group)
        open_groups.append(group)
        return group

    closed: list[dict[str, Any]] = []
    made = 0
    c = 0
    while made < spec.vms:
        cname = f"CL{c:04d}"
        clusters.append({"name": cname})
        first_of_array = connected and clusters_left == 0
        if first_of_array:
            previous_array_groups = open_groups + closed
            if closed or open_groups:
                array += 1
            open_groups, closed = [], []
            clusters_left = rng.randint(3, 5)
        clusters_left -= 1
        host_vms = _hosts_of_cluster(rng, spec.vms - made)
        hnames = [f"{cname}-esx{h:02d}" for h in range(len(host_vms))]
        hosts += [{"name": h, "cluster": cname} for h in hnames]
        n_vms = sum(host_vms)
        ds_cap = _datastore_sizes(rng, n_vms)
        dnames = [f"{cname}-ds{d:02d}" for d in range(len(ds_cap))]
        group_of: dict[str, str] = {}
        # LUNs of the previous array: the first cluster of an array always mounts one or two
        # (so the arrays form one chain), half the others too.
        borrowed = 0
        if previous_array_groups and (first_of_array or rng.random() < 0.5):
            borrowed = min(rng.randint(1, 2), len(dnames) - 1)
        for i, d in enumerate(dnames):
            store: dict[str, Any] = {"name": d}
            if connected and rng.random() < 0.2:
                store["max_jobs"] = 2
            datastores.append(store)
            if not connected:
                all_in_one["datastores"].append(d)
                group_of[d] = all_in_one["name"]
                continue
            if i < borrowed:
                # A LUN of the previous array: ties the two arrays' components together.
                group = rng.choice(previous_array_groups)
            elif i == borrowed and (open_groups or closed):
                # The cluster's first own LUN in a RAID group of the array that already
                # serves an earlier cluster: the array's clusters form one component.
                group = rng.choice(open_groups + closed)
            else:
                if not open_groups or rng.random() < 0.3:
                    new_group()
                group = rng.choice(open_groups)
            group["datastores"].append(d)
            group_of[d] = group["name"]
            if group in open_groups and len(group["datastores"]) >= group["_room"]:
                open_groups.remove(group)
                closed.append(group)
        # Blackouts of this cluster and its hosts, kept as minutes for the length check.
        stops: _Stops = []
        if connected and rng.random() < 0.5:
            hour = rng.choice([0, 1, 2])
            blackouts.append(
                {
                    "name": f"av-{cname}",
                    "scope": {"cluster": cname},
                    "rrule": f"FREQ=DAILY;BYHOUR={hour};BYMINUTE=0",
                    "duration": "60m",
                }
            )
            s = cycle.offset(hour, 0)
            stops.append((None, s, s + 60))
        elif not connected and rng.random() < 0.7:
            h0 = int(cycle.window[0][:2])
            h1 = int(cycle.window[1][:2])
            hours = sorted(
                {rng.choice(range(h0, h0 + 3))}
                | set(rng.sample(range(h1 - 3, h1), rng.randint(1, 2)))
            )
            minute = rng.choice([0, 15, 30])
            length = rng.choice([15, 20, 30, 45])
            blackouts.append(
                {
                    "name": f"av-{cname}",
                    "scope": {"cluster": cname},
                    "rrule": (f"FREQ=DAILY;BYHOUR={','.join(map(str, hours))};BYMINUTE={minute}"),
                    "duration": f"{length}m",
                }
            )
            for hour in hours:
                s = cycle.offset(hour, minute)
                stops.append((None, s, min(s + length, cycle.window_min)))
        cluster_stops[cname] = stops
        for host in hnames:
            mine: _Stops = []
            if connected and rng.random() < 0.08:
                night = rng.randrange(cycle.nights)
                s = cycle.offset(21, 0)
                length = 60 * rng.choice([2, 3])
                mine.append((night, s, s + length))
            elif not connected and rng.random() < 0.5:
                for _ in range(rng.randint(1, 3)):
                    night = rng.randrange(cycle.nights)
                    length = rng.choice([15, 20, 30, 45])
                    s = 5 * rng.randrange((cycle.window_min - length) // 5)
                    mine.append((night, s, s + length))
            for k, (on, s, e) in enumerate(mine):
                assert on is not None
                blackouts.append(
                    {
                        "name": f"{'patch' if connected else 'maint'}-{host}"
                        + (f"-{k}" if k else ""),
                        "scope": {"host": host},
                        "start": cycle.local(on, s).isoformat(timespec="minutes"),
                        "end": cycle.local(on, e).isoformat(timespec="minutes"),
                    }
                )
            host_stops[host] = mine
        slots = [d for d, cap in zip(dnames, ds_cap, strict=True) for _ in range(cap)]
        rng.shuffle(slots)
        i = 0
        payroll_host = rng.random() < 0.15
        for h, k in zip(hnames, host_vms, strict=True):
            long_vm = not connected and rng.random() < 0.35
            for _ in range(k):
                home = slots[i]
                i += 1
                disks = [{"datastore": home, "size_gib": _disk_size(rng)}]
                if rng.random() < (0.3 if connected else 0.2) and len(dnames) > 1:
                    others = [d for d in dnames if d != home]
                    if connected:
                        # Prefer a datastore in another RAID group: the VM spans both.
                        others = [d for d in others if group_of[d] != group_of[home]] or others
                    disks.append({"datastore": rng.choice(others), "size_gib": _disk_size(rng) / 2})
                vm: dict[str, Any] = {"name": f"vm{made:06d}", "host": h, "disks": disks}
                if spec.cycle == "incremental":
                    vm["change_rate"] = round(rng.uniform(0.05, 0.10), 3)
                if payroll_host and h == hnames[0]:
                    vm["tags"] = ["payroll"]
                    payroll_host = False
                if long_vm:
                    # The host's one long job: 60-95% of the window (sized below; CBT
                    # off on incrementals: the whole VM moves every night).
                    long_vm = False
                    vm["_long"] = rng.uniform(0.60, 0.95)
                vms.append(vm)
                made += 1
        c += 1
    for group in raid_groups:
        group.pop("_room", None)
    # Leftover single-datastore groups join the group before them in the same array.
    for k in range(len(raid_groups) - 1, 0, -1):
        group, before = raid_groups[k], raid_groups[k - 1]
        same_array = group["name"].split("-")[0] == before["name"].split("-")[0]
        if len(group["datastores"]) < 2 and same_array:
            before["datastores"] += group["datastores"]
            del raid_groups[k]
    raid_groups[:] = [g for g in raid_groups if g["datastores"]]
    payroll_hosts = {v["host"] for v in vms if "payroll" in v.get("tags", ())}
    if payroll_hosts:
        blackouts.append(
            {
                "name": "payroll",
                "scope": {"tag": "payroll", "expand": "hosts"},
                "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=18;BYMINUTE=0",
                "duration": "5h",
            }
        )
    # Every job at most as long as the longest free stretch of its host (a larger VM is
    # made smaller): no VM unschedulable by construction.
    cluster_of = {h["name"]: h["cluster"] for h in hosts}
    longest: dict[str, int] = {}
    host_free: dict[str, int] = {}
    for h_obj in hosts:
        name = h_obj["name"]
        stops = cluster_stops[cluster_of[name]] + host_stops[name]
        if name in payroll_hosts and not full:
            # 30 Nov 2026 is the month's last working day: payroll 18:00-23:00.
            stops = [*stops, (0, 0, cycle.offset(23, 0))]
        longest[name], host_free[name] = _free_slots(cycle, stops)
    night_slots = cycle.window_min // cycle.slot_min

    def slots_of(vm: dict[str, Any]) -> int:
        total = sum(d["size_gib"] for d in vm["disks"])
        return _job_slots(total, vm.get("change_rate", 1.0), mb_per_s, cycle)

    for vm in vms:
        room = longest[vm["host"]]
        total = sum(d["size_gib"] for d in vm["disks"])
        if slots_of(vm) > room:
            scale = _size_for_slots(room, vm.get("change_rate", 1.0), mb_per_s, cycle) / total
            for d in vm["disks"]:
                d["size_gib"] = float(max(1, math.floor(d["size_gib"] * scale)))
    # The long jobs (at most one per datastore), each no longer than its host's longest free
    # stretch. On one night the host's other jobs must fit in that stretch beside it (so the
    # long job leaves them room) and its datastore's other jobs in its second slot; on several
    # nights the other jobs must fit in the other nights. A tenth of a night to spare.
    margin = night_slots // 10
    host_busy: dict[str, int] = {}
    store_busy: dict[str, int] = {}
    for vm in vms:
        if "_long" not in vm:
            host_busy[vm["host"]] = host_busy.get(vm["host"], 0) + slots_of(vm)
            for d in {d["datastore"] for d in vm["disks"]}:
                store_busy[d] = store_busy.get(d, 0) + slots_of(vm)
    per_datastore = 2  # the adversarial limit, set below
    long_on: set[str] = set()
    for vm in vms:
        target = vm.pop("_long", None)
        home = vm["disks"][0]["datastore"]
        if target is None or home in long_on:
            continue
        beside = host_busy.get(vm["host"], 0)
        want = min(longest[vm["host"]], math.floor(target * night_slots))
        if cycle.nights == 1:
            want = min(want, longest[vm["host"]] - beside - margin)
            room_on_store = (per_datastore - 1) * night_slots - margin
        else:
            want = want if beside <= host_free[vm["host"]] - night_slots - margin else 0
            room_on_store = per_datastore * (cycle.nights - 1) * night_slots - margin
        if store_busy.get(home, 0) > room_on_store or want < 0.6 * night_slots:
            continue
        long_on.add(home)
        if spec.cycle == "incremental":
            vm["change_rate"] = 1.0
        size = _size_for_slots(want, vm.get("change_rate", 1.0), mb_per_s, cycle)
        vm["disks"] = [{"datastore": home, "size_gib": size}]
    if connected:
        limits: dict[str, int] = {"per_host": 2, "per_datastore": 1, "per_raid_group": 2}
    else:
        limits = {"per_host": 1, "per_datastore": per_datastore, "per_raid_group": 1}
        all_in_one["max_jobs"] = 1
    # Room for every job: a datastore or RAID group whose jobs would keep it more than
    # RAID_BUSY busy over the cycle takes more jobs at once (a faster array); the adversarial
    # RAID group takes at least one job more than the long jobs of a night besides. The task
    # slots (connected): 0.4 per host, or more if the jobs need them.
    cycle_slots = cycle.nights * night_slots
    load: dict[tuple[str, str], int] = {}
    group_of_store = {d: g["name"] for g in raid_groups for d in g["datastores"]}
    for vm in vms:
        stores = list(dict.fromkeys(d["datastore"] for d in vm["disks"]))
        keys = [("datastore", d) for d in stores]
        keys += [("raid_group", g) for g in dict.fromkeys(group_of_store[d] for d in stores)]
        for key in keys:
            load[key] = load.get(key, 0) + slots_of(vm)
    for kind, objects in (("datastore", datastores), ("raid_group", raid_groups)):
        for obj in objects:
            cap = obj.get("max_jobs") or limits[f"per_{kind}"]
            need = math.ceil(load.get((kind, obj["name"]), 0) / (cycle_slots * RAID_BUSY))
            if need > cap:
                obj["max_jobs"] = need
    # Hosts too, against the window time their blackouts leave: at 50,000 VMs the log-normal
    # tail puts 40-odd VMs on a host, whose jobs (one at a time) outgrew the three nights.
    host_load: dict[str, int] = {}
    for vm in vms:
        host_load[vm["host"]] = host_load.get(vm["host"], 0) + slots_of(vm)
    for h_obj in hosts:
        cap = h_obj.get("max_jobs") or limits["per_host"]
        free = max(1, host_free[h_obj["name"]])
        need = math.ceil(host_load.get(h_obj["name"], 0) / (free * RAID_BUSY))
        if need > cap:
            h_obj["max_jobs"] = need
    if not connected:
        long_jobs = sum(1 for v in vms if slots_of(v) >= 0.6 * night_slots)
        need = math.ceil(long_jobs / cycle.nights) + 4
        all_in_one["max_jobs"] = max(all_in_one["max_jobs"], need)
    else:
        need = math.ceil(sum(slots_of(v) for v in vms) / (cycle_slots * RAID_BUSY))
        limits["concurrent_jobs"] = max(4, int(len(hosts) * 0.4), need)
    topology = {
        "clusters": clusters,
        "hosts": hosts,
        "datastores": datastores,
        "raid_groups": raid_groups,
        "vms": vms,
    }
    policy = {
        "timezone": "Europe/Berlin",
        "cycle": {"start": cycle.start.isoformat(), "nights": cycle.nights},
        "window": {"start": cycle.window[0], "end": cycle.window[1]},
        "slot_minutes": cycle.slot_min,
        "throughput": {"mb_per_s": mb_per_s, "overhead_minutes": cycle.overhead_min},
        "limits": limits,
        "blackouts": blackouts,
    }
    return topology, policy


# --- the tiered week (issue 14) -------------------------------------------------------------

WEEK_START = date(2026, 11, 30)  # a Monday: Saturday is night 5
SATURDAY = "FREQ=WEEKLY;BYDAY=SA"
WeekFulls = Literal["every", "saturday"]


def week_dicts(
    spec: EstateSpec, fulls: WeekFulls = "every"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The regime's estate (full cycle: the weekend window and throughput) as a tiered week
    (module docstring). ``fulls="saturday"``: every tier's full fixed on Saturday, the
    "all fulls on one night" baseline of the same estate (same VMs, tags and change rates)."""
    topo, pol = generate_dicts(EstateSpec(spec.vms, spec.regime, "full", spec.seed))
    rng = random.Random(f"week:{spec.seed}:{spec.vms}:{spec.regime}")
    for vm in topo["vms"]:
        vm["change_rate"] = round(rng.uniform(0.03, 0.08), 3)
        draw = rng.random()
        tier = "gold" if draw < 0.1 else "weekly" if draw < 0.2 else None
        if tier is not None:
            vm["tags"] = [*vm.get("tags", []), tier]
    full_every: dict[str, Any] = {"every": 7} if fulls == "every" else {"on": SATURDAY}
    pol["cycle"] = {"start": WEEK_START.isoformat(), "nights": 7}
    # Every VM has its own rate; the policy's is what a VM added later would get.
    pol["throughput"]["change_rate"] = 0.05
    pol["tiers"] = [
        {
            "name": "gold",
            "match": {"tag": "gold"},
            "incremental": "nightly",
            "full": full_every,
            "consistency": "application",
            "priority": 1,
            "window": {"start": "20:00", "end": "06:00"},
        },
        {
            "name": "weekly",
            "match": {"tag": "weekly"},
            "incremental": "nightly",
            "full": {"on": SATURDAY},
        },
        {
            "name": "default",
            "match": {"default": True},
            "incremental": "nightly",
            "full": full_every,
        },
    ]
    # Sized for the staggered week whatever ``fulls`` says, so that both plans get one estate.
    every = copy.deepcopy(pol)
    for tier in every["tiers"]:
        if tier["name"] != "weekly":
            tier["full"] = {"every": 7}
    _size_for_the_week(topo, every)
    pol["limits"] = every["limits"]
    return topo, pol


def week_night_needs(inst: Any) -> dict[int, list[int]]:
    """Per resource of a tiered week's instance, per night, the slots its jobs need that night
    when the weekly fulls are spread evenly: every VM's smallest job of that night (an
    incremental, or a full fixed on that night), plus a seventh of the fulls' excess over an
    incremental (a full that may take any night of its block)."""
    n_nights = len(inst.nights)
    base: dict[int, list[int]] = {}
    excess: dict[int, int] = {}
    by_vm: dict[str, list[int]] = {}
    for j, job in enumerate(inst.jobs):
        by_vm.setdefault(job.vm, []).append(j)
    for members in by_vm.values():
        jobs = [inst.jobs[j] for j in members]
        per_night = [
            min((job.duration for job in jobs if job.allowed[n]), default=0)
            for n in range(n_nights)
        ]
        # A group (its full may take any night): the full's slots beyond an incremental
        # land on one night of the block, a seventh of them on each when spread evenly.
        extra = sum(
            job.duration - min(o.duration for o in jobs if o.group == job.group)
            for job in jobs
            if job.group is not None and job.level == "full"
        )
        for r in set().union(*(job.resources for job in jobs)):
            row = base.setdefault(r, [0] * n_nights)
            for n in range(n_nights):
                row[n] += per_night[n]
            excess[r] = excess.get(r, 0) + extra
    return {r: [b + math.ceil(excess[r] / n_nights) for b in row] for r, row in base.items()}


def _size_for_the_week(topo: dict[str, Any], pol: dict[str, Any]) -> None:
    """Size the estate for its week, as an admin sizes hosts so that the nightly backups fit:
    a host, datastore or RAID group (or the proxy's task slots) whose needs on some night
    (:func:`week_night_needs`) would keep it more than ``RAID_BUSY`` of the free time the
    blackouts leave it that night busy takes more jobs at once (``max_jobs``, raised only)."""
    from stagger.instance import compile_instance  # the compiler: blackouts as it reads them

    inst = compile_instance(_construct_topology(topo), Policy.model_validate(pol))
    objects = {
        (kind, o["name"]): o
        for kind, key in (
            ("host", "hosts"),
            ("datastore", "datastores"),
            ("raid_group", "raid_groups"),
        )
        for o in topo[key]
    }
    for r, need in week_night_needs(inst).items():
        res = inst.resources[r]
        blocked = inst.resource_blocked.get(r, [])
        want = res.capacity
        for n, night in enumerate(inst.nights):
            free = night.end - night.start
            free -= sum(max(0, min(e, night.end) - max(s, night.start)) for s, e in blocked)
            want = max(want, math.ceil(need[n] / (max(1, free) * RAID_BUSY)))
        if want <= res.capacity:
            continue
        if res.kind == "concurrent":
            pol["limits"]["concurrent_jobs"] = want
        else:
            objects[(res.kind, res.name)]["max_jobs"] = want


def generate_week(
    spec: EstateSpec, fulls: WeekFulls = "every", *, validate: bool = True
) -> tuple[Topology, Policy]:
    """:func:`week_dicts` as models (``validate=False``: ``model_construct``, as ``generate``)."""
    topo, pol = week_dicts(spec, fulls)
    policy = Policy.model_validate(pol)
    if validate:
        return Topology.model_validate(topo), policy
    return _construct_topology(topo), policy


def _construct_topology(data: dict[str, Any]) -> Topology:
    """Build without validation (fast path for 100k VMs); fields as the validated model has."""
    vms = [
        VM.model_construct(
            name=v["name"],
            host=v["host"],
            disks=[
                Disk.model_construct(datastore=d["datastore"], size_gib=d["size_gib"])
                for d in v["disks"]
            ],
            tags=v.get("tags", []),
            change_rate=v.get("change_rate"),
        )
        for v in data["vms"]
    ]
    return Topology.model_construct(
        clusters=[Cluster.model_construct(**c) for c in data["clusters"]],
        hosts=[Host.model_construct(**h) for h in data["hosts"]],
        datastores=[Datastore.model_construct(**d) for d in data["datastores"]],
        raid_groups=[RaidGroup.model_construct(**r) for r in data["raid_groups"]],
        vms=vms,
    )


def generate(spec: EstateSpec, *, validate: bool = True) -> tuple[Topology, Policy]:
    """The estate as models. ``validate=False`` builds them with ``model_construct``."""
    topo, pol = generate_dicts(spec)
    policy = Policy.model_validate(pol)
    if validate:
        return Topology.model_validate(topo), policy
    return _construct_topology(topo), policy


def main() -> None:
    import yaml

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--regime", choices=REGIMES, default="datastore")
    ap.add_argument("--cycle", choices=("full", "incremental"), default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="folder for topology/policy YAML")
    ap.add_argument(
        "--components", action="store_true", help="also print the scheduling component sizes"
    )
    ap.add_argument(
        "--week",
        action="store_true",
        help="a tiered 7-night week over the regime's estate (--cycle is ignored)",
    )
    args = ap.parse_args()
    spec = EstateSpec(args.vms, args.regime, args.cycle, args.seed)
    topo, pol = week_dicts(spec) if args.week else generate_dicts(spec)
    if args.components:
        from stagger.instance import compile_instance
        from stagger.solve.components import components

        estate = generate_week(spec) if args.week else generate(spec)
        inst = compile_instance(*estate)
        sizes = sorted(map(len, components(inst)), reverse=True)
        shown = ", ".join(f"{n:,}" for n in sizes[:10]) + (", ..." if len(sizes) > 10 else "")
        print(f"{len(sizes):,} components, largest first: {shown}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "topology.yaml").write_text(yaml.safe_dump(topo, sort_keys=False))
    (args.out / "policy.yaml").write_text(yaml.safe_dump(pol, sort_keys=False))
    print(f"wrote {args.out}/topology.yaml and policy.yaml ({len(topo['vms'])} VMs)")


if __name__ == "__main__":
    main()

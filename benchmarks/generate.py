"""Seeded synthetic vSphere estates for the scale benchmark.

    python -m benchmarks.generate --vms 10000 --regime balanced --out /tmp/est

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

Two regimes:
- ``datastore``: RAID groups (capacity 1) carry several times a host's load: they bound the
  makespan and hosts rarely matter;
- ``balanced``: RAID groups take 3 jobs at once and the VMs are spread over hosts and
  datastores as DRS and Storage DRS would (largest first onto the least loaded), so hosts,
  datastores and RAID groups carry similar loads and interact, which is what makes list
  scheduling lose a few percent.

The estate is built as plain Python data and validated by the pydantic models (``validate``);
``model_construct`` skips that for the largest sizes after a sample has been validated.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from stagger.model.policy import Policy
from stagger.model.topology import VM, Cluster, Datastore, Disk, Host, RaidGroup, Topology

Regime = Literal["datastore", "balanced"]
CycleKind = Literal["full", "incremental"]
REGIMES: tuple[Regime, ...] = ("datastore", "balanced")

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
        n_hosts = rng.randint(4, 16)
        host_vms = []
        for _ in range(n_hosts):
            k = _lognormal_int(rng, 15, 0.6, 1, 44)
            k = min(k, spec.vms - made - sum(host_vms))
            if k <= 0:
                break
            host_vms.append(k)
        hnames = [f"{cname}-esx{h:02d}" for h in range(len(host_vms))]
        hosts += [{"name": h, "cluster": cname} for h in hnames]
        n_vms = sum(host_vms)
        # Datastores of 5-20 VMs until every VM has a home disk.
        ds_cap: list[int] = []
        while sum(ds_cap) < n_vms:
            ds_cap.append(rng.randint(5, 20))
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
    args = ap.parse_args()
    topo, pol = generate_dicts(EstateSpec(args.vms, args.regime, args.cycle, args.seed))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "topology.yaml").write_text(yaml.safe_dump(topo, sort_keys=False))
    (args.out / "policy.yaml").write_text(yaml.safe_dump(pol, sort_keys=False))
    print(f"wrote {args.out}/topology.yaml and policy.yaml ({len(topo['vms'])} VMs)")


if __name__ == "__main__":
    main()

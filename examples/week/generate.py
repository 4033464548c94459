"""Regenerate the 7-night example estate (seeded, so the committed YAML is reproducible).

    python examples/week/generate.py

About 400 VMs on six clusters (two SQL clusters, two production clusters, a VDI cluster, a
legacy cluster), 24 ESXi hosts, 40 VMFS datastores on the ten parity groups of one array,
and a policy with four tiers: gold (application-consistent SQL, 22:00-04:00, pre/post
scripts, priority 1), files (filesystem-consistent file servers), legacy (powered off in a
Sunday maintenance window, fulls only) and default (weekly fulls staggered by the planner,
nightly incrementals).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
rng = random.Random(20261207)

# Cluster -> number of ESXi hosts.
clusters = {"SQL-A": 3, "SQL-B": 3, "PROD-A": 6, "PROD-B": 6, "VDI": 4, "LEGACY": 2}
hosts: list[tuple[str, str]] = []
for cluster, count in clusters.items():
    prefix = cluster.lower().replace("-", "")
    hosts += [(f"esx-{prefix}{i:02d}", cluster) for i in range(1, count + 1)]

# One array (a VSP with ten parity groups), four LUNs (VMFS datastores) per parity group.
parity_groups = {
    f"PG1-{g}": [f"vsp1-ds{4 * (g - 1) + k:02d}" for k in range(1, 5)] for g in range(1, 11)
}
datastores = [d for ds in parity_groups.values() for d in ds]
# Where each cluster's datastores are (SQL on parity groups of its own, as DBAs ask for).
cluster_datastores = {
    "SQL-A": parity_groups["PG1-1"] + parity_groups["PG1-2"],
    "SQL-B": parity_groups["PG1-3"] + parity_groups["PG1-4"],
    "PROD-A": parity_groups["PG1-5"] + parity_groups["PG1-6"],
    "PROD-B": parity_groups["PG1-7"] + parity_groups["PG1-8"],
    "VDI": parity_groups["PG1-9"],
    "LEGACY": parity_groups["PG1-10"],
}

# (role, count, median GiB, cluster, folder, tags)
roles: list[tuple[str, int, float, str, str, list[str]]] = [
    ("sqla", 20, 450, "SQL-A", "dc1/vm/prod/sql", ["sql", "Backup:gold"]),
    ("sqlb", 20, 450, "SQL-B", "dc1/vm/prod/sql", ["sql", "Backup:gold"]),
    ("fs", 12, 800, "PROD-A", "dc1/vm/prod/files", ["fileserver"]),
    ("app", 60, 120, "PROD-A", "dc1/vm/prod/app", []),
    ("erp", 8, 350, "PROD-A", "dc1/vm/prod/erp", []),
    ("pay", 4, 250, "PROD-A", "dc1/vm/prod/erp", ["payroll"]),
    ("web", 70, 60, "PROD-B", "dc1/vm/prod/web", []),
    ("mq", 10, 90, "PROD-B", "dc1/vm/prod/app", []),
    ("log", 12, 300, "PROD-B", "dc1/vm/infra/logging", []),
    ("dc", 6, 80, "PROD-B", "dc1/vm/infra/ad", []),
    ("mon", 8, 150, "PROD-B", "dc1/vm/infra/monitoring", []),
    ("ci", 16, 160, "PROD-B", "dc1/vm/dev/ci", []),
    ("vdi", 138, 40, "VDI", "dc1/vm/vdi/pool1", ["vdi"]),
    ("old", 16, 90, "LEGACY", "dc1/vm/legacy", ["legacy"]),
]


def size_gib(median: float) -> int:
    return int(max(20.0, round(median * math.exp(rng.gauss(0, 0.45)) / 10) * 10))


vms: list[dict[str, Any]] = []
for role, count, median, cluster, folder, tags in roles:
    pool = [h for h, c in hosts if c == cluster]
    stores = cluster_datastores[cluster]
    for k in range(1, count + 1):
        name = f"{role}{k:03d}"
        ds = rng.choice(stores)
        disks = [{"datastore": ds, "size_gib": size_gib(median * 0.4)}]
        if median >= 250:  # databases and file servers: a second (data) disk elsewhere
            other = rng.choice([d for d in stores if d != ds])
            disks.append({"datastore": other, "size_gib": size_gib(median * 0.6)})
        else:
            disks[0]["size_gib"] = size_gib(median)
        vm: dict[str, Any] = {"name": name, "host": rng.choice(pool), "folder": folder}
        if tags:
            vm["tags"] = list(tags)
        if role == "old":
            vm["power_state"] = "off" if k % 3 == 0 else "on"
        vm["disks"] = disks
        vms.append(vm)

# Real estates have these too: a SQL VM whose VMware Tools are outdated (the audit warns,
# VSS may fail), a VM with its own change rate, a template and an excluded scratch VM.
vms[3]["tools"] = "old"
next(v for v in vms if v["name"] == "log001")["change_rate"] = 0.15
vms.append(
    {
        "name": "tpl-win2022",
        "host": "esx-proda01",
        "template": True,
        "folder": "dc1/vm/templates",
        "disks": [{"datastore": "vsp1-ds17", "size_gib": 60}],
    }
)
vms.append(
    {
        "name": "scratch01",
        "host": "esx-prodb02",
        "exclude": True,
        "folder": "dc1/vm/dev",
        "tags": ["no-backup"],
        "disks": [{"datastore": "vsp1-ds25", "size_gib": 400}],
    }
)

topology = {
    "clusters": [{"name": c} for c in clusters],
    "hosts": [{"name": h, "cluster": c} for h, c in hosts],
    "datastores": [
        {"name": d, "naa": f"naa.60060e8012a3b5005040a3b5{i:08x}", "capacity_gib": 8192}
        for i, d in enumerate(datastores, 1)
    ],
    "raid_groups": [{"name": g, "datastores": ds} for g, ds in parity_groups.items()],
    "vms": vms,
}
header = (
    "# 7-night example estate for stagger (tiers). Generated by generate.py (seeded): edit"
    " generate.py and re-run it.\n"
)
(HERE / "topology.yaml").write_text(
    header + yaml.safe_dump(topology, sort_keys=False, width=110, default_flow_style=None)
)

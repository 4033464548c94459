"""A hostile-names estate: every name and tag is something an attacker who can create a VM
(or a host, cluster, datastore, RAID-group entry or tag) could choose.

``hostile_estate()`` returns a topology and policy that the planner schedules completely
except for one oversized VM (so every "not scheduled" header is exercised too). Import it
from any test: ``from tests.hostile import hostile_estate``.
Names are valid input (no control characters, which the models refuse at load): quotes of
every kind, shell / PowerShell / Bacula / cron / Markdown / HTML / Rich markup syntax, RTL
marks, 1,000-character names, spreadsheet formula prefixes, JavaScript prototype names,
names that differ only by case and names that are paths.
"""

from __future__ import annotations

from typing import Any

from stagger.model.policy import Policy
from stagger.model.topology import Topology

# A marker file the tests look for: if any export ever runs a name as code, it is created.
PWNED = "/tmp/stagger-pwned"

LONG = ("’$(id)'\"`;#>%<!--{{[/x]" * 60)[:1000]

VM_NAMES = [
    "o'brien app",
    '"double" quoted',
    "web’+$(New-Item C:/p)+’",
    "‘left’ ‚low‛ reversed",
    "“smart” „low double”",
    "`backtick` `n `$x",
    "$(id)",
    f"a; touch {PWNED} #",
    f"x & y | z > {PWNED}",
    f"'$(touch {PWNED})'",
    "# a comment",
    "#> Start-Process calc <#",
    "web 100%",
    "100%% %s %n",
    "a\\%b",
    "trailing backslash\\",
    "<script>alert(1)</script>",
    "</script><!--",
    "-->",
    "{{7*7}} {vm} ${HOME} $env:PATH",
    "abc\u202egnp.exe",
    "\u200fright-to-left",
    "[bold]bold[/bold]",
    "[/x]",
    "[link=https://example.org]x[/link]",
    LONG,
    "=1+1",
    "@SUM(A1)",
    "+1",
    "-1",
    "'=already quoted",
    "constructor",
    "__proto__",
    "toString",
    "hasOwnProperty",
    "Web01",
    "web01",
    "../../etc/cron.d/evil",
    "@/etc/passwd",
    '"; RunScript { Command = "id" }',
    "} Job { Name = x",
    "| md | pipe |",
    "*em* _u_ [l](javascript:alert(1))",
    "a\\|b",
    "BEGIN:VEVENT,x;y\\n",
    "日本語 💾\u2028line\u00a0nbsp",
]

HOSTS = [
    "esx’;$(id)",
    'esx"01',
    "esx#>",
    "esx [bold]",
    ("esx-" + LONG)[:1000],
    "=cmd|' /C calc'!A0",
]
CLUSTERS = ["cl</script>", "cl’+$(x)+’", "constructor"]
DATASTORES = ["ds%n", 'ds "x"', "ds\\", "[ds] {{x}}", "__proto__", ("ds-" + LONG)[:1000]]
RAID_GROUPS = ["rg#>", "rg’", "@rg"]
TAGS = ["[/x]", "$(id)", "#>", "=HYPERLINK(1)", "<b>"]
BLACKOUT = "patch’+$(id)+’ #> [/x] <!--"

# VMs whose stagger name was disambiguated: the backup software must see the real name.
DISAMBIGUATED = [
    {"name": "web01 (dc1/folder)", "display_name": "web01", "moref": "vm-101"},
    {"name": "web01 (dc2/folder)", "display_name": "web01", "moref": "vm-202"},
    {"name": "evil (vc/vm-7)", "display_name": "’+$(calc)+’ #>", "moref": "vm-7"},
]
OVERSIZED = "huge’+$(id)+’ #> [/x]"


def hostile_topology() -> Topology:
    clusters = [{"name": c} for c in CLUSTERS]
    hosts = [{"name": h, "cluster": CLUSTERS[i % len(CLUSTERS)]} for i, h in enumerate(HOSTS)]
    datastores = [{"name": d} for d in DATASTORES]
    raid_groups = [
        {"name": rg, "datastores": DATASTORES[2 * i : 2 * i + 2]}
        for i, rg in enumerate(RAID_GROUPS)
    ]
    vms: list[dict[str, Any]] = []
    for i, name in enumerate(VM_NAMES):
        vms.append(
            {
                "name": name,
                "host": HOSTS[i % len(HOSTS)],
                "tags": [TAGS[i % len(TAGS)]],
                "moref": f"vm-{1000 + i}",
                "vcenter": "vc01.example.org",
                "disks": [
                    {"datastore": DATASTORES[i % len(DATASTORES)], "size_gib": 10 + i % 7},
                    # Every third VM spans two datastores (and so often two RAID groups).
                    *(
                        [{"datastore": DATASTORES[(i + 3) % len(DATASTORES)], "size_gib": 5}]
                        if i % 3 == 0
                        else []
                    ),
                ],
            }
        )
    for i, extra in enumerate(DISAMBIGUATED):
        vms.append(
            {
                **extra,
                "host": HOSTS[i],
                "vcenter": "vc01.example.org",
                "disks": [{"datastore": DATASTORES[i], "size_gib": 12}],
            }
        )
    huge = [{"datastore": DATASTORES[0], "size_gib": 90000}]
    vms.append({"name": OVERSIZED, "host": HOSTS[0], "disks": huge})
    return Topology.model_validate(
        {
            "clusters": clusters,
            "hosts": hosts,
            "datastores": datastores,
            "raid_groups": raid_groups,
            "vms": vms,
        }
    )


def hostile_policy(nights: int = 1) -> Policy:
    return Policy.model_validate(
        {
            "timezone": "Europe/Berlin",
            "cycle": {"start": "2026-12-01", "nights": nights},
            "window": {"start": "20:00", "end": "06:00"},
            "slot_minutes": 5,
            "throughput": {"mb_per_s": 200, "overhead_minutes": 5},
            "limits": {"per_host": 2, "per_datastore": 2, "per_raid_group": 2},
            "blackouts": [
                {
                    "name": BLACKOUT,
                    "scope": {"host": HOSTS[1]},
                    "start": "2026-12-01T23:00",
                    "end": "2026-12-02T00:00",
                }
            ],
        }
    )


def hostile_estate(nights: int = 1) -> tuple[Topology, Policy]:
    return hostile_topology(), hostile_policy(nights)


def all_names() -> list[str]:
    """Every hostile name and tag in the estate."""
    return [
        *VM_NAMES,
        *HOSTS,
        *CLUSTERS,
        *DATASTORES,
        *RAID_GROUPS,
        *TAGS,
        BLACKOUT,
        OVERSIZED,
        *(d["name"] for d in DISAMBIGUATED),
        *(d["display_name"] for d in DISAMBIGUATED),
    ]

"""RAID groups from the storage side: a mapping file applied to a topology.

vSphere does not know RAID groups. The admin supplies ``raid group -> naa ids or datastore
names`` (shell-style globs allowed: ``naa.600a0b80005ad100*``, ``PROD-VMFS-*``) as YAML::

    raid_groups:
      RG-A: [naa.600a0b80005ad10000000000000010*, "LEGACY-DS"]
      RG-B:
        members: ["DC1-VMFS-0[1-3]"]
        max_jobs: 2

or as CSV with a header ``raid_group,member`` (one member a row; ``#`` lines ignored).

A member starting with ``naa.``/``eui.``/``t10.`` is matched against the datastores' extent
ids (any extent matches), anything else against datastore names. A datastore matched by two
RAID groups is an error. Datastores that no entry matches are *unmapped*: they stay without a
RAID group, so only the datastore and host limits apply to them; they are reported.
"""

from __future__ import annotations

import csv
import fnmatch
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stagger.errors import InputError
from stagger.model.topology import RaidGroup, Topology
from stagger.sources.yamlfile import read_text

_LUN_PREFIXES = ("naa.", "eui.", "t10.", "mpx.")


@dataclass
class RaidEntry:
    name: str
    members: list[str]
    max_jobs: int | None = None


@dataclass
class RaidMapResult:
    topology: Topology
    mapped: dict[str, str] = field(default_factory=dict)
    """datastore -> raid group"""
    unmapped: list[str] = field(default_factory=list)
    unused_members: list[str] = field(default_factory=list)
    """``group: member`` patterns that matched no datastore."""


def _is_lun(member: str) -> bool:
    return member.lower().startswith(_LUN_PREFIXES)


def load_raid_map(path: str | Path) -> list[RaidEntry]:
    p = Path(path)
    text = read_text(p, encoding="utf-8-sig")  # Excel writes CSV with a BOM
    if p.suffix.lower() == ".csv":
        return parse_raid_csv(text, str(p))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {str(exc).splitlines()[0]}", file=str(p)) from None
    return parse_raid_yaml(data, str(p))


def parse_raid_yaml(data: Any, file: str) -> list[RaidEntry]:
    if isinstance(data, dict) and "raid_groups" in data:
        data = data["raid_groups"]
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping 'raid_groups: {GROUP: [members]}'", file=file)
    out: list[RaidEntry] = []
    for name, spec in data.items():
        obj = f"raid_group '{name}'"
        max_jobs = None
        if isinstance(spec, dict):
            unknown = set(spec) - {"members", "max_jobs"}
            if unknown:
                raise InputError("unknown field", file=file, obj=obj, field=sorted(unknown)[0])
            max_jobs = spec.get("max_jobs")
            if max_jobs is not None and (not isinstance(max_jobs, int) or max_jobs < 1):
                raise InputError(
                    "must be a whole number >= 1", file=file, obj=obj, field="max_jobs"
                )
            spec = spec.get("members")
        if isinstance(spec, str):
            spec = [spec]
        if (
            not isinstance(spec, list)
            or not spec
            or not all(isinstance(m, str) and m for m in spec)
        ):
            raise InputError(
                "expected a non-empty list of naa ids or datastore names",
                file=file,
                obj=obj,
                field="members",
            )
        out.append(RaidEntry(str(name), [m.strip() for m in spec], max_jobs))
    return out


def parse_raid_csv(text: str, file: str) -> list[RaidEntry]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    rows = list(reader)
    if not rows:
        raise InputError("file is empty", file=file)
    head = [h.strip().lower().replace(" ", "_") for h in rows[0]]
    if "raid_group" not in head or "member" not in head:
        raise InputError("expected a header 'raid_group,member'", file=file)
    gi, mi = head.index("raid_group"), head.index("member")
    groups: dict[str, list[str]] = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) <= max(gi, mi) or not row[gi].strip() or not row[mi].strip():
            raise InputError("needs a raid_group and a member", file=file, obj=f"row {n}")
        groups.setdefault(row[gi].strip(), []).append(row[mi].strip())
    return [RaidEntry(g, m) for g, m in groups.items()]


def apply_raid_map(
    topology: Topology, entries: list[RaidEntry], file: str = "raid map"
) -> RaidMapResult:
    """A copy of ``topology`` with ``raid_groups`` from the map (replacing existing ones)."""
    mapped: dict[str, str] = {}
    members_of: dict[str, list[str]] = {e.name: [] for e in entries}
    unused: list[str] = []
    for e in entries:
        for member in e.members:
            hit = False
            for ds in topology.datastores:
                if _is_lun(member):
                    ids = [x.lower() for x in ([ds.naa] if ds.naa else []) + ds.extents]
                    ok = any(fnmatch.fnmatchcase(x, member.lower()) for x in ids)
                else:
                    ok = fnmatch.fnmatchcase(ds.name, member)
                if not ok:
                    continue
                hit = True
                if ds.name in mapped and mapped[ds.name] != e.name:
                    raise InputError(
                        f"datastore '{ds.name}' matched by raid groups '{mapped[ds.name]}' and "
                        f"'{e.name}' (member '{member}')",
                        file=file,
                        obj=f"raid_group '{e.name}'",
                    )
                if ds.name not in mapped:
                    mapped[ds.name] = e.name
                    members_of[e.name].append(ds.name)
            if not hit:
                unused.append(f"{e.name}: {member}")
    groups = [
        RaidGroup(name=e.name, datastores=members_of[e.name], max_jobs=e.max_jobs)
        for e in entries
        if members_of[e.name]
    ]
    topo = topology.model_copy(update={"raid_groups": groups})
    topo = Topology.model_validate(topo.model_dump())
    unmapped = [d.name for d in topology.datastores if d.name not in mapped]
    return RaidMapResult(topology=topo, mapped=mapped, unmapped=unmapped, unused_members=unused)


def apply_raid_map_file(topology: Topology, path: str | Path) -> RaidMapResult:
    return apply_raid_map(topology, load_raid_map(path), str(path))

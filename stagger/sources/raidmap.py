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
import difflib
import fnmatch
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stagger.errors import InputError, shown
from stagger.model.text import no_control_chars
from stagger.model.topology import MAX_JOBS_LIMIT, RaidGroup, Topology
from stagger.sources.reading import StrictLoader, check_shape, read_text

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
        data = yaml.load(text, Loader=StrictLoader)  # StrictLoader is a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"not valid YAML: {problem}{where}", file=str(p)) from None
    check_shape(data, str(p))
    return parse_raid_yaml(data, str(p))


def _checked(text: str, file: str, obj: str, field: str) -> str:
    """``text`` if it holds no control character, else a one-line InputError."""
    try:
        return no_control_chars(text)
    except ValueError as exc:
        raise InputError(str(exc), file=file, obj=obj, field=field) from None


def parse_raid_yaml(data: Any, file: str) -> list[RaidEntry]:
    if isinstance(data, dict) and "raid_groups" in data:
        data = data["raid_groups"]
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping 'raid_groups: {GROUP: [members]}'", file=file)
    out: list[RaidEntry] = []
    for name, spec in data.items():
        obj = f"raid_group {shown(name)}"
        if not isinstance(name, str | int) or isinstance(name, bool) or not str(name).strip():
            raise InputError("a RAID group name must be a non-empty text", file=file, obj=obj)
        _checked(str(name), file, obj, "name")
        if any(e.name == str(name) for e in out):
            raise InputError("RAID group named twice", file=file, obj=obj)
        max_jobs = None
        if isinstance(spec, dict):
            unknown = sorted(map(str, set(spec) - {"members", "max_jobs"}))
            if unknown:
                guess = difflib.get_close_matches(unknown[0], ["members", "max_jobs"], n=1)
                hint = f" (did you mean {shown(guess[0])}?)" if guess else ""
                raise InputError(f"unknown field {shown(unknown[0])} in {obj}{hint}", file=file)
            max_jobs = spec.get("max_jobs")
            if max_jobs is not None and (
                not isinstance(max_jobs, int)
                or isinstance(max_jobs, bool)
                or not 1 <= max_jobs <= MAX_JOBS_LIMIT
            ):
                raise InputError(
                    f"must be a whole number from 1 to {MAX_JOBS_LIMIT}",
                    file=file,
                    obj=obj,
                    field="max_jobs",
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
        members = [_checked(m.strip(), file, obj, "members") for m in spec]
        out.append(RaidEntry(str(name), members, max_jobs))
    return out


def parse_raid_csv(text: str, file: str) -> list[RaidEntry]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    try:
        rows = list(reader)
    except csv.Error as exc:  # a NUL byte, a field over the csv module's size limit
        raise InputError(f"not valid CSV: {exc}", file=file) from None
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
        group = _checked(row[gi].strip(), file, f"row {n}", "raid_group")
        member = _checked(row[mi].strip(), file, f"row {n}", "member")
        groups.setdefault(group, []).append(member)
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
                        f"datastore {shown(ds.name)} matched by raid groups "
                        f"{shown(mapped[ds.name])} and {shown(e.name)} (member {shown(member)})",
                        file=file,
                        obj=f"raid_group {shown(e.name)}",
                    )
                if ds.name not in mapped:
                    mapped[ds.name] = e.name
                    members_of[e.name].append(ds.name)
            if not hit:
                unused.append(f"{e.name}: {member}")
    try:
        groups = [
            RaidGroup(name=e.name, datastores=members_of[e.name], max_jobs=e.max_jobs)
            for e in entries
            if members_of[e.name]
        ]
        topo = topology.model_copy(update={"raid_groups": groups})
        topo = Topology.model_validate(topo.model_dump())
    except ValidationError as exc:  # entries built by a caller, not by load_raid_map
        err = exc.errors()[0]
        raise InputError(str(err["msg"]).removeprefix("Value error, "), file=file) from None
    unmapped = [d.name for d in topology.datastores if d.name not in mapped]
    return RaidMapResult(topology=topo, mapped=mapped, unmapped=unmapped, unused_members=unused)


def apply_raid_map_file(topology: Topology, path: str | Path) -> RaidMapResult:
    return apply_raid_map(topology, load_raid_map(path), str(path))

"""Read topology, policy and schedule files (YAML or JSON) into models, with one-line errors.

Every failure becomes an :class:`InputError` naming the file, the object (``vm 'sql01'``,
``blackout 'payroll'``) and the field (``disks[1].size_gib``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from stagger.errors import InputError
from stagger.model.policy import Blackout, Policy
from stagger.model.schedule import SCHEMA_VERSION, Schedule
from stagger.model.topology import ReferenceProblem, Topology

M = TypeVar("M", bound=BaseModel)

# Singular object names for the lists of a topology/policy/schedule file.
_SINGULAR = {
    "clusters": "cluster",
    "hosts": "host",
    "datastores": "datastore",
    "raid_groups": "raid_group",
    "vms": "vm",
    "blackouts": "blackout",
    "jobs": "job",
    "unscheduled": "unscheduled vm",
    "nights": "night",
}


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """A file's text, or an InputError naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding=encoding)
    except FileNotFoundError:
        raise InputError("file not found", file=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(p)) from None


def read_data(path: str | Path) -> Any:
    p = Path(path)
    text = read_text(p)
    try:
        if p.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno}", file=str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"not valid YAML: {problem}{where}", file=str(p)) from None


def _describe_loc(data: Any, loc: tuple[int | str, ...]) -> tuple[str | None, str | None]:
    """Map a pydantic error location to (object, field) in admin words."""
    # Union members show up as location parts ("Scope", "literal['global']"): drop them.
    parts = [p for p in loc if not (isinstance(p, str) and (p[:1].isupper() or "[" in p))]
    obj: str | None = None
    node = data
    i = 0
    while i < len(parts):
        key = parts[i]
        if (
            isinstance(key, str)
            and key in _SINGULAR
            and i + 1 < len(parts)
            and isinstance(parts[i + 1], int)
        ):
            idx = int(parts[i + 1])
            seq = node.get(key) if isinstance(node, dict) else None
            item = seq[idx] if isinstance(seq, list) and idx < len(seq) else None
            name = item.get("name") or item.get("vm") if isinstance(item, dict) else None
            obj = f"{_SINGULAR[key]} '{name}'" if name else f"{key}[{idx}]"
            node = item
            i += 2
            continue
        break
    rest = parts[i:]
    field = ""
    for p in rest:
        field += f"[{p}]" if isinstance(p, int) else (f".{p}" if field else str(p))
    if obj is None and rest:
        obj = str(rest[0])
        field = field[len(str(rest[0])) :].lstrip(".") or str(rest[0])
    return obj, field or None


def _reference_problem(exc: ValidationError) -> ReferenceProblem | None:
    for err in exc.errors():
        found = (err.get("ctx") or {}).get("error")
        if isinstance(found, ReferenceProblem):
            return found
    return None


def parse_model(model: type[M], data: Any, file: str) -> M:
    """Validate ``data`` as ``model``; raise one InputError naming file, object and field."""
    if data is None:
        raise InputError("file is empty", file=file)
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping at the top, got {type(data).__name__}", file=file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        ref = _reference_problem(exc)
        if ref is not None:
            raise InputError(ref.message, file=file, obj=ref.obj, field=ref.field) from None
        errors = exc.errors()
        # Prefer an error outside union alternatives' noise (e.g. scope: global | {...}).
        err = next((e for e in errors if e["type"] != "literal_error"), errors[0])
        obj, field = _describe_loc(data, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise InputError(msg, file=file, obj=obj, field=field) from None


def load_topology(path: str | Path) -> Topology:
    return parse_model(Topology, read_data(path), str(path))


def load_policy(path: str | Path) -> Policy:
    return parse_model(Policy, read_data(path), str(path))


class BlackoutFile(BaseModel):
    """A file of extra blackouts (``stagger busy-hours`` writes one): merged into the policy."""

    model_config = ConfigDict(extra="forbid")
    timezone: str | None = None
    """The zone the RRULEs were computed in; must be the policy's when given."""
    blackouts: list[Blackout] = []


def load_blackouts(path: str | Path) -> BlackoutFile:
    return parse_model(BlackoutFile, read_data(path), str(path))


def add_blackouts(policy: Policy, files: Sequence[str | Path]) -> Policy:
    """The policy with every blackout of ``files`` appended (zones and names checked)."""
    merged = list(policy.blackouts)
    origin = {str(b.name): "the policy" for b in merged}
    for f in files:
        extra = load_blackouts(f)
        if extra.timezone is not None and extra.timezone != policy.timezone:
            raise InputError(
                f"blackouts were computed for time zone {extra.timezone!r}, the policy uses"
                f" {policy.timezone!r} (re-run busy-hours with --timezone {policy.timezone})",
                file=str(f),
                field="timezone",
            )
        for b in extra.blackouts:
            if str(b.name) in origin:
                raise InputError(
                    f"duplicate blackout name (also in {origin[str(b.name)]})",
                    file=str(f),
                    obj=f"blackout {str(b.name)!r}",
                    field="name",
                )
            origin[str(b.name)] = str(f)
            merged.append(b)
    return policy.model_copy(update={"blackouts": merged})


def load_inputs(
    topology_path: str | Path,
    policy_path: str | Path,
    raid_map: str | Path | None = None,
    blackouts: Sequence[str | Path] = (),
) -> tuple[Topology, Policy]:
    """Both planning inputs, with the RAID map applied (if any), the blackouts of the
    ``blackouts`` files added to the policy and its references into the estate checked."""
    return with_policy(load_topology(topology_path), policy_path, raid_map, blackouts)


def with_policy(
    topology: Topology,
    policy_path: str | Path,
    raid_map: str | Path | None = None,
    blackouts: Sequence[str | Path] = (),
) -> tuple[Topology, Policy]:
    """A topology from any source, its RAID map applied, and the policy (plus the blackouts
    of the ``blackouts`` files) checked against it."""
    from stagger.scope import check_scopes
    from stagger.sources.raidmap import apply_raid_map_file

    if raid_map is not None:
        topology = apply_raid_map_file(topology, raid_map).topology
    policy = load_policy(policy_path)
    try:
        check_scopes(policy, topology)
    except InputError as exc:
        exc.file = str(policy_path)
        raise
    for f in blackouts:
        # Checked file by file so that an unknown host names the file it came from.
        own = policy.model_copy(update={"blackouts": load_blackouts(f).blackouts})
        try:
            check_scopes(own, topology)
        except InputError as exc:
            exc.file = str(f)
            raise
    return topology, add_blackouts(policy, blackouts)


def load_schedule(path: str | Path) -> Schedule:
    data = read_data(path)
    if isinstance(data, dict) and data.get("schema_version") != SCHEMA_VERSION:
        raise InputError(
            f"not a stagger schedule of version '{SCHEMA_VERSION}'"
            f" (schema_version is {data.get('schema_version')!r})",
            file=str(path),
            obj="schedule",
            field="schema_version",
        )
    return parse_model(Schedule, data, str(path))


def dump_yaml(model: BaseModel) -> str:
    """A topology or policy as YAML, without empty defaults, ready to edit or plan."""
    data = model.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)

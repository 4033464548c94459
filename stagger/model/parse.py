"""Validate plain data as a model, with every problem as one line naming file, object, field.

The one translation of pydantic's errors into admin words (``vm 'sql01'``,
``disks[0].size_gib``, "did you mean"), used by every loader and by what-if when it rebuilds
a changed estate.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from stagger.errors import InputError, shown
from stagger.model.topology import ReferenceProblem

MAX_NESTING = 64
"""Deepest nesting of lists/mappings accepted; stagger's own files need fewer than 10."""

M = TypeVar("M", bound=BaseModel)

# Singular object names for the lists of a topology/policy/schedule file.
_SINGULAR = {
    "clusters": "cluster",
    "hosts": "host",
    "datastores": "datastore",
    "raid_groups": "raid_group",
    "vms": "vm",
    "blackouts": "blackout",
    "tiers": "tier",
    "jobs": "job",
    "unscheduled": "unscheduled vm",
    "nights": "night",
    "proxies": "proxy",
    "repositories": "repository",
}


def _is_union_tag(part: int | str) -> bool:
    # pydantic names union members in error locations: "Scope", "literal['global']".
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def _name_of(item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    return item.get("name") or item.get("vm")


def _describe_loc(data: Any, loc: tuple[int | str, ...]) -> tuple[str | None, str | None]:
    """Map a pydantic error location to (object, field) in admin words.

    ``('vms', 3, 'disks', 0, 'size_gib')`` becomes ``("vm 'sql01'", "disks[0].size_gib")``;
    in a schedule, ``('inputs', 'topology', 'vms', 3, ...)`` names ``inputs.topology: vm ...``.
    """
    parts = [p for p in loc if not _is_union_tag(p)]
    obj: str | None = None
    node = data
    prefix: list[str] = []
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
            item = seq[idx] if isinstance(seq, list) and 0 <= idx < len(seq) else None
            name = _name_of(item)
            obj = f"{_SINGULAR[key]} {shown(name)}" if name else f"{key}[{idx}]"
            if prefix:
                obj = f"{'.'.join(prefix)}: {obj}"
            node = item
            i += 2
            break
        # Walk into nested mappings (a schedule's inputs.topology) looking for a named list.
        nxt = node.get(key) if isinstance(node, dict) and isinstance(key, str) else None
        if isinstance(nxt, dict) and i + 1 < len(parts):
            prefix.append(str(key))
            node = nxt
            i += 1
            continue
        break
    if obj is None:
        i, prefix = 0, []
    rest = parts[i:]
    field = ""
    for p in rest:
        field += f"[{p}]" if isinstance(p, int) else (f".{p}" if field else str(p))
    if obj is None and len(rest) > 1:
        obj = str(rest[0])
        field = field[len(str(rest[0])) :].lstrip(".")
    return obj, field or None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``list[X]``, ``X | None``, ``Literal[...] | X``..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model found at ``loc`` (for "did you mean" suggestions)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int) or part not in current.model_fields:
            continue  # list index or union member tag
        current = _model_in(current.model_fields[part].annotation)
    return list(current.model_fields) if current is not None else []


def _reference_problems(exc: ValidationError) -> tuple[str, list[ReferenceProblem]]:
    """The topology's cross-reference problems, and where that topology sits in the file
    (``inputs.topology`` in a schedule; empty at the top of a topology file)."""
    for err in exc.errors():
        found = (err.get("ctx") or {}).get("error")
        if isinstance(found, ReferenceProblem):
            where = ".".join(str(p) for p in err["loc"] if not _is_union_tag(p))
            return where, [found, *found.others]
    return "", []


def _value_at(data: Any, parts: list[int | str]) -> Any:
    node = data
    for p in parts:
        in_map = isinstance(node, dict) and p in node
        in_list = isinstance(node, list) and isinstance(p, int) and 0 <= p < len(node)
        if in_map or in_list:
            node = node[p]
        else:
            return None
    return node


def _drop_union_noise(data: Any, errors: list[Any]) -> list[Any]:
    """Keep the errors of the union member the input was meant for.

    ``scope: global | {host: ...}``: for a mapping, "should be 'global'" is noise; for a
    string, "should be a valid dictionary" is.
    """

    def split(e: Any) -> tuple[tuple[int | str, ...], bool] | None:
        loc = tuple(e["loc"])
        tags = [n for n, p in enumerate(loc) if _is_union_tag(p)]
        if not tags:
            return None
        return loc[: tags[-1]], "literal[" in str(loc[tags[-1]])

    keyed = [(e, split(e)) for e in errors]
    keep = []
    for e, key in keyed:
        if key is None:
            keep.append(e)
            continue
        base, literal = key
        wanted = isinstance(_value_at(data, [p for p in base if not _is_union_tag(p)]), str)
        has_wanted = any(k is not None and k[0] == base and k[1] == wanted for _, k in keyed)
        if literal == wanted or not has_wanted:
            keep.append(e)
    return keep or errors


def _problem(model: type[BaseModel], data: Any, err: Any, file: str) -> InputError:
    loc = tuple(err["loc"])
    obj, field = _describe_loc(data, loc)
    if err["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        where_obj, where_field = _describe_loc(data, loc[:-1])
        where = ", ".join(x for x in (where_obj, where_field) if x)
        guess = difflib.get_close_matches(key, _fields_at(model, loc[:-1]), n=1, cutoff=0.6)
        hint = f" (did you mean {shown(guess[0])}?)" if guess else ""
        inside = f" in {where}" if where else ""
        return InputError(f"unknown field {shown(key)}{inside}{hint}", file=file)
    msg = str(err["msg"]).removeprefix("Value error, ")
    return InputError(msg, file=file, obj=obj, field=field)


def parse_model(model: type[M], data: Any, file: str) -> M:
    """Validate ``data`` as ``model``; raise an InputError naming file, object and field of
    every problem (unknown fields first: a misspelt key also makes a field "required")."""
    if data is None:
        raise InputError("file is empty", file=file)
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping at the top, got {type(data).__name__}", file=file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where, refs = _reference_problems(exc)
        if refs:
            found = [
                InputError(
                    r.message, file=file, obj=f"{where}: {r.obj}" if where else r.obj, field=r.field
                )
                for r in refs
            ]
        else:
            errors = sorted(
                _drop_union_noise(data, exc.errors()),
                key=lambda e: 0 if e["type"] == "extra_forbidden" else 1,
            )
            found = []
            seen: set[str] = set()
            for err in errors:
                problem = _problem(model, data, err, file)
                if str(problem) not in seen:
                    seen.add(str(problem))
                    found.append(problem)
        first = found[0]
        first.more = found[1:]
        raise first from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_NESTING} levels", file=file) from None

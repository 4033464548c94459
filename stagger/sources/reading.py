"""Bounded, safe reading of input files: the one place a file's bytes become data.

Inputs are bounded before they are trusted: file size (``STAGGER_MAX_INPUT_MB``), nesting
depth, and what YAML aliases expand to (billion laughs); YAML is read by a safe loader that
refuses duplicate keys. Every loader of a YAML/JSON/CSV file (yamlfile, raidmap, ...) reads
through here, so none of them needs another loader.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from stagger.errors import InputError, shown
from stagger.model.parse import MAX_NESTING

MAX_INPUT_MB_ENV = "STAGGER_MAX_INPUT_MB"
DEFAULT_MAX_INPUT_MB = 64.0
"""Largest input file read, in MiB (a 50,000-VM topology is about 8 MiB of YAML)."""
_ALIAS_FACTOR = 10
_ALIAS_SLACK = 100_000
"""Aliases may expand a document to at most 10x its distinct nodes plus 100,000."""


def max_input_bytes() -> int:
    """The size limit for input files: ``$STAGGER_MAX_INPUT_MB`` MiB, default 64."""
    raw = os.environ.get(MAX_INPUT_MB_ENV, "").strip()
    if not raw:
        return int(DEFAULT_MAX_INPUT_MB * 1024 * 1024)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not (0 < mb < 1e7):
        raise InputError(
            f"must be a positive number of MiB, got {shown(raw)}", field=MAX_INPUT_MB_ENV
        )
    return int(mb * 1024 * 1024)


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, refused past the size limit (read bounded: /dev/zero cannot hang it)."""
    p = Path(path)
    limit = max_input_bytes()
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise InputError("file not found", file=str(p)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", file=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
    if len(data) > limit:
        raise InputError(
            f"file is larger than {limit:,} bytes; raise {MAX_INPUT_MB_ENV} (MiB) to read it",
            file=str(p),
        )
    return data


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """A file's text (size-limited), or an InputError naming it."""
    data = read_bytes(path)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not {encoding} text: byte {exc.object[exc.start]:#04x} at offset {exc.start}",
            file=str(path),
        ) from None


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The C (libyaml) loader when PyYAML was built with it: ~10x faster than the pure one."""


class StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe YAML (no ``!!python/*`` tags) that also refuses duplicate keys and turns every
    value it cannot construct (``!!timestamp 2001-12-14x``, a 5,000-digit integer) into a
    YAML error with its line instead of a Python exception."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, KeyError) as exc:
            value = node.value if isinstance(node.value, str) else ""
            # ValueError/OverflowError say why (a 5,000-digit integer); the others are
            # PyYAML internals failing on a malformed value (`!!timestamp 2001-12-14x`).
            why = f" ({_first_line(exc)})" if isinstance(exc, ValueError | OverflowError) else ""
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"cannot read the value {shown(value)} as {node.tag.rsplit(':', 1)[-1]}{why}",
                node.start_mark,
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        if not isinstance(node, yaml.MappingNode):
            # `!!set [a, b]`: PyYAML refuses it with a ConstructorError; the duplicate-key
            # scan below would fail on it first with a TypeError.
            return super().construct_mapping(node, deep)
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {shown(key_node.value)} (first at line {seen[key] + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _first_line(exc: BaseException) -> str:
    text = str(exc).split(";")[0].strip()
    return text.splitlines()[0] if text else type(exc).__name__


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_shape(data: Any, file: str) -> None:
    """Refuse nesting deeper than :data:`MAX_NESTING`, recursive aliases, aliases that
    expand to far more nodes than the file holds (billion laughs), and lone surrogates
    (JSON ``"\ud800"``: no UTF-8 output could hold them).

    One pass over the distinct containers (iterative, so no recursion limit), memoised by
    identity: a node shared through aliases is visited once but counted at every use.
    """
    expanded: dict[int, int] = {}
    depth_of: dict[int, int] = {}
    distinct = 0
    on_stack: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise InputError(
                    f"holds an unpaired surrogate in {shown(node)}: not valid Unicode", file=file
                )
            continue
        if not isinstance(node, dict | list | tuple | set):
            continue
        key = id(node)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        if done:
            on_stack.discard(key)
            size, depth = 1, 1
            for child in children:
                if isinstance(child, dict | list | tuple | set):
                    size += expanded[id(child)]
                    depth = max(depth, depth_of[id(child)] + 1)
                else:
                    size += 1
            expanded[key], depth_of[key] = size, depth
            if depth > MAX_NESTING:
                raise InputError(f"nested deeper than {MAX_NESTING} levels", file=file)
            continue
        if key in expanded:
            continue
        if key in on_stack:
            raise InputError("a YAML alias refers to itself (recursive structure)", file=file)
        on_stack.add(key)
        distinct += 1 + len(children)
        stack.append((node, True))
        for child in children:
            if isinstance(child, str):
                stack.append((child, False))
            elif isinstance(child, dict | list | tuple | set) and id(child) not in expanded:
                if id(child) in on_stack:
                    raise InputError(
                        "a YAML alias refers to itself (recursive structure)", file=file
                    )
                stack.append((child, False))
        if len(on_stack) > MAX_NESTING + 1:
            raise InputError(f"nested deeper than {MAX_NESTING} levels", file=file)
    total = expanded.get(id(data), 1)
    if total > _ALIAS_FACTOR * distinct + _ALIAS_SLACK:
        raise InputError(
            f"YAML aliases expand {distinct:,} nodes to {total:,}; refused (billion laughs?)",
            file=file,
        )


def read_data(path: str | Path) -> Any:
    """The parsed content of a YAML or JSON file, bounded and checked for shape."""
    p = Path(path)
    text = read_text(p)
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=StrictLoader)  # StrictLoader is a safe loader
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno}", file=str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"not valid YAML: {problem}{where}", file=str(p)) from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_NESTING} levels", file=str(p)) from None
    except (ValueError, OverflowError) as exc:  # json: a 5,000-digit integer
        raise InputError(f"not valid JSON: {_first_line(exc)}", file=str(p)) from None
    check_shape(data, str(p))
    return data

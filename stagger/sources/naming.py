"""Make display names unique without ever merging two objects.

vSphere display names are unique only per folder: two VMs (or datastores, hosts) may share a
name across folders, datacenters or vCenters. Inventory sources key objects by their id and
call :func:`unique_names` before writing a topology.

The rule: a name used by one object stays as it is. When several objects share a name, *every*
one of them is renamed ``name (qualifier)``, with the first qualifier level that tells all of
them apart (for VMs: datacenter, datacenter/folder, vCenter/datacenter/folder, id). If a
renamed object would clash with another name, `` #2``, `` #3`` ... are appended.
The result depends only on the inputs, not on their order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Named:
    name: str
    key: str
    """A stable, unique id (VM moref or UUID plus vCenter); also the last qualifier."""
    qualifiers: tuple[str | None, ...] = ()
    """Candidate qualifiers, most readable first, e.g. (datacenter, folder path, vcenter)."""


def unique_names(items: Sequence[Named]) -> list[str]:
    """One unique name per item, in the items' order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[it.name].append(i)
    out = [it.name for it in items]
    taken = {name for name, idx in groups.items() if len(idx) == 1}
    for name, idx in sorted(groups.items()):
        if len(idx) == 1:
            continue
        members = sorted(idx, key=lambda i: items[i].key)
        levels = max(len(items[i].qualifiers) for i in members)
        chosen: list[str] | None = None
        for level in range(levels):
            quals = [
                items[i].qualifiers[level] if level < len(items[i].qualifiers) else None
                for i in members
            ]
            if all(quals) and len(set(quals)) == len(quals):
                chosen = [str(q) for q in quals]
                break
        if chosen is None:
            keys = [items[i].key for i in members]
            chosen = keys if len(set(keys)) == len(keys) else [str(n + 1) for n in range(len(keys))]
        for i, q in zip(members, chosen, strict=True):
            candidate = f"{name} ({q})"
            n = 2
            while candidate in taken:
                candidate = f"{name} ({q}) #{n}"
                n += 1
            taken.add(candidate)
            out[i] = candidate
    return out

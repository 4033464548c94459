"""Effective capacity: how many of a resource's jobs can run at once, given the others.

A RAID group that takes 3 jobs at once whose jobs sit on two datastores that take one each
never runs more than 2: every bound that divides a load by a capacity may use 2. The most of
a resource's jobs that can run at once is at most the value of a maximum flow

    source -> host (its capacity) -> datastore in -> datastore out (its capacity)
           -> RAID group (its capacity) -> sink

with one unit of flow per job along its host, its first datastore and its first RAID group
(an arc host -> datastore of capacity the number of such jobs). Why it is an upper bound: a
set of jobs running at once respects every capacity, so routing each of them along its own
path is a flow of that many units; the network drops the constraints of a job's other
datastores and RAID groups (a relaxation, so the flow can only be larger). The global task
slots (``concurrent_jobs``) cap the result directly.
"""

from __future__ import annotations

import numpy as np
from ortools.graph.python import max_flow

from stagger.instance import Instance


def _path(inst: Instance, j: int) -> tuple[int, int, int, int]:
    """(host, first datastore, first RAID group, task slots) resource indices of job j; -1
    where the job has none."""
    host = ds = group = conc = -1
    for r in inst.jobs[j].resources:
        kind = inst.resources[r].kind
        if kind == "host" and host < 0:
            host = r
        elif kind == "datastore" and ds < 0:
            ds = r
        elif kind == "raid_group" and group < 0:
            group = r
        elif kind == "concurrent":
            conc = r
    return host, ds, group, conc


def max_running(inst: Instance, members: list[int]) -> int:
    """An upper bound on how many of the jobs ``members`` can run at the same time (see the
    module doc): a maximum flow over their hosts, datastores and RAID groups."""
    n = len(members)
    if n <= 1:
        return n
    paths = [_path(inst, j) for j in members]

    def cap(r: int) -> int:
        c = inst.resources[r].capacity
        return min(c, n) if c else n

    # Node numbering: 0 source, 1 sink, then one node per (resource, role).
    nodes: dict[tuple[str, int], int] = {}

    def node(role: str, r: int) -> int:
        key = (role, r)
        if key not in nodes:
            nodes[key] = len(nodes) + 2
        return nodes[key]

    arcs: dict[tuple[int, int], int] = {}

    def arc(a: int, b: int, c: int, *, add: bool = False) -> None:
        arcs[(a, b)] = arcs.get((a, b), 0) + c if add else c

    for host, ds, group, _ in paths:
        tail = 0  # the source: no earlier layer limits this job
        if host >= 0:
            tail = node("h", host)
            arc(0, tail, cap(host))
        if ds >= 0:
            d_in, d_out = node("di", ds), node("do", ds)
            if tail:
                arc(tail, d_in, 1, add=True)  # counts the jobs on this host and datastore
            else:
                arc(0, d_in, n)
            arc(d_in, d_out, cap(ds))
            tail = d_out
        if group >= 0:
            g = node("g", group)
            arc(tail, g, n)
            arc(g, 1, cap(group))
        else:
            arc(tail, 1, n)
    flow = max_flow.SimpleMaxFlow()
    tails = np.array([a for a, _ in arcs], dtype=np.int32)
    heads = np.array([b for _, b in arcs], dtype=np.int32)
    caps = np.array(list(arcs.values()), dtype=np.int64)
    flow.add_arcs_with_capacity(tails, heads, caps)
    if flow.solve(0, 1) != flow.OPTIMAL:
        return n
    best = int(flow.optimal_flow())
    conc = {c for *_, c in paths if c >= 0}
    for c in conc:
        if inst.resources[c].capacity:
            best = min(best, inst.resources[c].capacity)
    return min(best, n)


def effective_capacity(inst: Instance, r: int, members: list[int]) -> int:
    """Jobs of resource ``r`` (``members``) that can run at once: its own capacity (its job
    count when unlimited), lowered to what the other resources of those jobs allow."""
    n = len(members)
    own = inst.resources[r].capacity
    cap = min(own, n) if own else n
    if cap <= 1:
        return cap
    return min(cap, max_running(inst, members))

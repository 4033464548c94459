"""Independent components of an instance: jobs that share no host, datastore or RAID group,
directly or through other jobs; and the slice of the instance one component is.

Only the global ``concurrent_jobs`` limit (backup proxy task slots) couples components; it is
left out of a slice and reconciled by a concurrency profile (:mod:`stagger.solve.profiles`).
"""

from __future__ import annotations

from dataclasses import replace

from stagger.instance import Instance, Job, Resource


def components(inst: Instance) -> list[list[int]]:
    """Job indices grouped by shared host/datastore/RAID group on a common night, directly or
    through other jobs, each sorted; groups ordered by their first job. The global concurrency
    resource is ignored. Two jobs that share a resource but can run on no common night never
    compete (no resource is shared across nights in time): apart, unless linked otherwise. The
    jobs of one group (:attr:`Job.group`: distinct nights) are in one component whenever they
    could meet on a night, even when no limited resource links them; once each has its own
    night (:func:`stagger.solve.full_nights.with_nights`) they fall apart night by night.
    In the single regime every job may run on every night: the components are those of the
    shared resources alone."""
    parent = list(range(len(inst.jobs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: int, y: int) -> None:
        a, b = find(x), find(y)
        if a != b:
            parent[max(a, b)] = min(a, b)

    # Union-find over (resource, night) and (group, night) nodes: each job joins the first
    # job seen at every node it touches.
    first: dict[tuple[str, int, int], int] = {}
    for j, job in enumerate(inst.jobs):
        nights = job.nights
        # Its own resources and every resource an option of it may take (a proxy or a
        # repository shared by jobs joins them: they compete for its task slots and ingest).
        held = sorted({*job.resources, *(r for opt in job.options for r in opt.resources)})
        for r in held:
            if inst.resources[r].kind == "concurrent":
                continue
            for n in nights:
                key = ("r", r, n)
                if key in first:
                    union(first[key], j)
                else:
                    first[key] = j
        if job.group is not None:
            for n in nights:
                key = ("g", job.group, n)
                if key in first:
                    union(first[key], j)
                else:
                    first[key] = j
    groups: dict[int, list[int]] = {}
    for j in range(len(inst.jobs)):
        groups.setdefault(find(j), []).append(j)
    return sorted(groups.values(), key=lambda g: g[0])


def sub_instance(inst: Instance, jobs: list[int]) -> Instance:
    """The slice of ``inst`` with these jobs (indices renumbered 0..), their resources only and
    without the global concurrency resource (reconciled by a profile instead); their units
    (``Job.demands``) and options (their resources renumbered) with them."""
    res_map: dict[int, int] = {}
    resources: list[Resource] = []

    def local(r: int) -> int:
        if r not in res_map:
            res_map[r] = len(resources)
            resources.append(inst.resources[r])
        return res_map[r]

    new_jobs = []
    for j in jobs:
        job = inst.jobs[j]
        kept = [i for i, r in enumerate(job.resources) if inst.resources[r].kind != "concurrent"]
        new_jobs.append(
            Job(
                vm=job.vm,
                duration=job.duration,
                resources=tuple(local(job.resources[i]) for i in kept),
                allowed=job.allowed,
                size_gib=job.size_gib,
                minutes=job.minutes,
                blackouts=job.blackouts,
                priority=job.priority,
                level=job.level,
                tier=job.tier,
                group=job.group,
                options=tuple(
                    replace(opt, resources=tuple(local(r) for r in opt.resources))
                    for opt in job.options
                ),
                demands=tuple(job.demands[i] for i in kept) if job.demands else (),
            )
        )
    sub = Instance(inst.slot_minutes, inst.anchor, inst.nights, resources, new_jobs)
    sub.night_origins = inst.night_origins
    sub.resource_blocked = {
        res_map[r]: spans for r, spans in inst.resource_blocked.items() if r in res_map
    }
    return sub


def natural_parallelism(inst: Instance) -> int:
    """Most jobs of ``inst`` that can ever run at once: bounded by the summed capacity of every
    resource kind that all its jobs use (each job holds at least one of them)."""
    best = len(inst.jobs)
    kinds = ("host", "datastore", "raid_group", "proxy", "repository")

    def holds(job: Job, kind: str) -> bool:
        """Whether ``job`` holds a task slot of a resource of ``kind`` whatever it runs in."""
        if any(inst.resources[r].kind == kind for r in job.resources):
            return True
        return bool(job.options) and all(
            any(inst.resources[r].kind == kind for r in opt.resources) for opt in job.options
        )

    for kind in kinds:
        if all(holds(j, kind) for j in inst.jobs):
            cap = sum(r.capacity or len(inst.jobs) for r in inst.resources if r.kind == kind)
            best = min(best, cap)
    return best

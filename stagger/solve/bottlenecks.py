"""The bottleneck lines of a schedule: the resources whose jobs cannot fit in their window.

One line per overloaded resource, in admin words: an estate resource
('datastore DS-7: 13.2 h of backups, 9.0 h of window left after blackouts'), a proxy or a set
of proxies ('proxy prx-a1: 31 h of tasks for 4 slots in 8 h'), a repository's tasks, and a
repository's ingest ('repository repo-2: ingest 2.1 TB at 600 MB/s needs 1h00m more than the
window'). Overloaded: the load the lower bound counts (:mod:`stagger.solve.bounds`; for the
infrastructure, the energy rule of :mod:`stagger.solve.bound_infra`) exceeds the capacity
times the time the jobs may use, so no plan runs every job.
"""

from __future__ import annotations

from stagger.fmt import hm
from stagger.instance import Instance
from stagger.solve.bound_infra import INFRA_KINDS, InfraLoad
from stagger.solve.bound_nights import describe_nights
from stagger.solve.bounds import Bound, describe_overload, infra_subject, slots


def _hours(minutes: float) -> str:
    """'31 h', '7.5 h'."""
    return f"{minutes / 60:.1f}".removesuffix(".0") + " h"


def describe_infra_overload(inst: Instance, ld: InfraLoad) -> str:
    """One overloaded set of proxies or repositories (module doc)."""
    m = inst.slot_minutes
    where = "" if len(ld.nights) == len(inst.nights) else f" on {describe_nights(ld.nights)}"
    subject = infra_subject(inst, ld)
    if ld.kind == "ingest":
        tb = ld.energy * m * 60 / 1e6
        more = ld.energy / ld.capacity - ld.free if ld.capacity else 0.0
        return (
            f"{subject}: ingest {tb:.1f} TB at {ld.capacity} MB/s needs {hm(more * m)} more"
            f" than the window{where}"
        )
    return (
        f"{subject}: {_hours(ld.energy * m)} of tasks for {slots(ld.capacity)} in"
        f" {_hours(ld.free * m)}{where}"
    )


def bottlenecks(inst: Instance, bound: Bound) -> list[str]:
    """The lines of the module doc: estate resources in the bound's order, then each
    overloaded set of proxies / repositories once (its worst set of nights: the largest
    excess of needed over free time)."""
    out = [
        describe_overload(inst, load)
        for load in bound.loads
        if inst.resources[load.resource].kind not in INFRA_KINDS
        and load.overloaded(inst.resources[load.resource].capacity or 1 << 30)
    ]
    worst: dict[tuple[str, tuple[int, ...]], InfraLoad] = {}
    for ld in bound.infra:
        if not ld.overloaded:
            continue
        key = (ld.kind, ld.resources)
        old = worst.get(key)
        excess = ld.energy - ld.capacity * ld.free
        if old is None or excess > old.energy - old.capacity * old.free:
            worst[key] = ld
    out += [describe_infra_overload(inst, ld) for ld in worst.values()]
    return out

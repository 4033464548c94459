"""One way in for the current estate: a topology file, an RVTools export or a live vCenter.

Every command that reads "the estate" (plan, check, audit, inventory) calls
:func:`open_estate`; which source it was, what it warned about and how it was read come back
with the topology, so the CLI only renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagger.errors import InputError
from stagger.model.topology import Topology

if TYPE_CHECKING:
    from stagger.sources.vcenter import VCenterOptions


@dataclass
class Estate:
    topology: Topology
    source: str
    """What was read: the file, or the vCenter's normalised host name."""
    warnings: list[str] = field(default_factory=list)
    detail: str = ""
    """How it was read, for a summary line (round trips, templates skipped)."""
    joins: dict[str, Any] = field(default_factory=dict)
    """RVTools only: per tab, its rows and how many joined a VM (``rvtools.TabJoin``); the
    audit turns unjoined rows into a finding instead of an all-clear."""
    vcpus: dict[str, int] = field(default_factory=dict)
    """vCenter only: VM name -> vCPU count (the task slots of proxy VMs)."""
    vsphere_tags_read: bool = False
    """vCenter only: whether vSphere tags were read (else VM tags are custom attributes)."""


def open_estate(
    *,
    topology: Path | None = None,
    rvtools: Path | None = None,
    vcenter: VCenterOptions | None = None,
    on_page: Callable[[int], None] | None = None,
) -> Estate:
    """The estate from exactly one source. Raises InputError / SourceError (nothing read)."""
    given = [x for x in (topology, rvtools, vcenter) if x is not None]
    if len(given) != 1:
        raise InputError(
            "give exactly one source of the estate: a topology file, an RVTools export "
            f"or a vCenter ({len(given)} given)"
        )
    if topology is not None:
        from stagger.sources.yamlfile import load_topology

        return Estate(load_topology(topology), str(topology))
    if rvtools is not None:
        from stagger.sources.rvtools import load_rvtools

        rv = load_rvtools(rvtools)
        return Estate(
            rv.topology,
            str(rvtools),
            list(rv.warnings),
            f"{rvtools}: {rv.templates_skipped} templates skipped",
            dict(rv.joins),
        )
    assert vcenter is not None
    from stagger.sources.vcenter import load_vcenter, parse_server

    inv = load_vcenter(vcenter, on_page)
    st = inv.stats
    server = parse_server(vcenter.server)[0]
    tags = (
        f"; vSphere tags: {st.tags} on {st.tagged_vms} VMs ({st.tag_requests} REST calls)"
        if st.tags is not None
        else "; vSphere tags: " + ("not read" if vcenter.read_tags else "skipped (--no-tags)")
    )
    return Estate(
        inv.topology,
        server,
        list(inv.warnings),
        f"{server}: {st.objects} objects in {st.round_trips} round trips, "
        f"{st.bytes_read / (1 << 20):.1f} MiB, {st.seconds:.2f} s; "
        f"{inv.templates_skipped} templates skipped{tags}",
        vcpus=dict(inv.vcpus),
        vsphere_tags_read=st.tags is not None,
    )

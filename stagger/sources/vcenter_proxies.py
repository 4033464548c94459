"""Backup proxies that are VMs, read from vCenter into an infrastructure file (issue 15).

``stagger inventory vcenter --proxy-name GLOB / --proxy-tag TAG --infra-output FILE``: the VMs
the globs or tags pick become proxies, so that hot-add reach is derived, not typed:

- ``reaches``: the proxy VM's cluster (``{cluster: C}``), or its host when the host is in no
  cluster (``{host: H}``). Hot-add attaches the disks of a VM to the proxy VM, so the proxy's
  host must see the VM's datastores; within one cluster it does.
- ``modes: [hotadd, nbd]``: both within that reach. A proxy has one reach, so NBD (which
  would work across clusters) is limited to it too; docs/infrastructure-vcenter.md says how to
  widen it.
- ``max_tasks``: the VM's vCPU count (``config.hardware.numCPU``): Veeam's sizing rule of one
  task per CPU core.
- ``transport``: rates are never read or invented: they come from ``--transport MODE=MB/s``
  or from the file given with ``--infra-merge`` (which also gives the repositories, which
  vCenter does not know, and proxies that are not VMs).

Names are matched as a tier's ``match`` matches them (:func:`stagger.tiers.matches`: the glob
on the VM's name or its vCenter name, the tag exactly as one of the VM's tags). Proxy VMs stay
in the topology and are planned like any VM (Veeam backs up its proxies too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import yaml
from pydantic import ValidationError

from stagger.errors import InputError, shown
from stagger.infrastructure import InfraReport, check_infrastructure, some_names
from stagger.model.infrastructure import (
    MAX_RATE_MB_PER_S,
    TRANSPORT_MODES,
    Infrastructure,
    Proxy,
    ProxyReach,
    Rate,
    Transport,
)
from stagger.model.policy import MAX_GLOB_CHARS, MAX_LIMIT, TierMatch, TransportMode
from stagger.model.text import no_control_chars
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.tiers import matches

PROXY_MODES: tuple[TransportMode, ...] = ("hotadd", "nbd")
"""The modes of a proxy read from vCenter: hot-add in its cluster, NBD as the fallback."""
_EXAMPLES = 3
_NOT_RUNNING = ("off", "suspended")
"""Power states of a proxy VM that takes no task (unknown power state: kept)."""
DOCS = "docs/infrastructure-vcenter.md"


@dataclass(frozen=True)
class ProxySelection:
    """Which VMs are proxies: any of the name globs or any of the tags (OR)."""

    names: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        return bool(self.names or self.tags)

    def describe(self) -> str:
        parts = [f"--proxy-name {shown(g)}" for g in self.names]
        parts += [f"--proxy-tag {shown(t)}" for t in self.tags]
        return ", ".join(parts)


def _checked_text(value: str, option: str, what: str, max_chars: int | None = None) -> str:
    if not value.strip():
        raise InputError(f"empty {what}: {shown(value)}", field=option)
    try:
        no_control_chars(value)
    except ValueError as exc:
        raise InputError(f"{exc}: {shown(value)}", field=option) from None
    if max_chars is not None and len(value) > max_chars:
        raise InputError(f"{what} longer than {max_chars} characters: {shown(value)}", field=option)
    return value


def parse_selection(names: Sequence[str], tags: Sequence[str]) -> ProxySelection:
    """The ``--proxy-name`` globs and ``--proxy-tag`` tags, each checked (one line each)."""
    return ProxySelection(
        names=tuple(
            dict.fromkeys(
                _checked_text(g, "--proxy-name", "name pattern", MAX_GLOB_CHARS) for g in names
            )
        ),
        tags=tuple(dict.fromkeys(_checked_text(t, "--proxy-tag", "tag") for t in tags)),
    )


def parse_transport(values: Sequence[str]) -> dict[TransportMode, float]:
    """``--transport MODE=MB_PER_S`` values: each mode once, a finite rate > 0."""
    rates: dict[TransportMode, float] = {}
    modes = ", ".join(TRANSPORT_MODES)
    for raw in values:
        mode, sep, number = raw.partition("=")
        if not sep or mode not in TRANSPORT_MODES:
            raise InputError(
                f"not MODE=MB_PER_S with MODE one of {modes}: {shown(raw)}", field="--transport"
            )
        try:
            rate = float(number)
        except ValueError:
            rate = math.nan
        if not (math.isfinite(rate) and 0 < rate <= MAX_RATE_MB_PER_S):
            raise InputError(
                f"rate of {mode} must be a number of MB/s above 0 and at most"
                f" {MAX_RATE_MB_PER_S:,.0f}: {shown(raw)}",
                field="--transport",
            )
        if mode in rates:
            raise InputError(f"mode {mode} given twice", field="--transport")
        rates[cast(TransportMode, mode)] = rate  # one of TRANSPORT_MODES (checked above)
    return rates


@dataclass(frozen=True)
class TransportChoice:
    transport: Transport
    given: tuple[TransportMode, ...]
    """Modes whose rate came from ``--transport`` (the rest from the merged file)."""


def transport_for(
    rates: Mapping[TransportMode, float],
    base: Infrastructure | None,
    base_file: str | Path | None = None,
) -> TransportChoice:
    """The merged file's rates with ``--transport`` over them; every mode of a proxy read
    from vCenter needs one. Checked before vCenter is read (nothing read, nothing written)."""
    merged: dict[str, Rate] = {}
    if base is not None:
        for mode in TRANSPORT_MODES:
            rate = base.transport.rate(mode)
            if rate is not None:
                merged[mode] = rate
    for mode, mb_per_s in rates.items():
        merged[mode] = Rate(mb_per_s=mb_per_s)
    missing = [m for m in PROXY_MODES if m not in merged]
    if missing:
        where = f" nor in {shown(str(base_file))}" if base_file is not None else ""
        give = " ".join(f"--transport {m}=MB_PER_S" for m in missing)
        raise InputError(
            f"no rate for mode {', '.join(missing)} on the command line{where}: give {give}"
            " with rates measured in your backup product's job statistics (stagger does not"
            f" guess them; see {DOCS})",
            field="--transport",
        )
    return TransportChoice(Transport(**merged), tuple(rates))


@dataclass
class DerivedInfrastructure:
    """What :func:`derive_infrastructure` read: the file's model and what it did."""

    infrastructure: Infrastructure
    proxy_vms: dict[str, str] = field(default_factory=dict)
    """Proxy name -> the VM it was read from (the topology's ``name``)."""
    kept: list[str] = field(default_factory=list)
    """Proxies of the merged file kept as they were (no VM of that name was picked)."""
    replaced: list[str] = field(default_factory=list)
    """Proxies of the merged file replaced by the VM of the same name."""
    warnings: list[str] = field(default_factory=list)
    report: InfraReport | None = None
    """The file checked against the topology of the same run (``stagger infra check``)."""


def _reach(vm: VM, idx: TopologyIndex) -> ProxyReach:
    host = idx.hosts.get(vm.host)
    if host is not None and host.cluster is not None:
        return ProxyReach(cluster=host.cluster)
    return ProxyReach(host=vm.host)


def _picked(
    topology: Topology, selection: ProxySelection, idx: TopologyIndex
) -> tuple[list[VM], list[str]]:
    """The VMs the selection picks (topology order) and the selectors that picked none."""
    selectors = [TierMatch.model_construct(name=g) for g in selection.names] + [
        TierMatch.model_construct(tag=t) for t in selection.tags
    ]
    labels = [f"--proxy-name {shown(g)}" for g in selection.names] + [
        f"--proxy-tag {shown(t)}" for t in selection.tags
    ]
    hits = [0] * len(selectors)
    picked: list[VM] = []
    for vm in topology.vms:
        took = False
        for i, sel in enumerate(selectors):
            if matches(sel, vm, idx):
                hits[i] += 1
                took = True
        if took:
            picked.append(vm)
    return picked, [label for label, n in zip(labels, hits, strict=True) if n == 0]


def _no_match(selection: ProxySelection, topology: Topology, tags_read: bool) -> InputError:
    hint = (
        ""
        if tags_read or not selection.tags
        else "; vSphere tags were not read (--no-tags, or the tagging endpoint failed), so"
        " --proxy-tag matched custom attributes (Name=value) only"
    )
    return InputError(
        f"no VM matches {selection.describe()} among the {len(topology.vms)} VMs read{hint}:"
        " no proxy found (names are globs on the VM's vCenter name, case-sensitive; tags are"
        " 'category:tag', 'tag' or a custom attribute 'Name=value')",
        field="--proxy-name" if selection.names else "--proxy-tag",
    )


def _proxies_of(
    picked: list[VM], vcpus: Mapping[str, int], idx: TopologyIndex, warnings: list[str]
) -> tuple[list[Proxy], dict[str, str]]:
    off = [vm.name for vm in picked if vm.power_state in _NOT_RUNNING]
    if off:
        warnings.append(
            f"{len(off)} proxy VMs not powered on left out ({some_names(off)}): a proxy that is off"
            " takes no task; power it on and read again"
        )
    no_cpu = [
        vm.name
        for vm in picked
        if vm.power_state not in _NOT_RUNNING and not 1 <= vcpus.get(vm.name, 0) <= MAX_LIMIT
    ]
    if no_cpu:
        warnings.append(
            f"{len(no_cpu)} proxy VMs with no usable vCPU count (config.hardware.numCPU)"
            f" left out ({some_names(no_cpu)})"
        )
    proxies: list[Proxy] = []
    proxy_vms: dict[str, str] = {}
    renamed: list[str] = []
    left_out = {*off, *no_cpu}
    for vm in picked:
        if vm.name in left_out:
            continue
        if vm.display_name is not None:
            renamed.append(vm.name)
        proxies.append(
            Proxy(
                name=vm.name,
                max_tasks=vcpus[vm.name],
                modes=list(PROXY_MODES),
                reaches=_reach(vm, idx),
            )
        )
        proxy_vms[vm.name] = vm.name
    if renamed:
        warnings.append(
            f"{len(renamed)} proxy VMs share their vCenter name with another VM and are"
            f" written under the topology's unique name ({some_names(renamed)}): give them the name"
            " your backup product knows them by"
        )
    return proxies, proxy_vms


def _shown_field(fld: str, value: object) -> str:
    if fld != "reaches":
        return str(value)
    if value is None:
        return "every VM"
    assert isinstance(value, ProxyReach)
    return ", ".join(f"{k} {shown(v)}" for k, v in value.model_dump(exclude_none=True).items())


def _changes(old: Proxy, new: Proxy) -> str:
    return "; ".join(
        f"{fld} {_shown_field(fld, getattr(old, fld))} -> {_shown_field(fld, getattr(new, fld))}"
        for fld in ("max_tasks", "modes", "reaches")
        if getattr(old, fld) != getattr(new, fld)
    )


@dataclass
class _Merged:
    proxies: list[Proxy]
    kept: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _merge(derived: list[Proxy], base: Infrastructure | None, base_file: str | None) -> _Merged:
    """The merged file's proxies in its order, those of a picked VM replaced in place, then
    the other picked VMs in topology order."""
    if base is None:
        return _Merged(derived)
    by_name = {p.name: p for p in derived}
    out = _Merged([])
    for old in base.proxies:
        new = by_name.pop(old.name, None)
        if new is None:
            out.proxies.append(old)
            out.kept.append(old.name)
            continue
        out.proxies.append(new)
        out.replaced.append(old.name)
        changed = _changes(old, new)
        if changed:
            out.warnings.append(
                f"proxy {shown(old.name)} of {shown(str(base_file))} replaced by the VM read"
                f" from vCenter: {changed}"
            )
    out.proxies.extend(p for p in derived if p.name in by_name)
    return out


def _unreached_warning(report: InfraReport, topology: Topology, idx: TopologyIndex) -> str:
    vms = list(report.unreached)
    by_vm = {vm.name: vm for vm in topology.vms}
    places: dict[str, None] = {}
    for name in vms:
        vm = by_vm[name]
        host = idx.hosts.get(vm.host)
        where = (
            f"cluster {shown(host.cluster)}"
            if host is not None and host.cluster is not None
            else f"host {shown(vm.host)}"
        )
        places.setdefault(where)
    listed = list(places)
    more = len(listed) - _EXAMPLES
    return (
        f"{len(vms)} VMs that need a backup are reached by no proxy ({some_names(vms)}), in"
        f" {len(listed)} clusters or standalone hosts without a proxy VM"
        f" ({', '.join(listed[:_EXAMPLES])}{f' and {more} more' if more > 0 else ''}):"
        f" `stagger infra check` refuses them until a proxy reaches them (see {DOCS})"
    )


def derive_infrastructure(
    topology: Topology,
    vcpus: Mapping[str, int],
    selection: ProxySelection,
    transport: Transport,
    *,
    base: Infrastructure | None = None,
    base_file: str | Path | None = None,
    tags_read: bool = True,
) -> DerivedInfrastructure:
    """The infrastructure file of the proxy VMs ``selection`` picks in ``topology``.

    ``vcpus``: VM name -> vCPU count (:attr:`stagger.sources.vcenter.VCenterInventory.vcpus`).
    ``base``: the ``--infra-merge`` file: its repositories and the proxies no picked VM
    replaces are kept. Raises :class:`InputError` when no powered-on VM is picked (nothing
    to write). The result is checked against ``topology`` (``report``); VMs no proxy reaches
    are a warning here (the file is what vCenter holds; ``infra check`` refuses them).
    """
    if not selection.given:
        raise InputError("give --proxy-name GLOB or --proxy-tag TAG", field="--proxy-name")
    idx = topology.index()
    picked, idle = _picked(topology, selection, idx)
    if not picked:
        raise _no_match(selection, topology, tags_read)
    warnings = [f"{label} matches no VM" for label in idle]
    if selection.tags and not tags_read:
        warnings.append(
            "vSphere tags were not read: --proxy-tag matched custom attributes (Name=value) only"
        )
    derived, proxy_vms = _proxies_of(picked, vcpus, idx, warnings)
    if not derived:
        raise InputError(
            f"{len(picked)} VMs match {selection.describe()} but none can be a proxy (powered"
            " off, or no vCPU count): no proxy found",
            field="--proxy-name" if selection.names else "--proxy-tag",
        )
    base_name = str(base_file) if base_file is not None else None
    merged = _merge(derived, base, base_name)
    try:
        infra = Infrastructure(
            proxies=merged.proxies,
            transport=transport,
            repositories=list(base.repositories) if base is not None else [],
        )
    except ValidationError as exc:  # a kept proxy whose mode has no rate, say
        err = exc.errors()[0]
        raise InputError(
            str(err["msg"]).removeprefix("Value error, "), file=base_name, obj="infrastructure"
        ) from None
    report = check_infrastructure(infra, topology)
    warnings += merged.warnings
    if report.unreached:
        warnings.append(_unreached_warning(report, topology, idx))
    # A proxy VM reaches at least its own cluster's VMs; one that reaches none (every VM
    # there excluded) is written, and `infra check` / `plan --infra` refuse it until fixed.
    warnings += [
        f"proxy {shown(name)} reaches none of the VMs that need a backup:"
        " `stagger infra check` and `plan --infra` refuse it until fixed"
        for name in report.idle_proxies
    ]
    warnings += report.warnings
    return DerivedInfrastructure(
        infrastructure=infra,
        proxy_vms=proxy_vms,
        kept=merged.kept,
        replaced=merged.replaced,
        warnings=warnings,
        report=report,
    )


def render_infrastructure(
    derived: DerivedInfrastructure,
    *,
    vcenter: str,
    transport: TransportChoice,
    base_file: str | Path | None = None,
) -> str:
    """The infrastructure file as YAML, with comments that say where each part came from.

    Comments hold no name read from vCenter (a name cannot break a YAML comment then); the
    data is dumped by PyYAML, whose quoting round-trips every name a model admits.
    """
    infra = derived.infrastructure
    from_file = shown(str(base_file)) if base_file is not None else None
    cli_modes = ", ".join(transport.given) or "none"
    lines = [
        f"# Backup infrastructure: proxies read from vCenter {vcenter} by"
        " `stagger inventory vcenter`",
        f"# ({len(derived.proxy_vms)} proxy VMs; see {DOCS}).",
        "# reaches: the proxy VM's cluster (its host when the host is in no cluster): hot-add",
        "#   needs the proxy in the VMs' cluster. NBD would reach further, but a proxy has one",
        "#   reach: widen it by hand (the docs say how); never list one VM twice (its task",
        "#   slots would count twice).",
        "# max_tasks: the VM's vCPU count (Veeam sizes one task per CPU core).",
    ]
    if from_file is not None:
        lines.append(
            f"# Merged with {from_file}: {len(derived.kept)} of its proxies kept,"
            f" {len(derived.replaced)} replaced by the VM of the same name; its repositories kept."
        )
    lines.append(
        _dump({"proxies": [p.model_dump(mode="json", exclude_none=True) for p in infra.proxies]})
    )
    lines += [
        f"# transport: rates of {cli_modes} given with --transport"
        + (f", the others kept from {from_file}" if from_file is not None else "")
        + ".",
        "#   stagger did not measure them: plan durations follow from them, so use the",
        "#   processing rates your backup product reports for each mode.",
        _dump({"transport": infra.transport.model_dump(mode="json", exclude_none=True)}),
    ]
    if not infra.repositories:
        lines += [
            "# repositories: vCenter does not know them. Add each as",
            "#   - {name: repo-1, max_tasks: 12, ingest_mb_per_s: 1500}",
            "# or read again with --infra-merge FILE to keep those of FILE.",
        ]
    lines.append(_dump({"repositories": [r.model_dump(mode="json") for r in infra.repositories]}))
    return "\n".join(line.rstrip("\n") for line in lines) + "\n"


def _dump(data: dict[str, object]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)

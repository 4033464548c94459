"""Which backup proxies reach which VM, in which modes, and the checks of an infrastructure
file against an estate (``stagger infra check``). Written once here; the planner
(:func:`stagger.instance.compile_instance`) reads the same answers.

The reach rule: a proxy reaches a VM when every selector of its ``reaches`` holds: ``host``,
``cluster`` and ``tag`` as a tier's ``match`` (:func:`stagger.tiers.matches`, the one copy of
that matching), and ``datastore`` a glob that EVERY datastore the VM reads matches (a
Direct SAN proxy must see every LUN of the VM; a job is read by one proxy). No ``reaches``:
every VM. The proxy reaches it in each of its modes; pins narrow that (a VM's own pin wins
over its tier's).

A VM no proxy reaches (or no proxy reaches in the way its pins ask) is an ERROR, not a VM left
unscheduled: a backup product would queue such a job for ever; the admin fixes the reach,
the pin or excludes the VM. (``plan --infra`` refuses such an estate the same way.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache

from stagger.errors import InputError, shown
from stagger.model.infrastructure import Infrastructure, Proxy
from stagger.model.policy import Policy, TierMatch, TransportMode
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.rules import needs_job
from stagger.tiers import assign_tiers, matches

_EXAMPLES = 3


def job_rate(infra: Infrastructure, mode: TransportMode, repository: str | None) -> float:
    """MB/s one job moves in ``mode`` writing to ``repository``: the mode's rate, at most the
    repository's whole ingest rate (a single job cannot write faster than its repository).
    It sets the job's length (:meth:`stagger.cycle.BackupJob.minutes_at`) and is the share of
    the repository's ingest the job takes while it runs."""
    rate = infra.transport.rate(mode)
    if rate is None:  # refused when the file is read: every proxy mode has a rate
        raise ValueError(f"mode {mode!r} has no rate")
    repo = infra.repository(repository) if repository is not None else None
    return min(rate.mb_per_s, repo.ingest_mb_per_s) if repo is not None else rate.mb_per_s


@lru_cache(maxsize=1024)
def _tier_match(cluster: str | None, host: str | None, tag: str | None) -> TierMatch:
    """The selectors a proxy's reach shares with a tier's match, as one, for the tiers' one
    matching function. Built once per selector: constructing it on every (proxy, VM) call
    was 90 % of `check_infrastructure` on 10,000 VMs and 20 proxies (64.7 s -> 5.6 s).
    Constructed without validation: the ProxyReach fields were validated when read."""
    return TierMatch.model_construct(cluster=cluster, host=host, tag=tag)


def reaches(proxy: Proxy, vm: VM, idx: TopologyIndex) -> bool:
    """Whether ``proxy`` can read ``vm`` (the reach rule of this module's docstring)."""
    sel = proxy.reaches
    if sel is None:
        return True
    if sel.datastore is not None:
        glob = sel.datastore
        if not vm.datastores or not all(fnmatchcase(ds, glob) for ds in vm.datastores):
            return False
    if sel.cluster is None and sel.host is None and sel.tag is None:
        return True
    return matches(_tier_match(sel.cluster, sel.host, sel.tag), vm, idx)


@dataclass(frozen=True)
class Pins:
    """What a VM's jobs must use (its own pin, else its tier's); None: the planner chooses."""

    proxy: str | None = None
    mode: TransportMode | None = None
    repository: str | None = None


def pins_of(vm: VM, tier_pins: Pins | None) -> Pins:
    t = tier_pins or Pins()
    return Pins(
        proxy=vm.proxy if vm.proxy is not None else t.proxy,
        mode=vm.mode if vm.mode is not None else t.mode,
        repository=vm.repository if vm.repository is not None else t.repository,
    )


def options(vm: VM, pins: Pins, infra: Infrastructure, idx: TopologyIndex) -> list[tuple[str, str]]:
    """(proxy, mode) pairs that may process ``vm``'s jobs, in file order."""
    out: list[tuple[str, str]] = []
    for p in infra.proxies:
        if pins.proxy is not None and p.name != pins.proxy:
            continue
        if not reaches(p, vm, idx):
            continue
        out.extend((p.name, m) for m in p.modes if pins.mode is None or m == pins.mode)
    return out


@dataclass
class InfraReport:
    """What ``stagger infra check`` shows: per proxy the VMs it reaches, the VMs no proxy
    can process with the reason, warnings (counted), and errors (raise with :meth:`check`)."""

    reached: dict[str, list[str]] = field(default_factory=dict)
    """Proxy name -> names of the VMs (that need a backup) it reaches, topology order."""
    unreached: dict[str, str] = field(default_factory=dict)
    """VM name -> why no proxy can process it."""
    idle_proxies: list[str] = field(default_factory=list)
    """Proxies that reach none of the VMs that need a backup (each also an error)."""
    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise every error at once (one line each)."""
        if self.errors:
            first = self.errors[0]
            first.more = self.errors[1:]
            raise first


def some_names(names: Sequence[str]) -> str:
    """The first few names, quoted, and how many more: "'a', 'b', 'c' and 4 more"."""
    text = ", ".join(shown(n) for n in names[:_EXAMPLES])
    more = len(names) - _EXAMPLES
    return text + (f" and {more} more" if more > 0 else "")


def _where(vm: VM, idx: TopologyIndex) -> str:
    host = idx.hosts.get(vm.host)
    cluster = host.cluster if host is not None else None
    parts = [f"host {shown(vm.host)}"]
    if cluster is not None:
        parts.append(f"cluster {shown(cluster)}")
    parts.append("datastores " + (", ".join(shown(d) for d in vm.datastores) or "none"))
    return ", ".join(parts)


def _pin_problems(
    infra: Infrastructure, obj: str, pins: Pins, file: str | None
) -> list[InputError]:
    """A pin that names no proxy/repository, or a mode the pinned proxy lacks."""
    out: list[InputError] = []
    proxy = infra.proxy(pins.proxy) if pins.proxy is not None else None
    if pins.proxy is not None and proxy is None:
        out.append(
            InputError(
                f"proxy {shown(pins.proxy)} is not in the infrastructure file",
                file=file,
                obj=obj,
                field="proxy",
            )
        )
    if pins.mode is not None:
        if proxy is not None and pins.mode not in proxy.modes:
            out.append(
                InputError(
                    f"proxy {shown(proxy.name)} has no mode {pins.mode!r}"
                    f" (its modes: {', '.join(proxy.modes)})",
                    file=file,
                    obj=obj,
                    field="mode",
                )
            )
        elif not any(pins.mode in p.modes for p in infra.proxies):
            out.append(
                InputError(f"no proxy has mode {pins.mode!r}", file=file, obj=obj, field="mode")
            )
    if pins.repository is not None and infra.repository(pins.repository) is None:
        out.append(
            InputError(
                f"repository {shown(pins.repository)} is not in the infrastructure file",
                file=file,
                obj=obj,
                field="repository",
            )
        )
    return out


def check_infrastructure(
    infra: Infrastructure,
    topology: Topology,
    policy: Policy | None = None,
    *,
    infra_file: str | None = None,
    topology_file: str | None = None,
    policy_file: str | None = None,
) -> InfraReport:
    """Check ``infra`` against the estate (and the policy's tier pins, when given)."""
    idx = topology.index()
    report = InfraReport(reached={p.name: [] for p in infra.proxies})
    tier_of = assign_tiers(topology, policy) if policy is not None else {}
    tier_pins: dict[str, Pins] = {}
    if policy is not None:
        for tier in policy.tiers:
            pins = Pins(proxy=tier.proxy, mode=tier.mode, repository=tier.repository)
            tier_pins[tier.name] = pins
            report.errors += _pin_problems(infra, f"tier {shown(tier.name)}", pins, policy_file)
    jobs_of_repo: dict[str, int] = {r.name: 0 for r in infra.repositories}
    free_choice = 0  # VMs whose jobs may write to any repository
    for vm in topology.vms:
        if not needs_job(vm):
            continue
        own = Pins(proxy=vm.proxy, mode=vm.mode, repository=vm.repository)
        report.errors += _pin_problems(infra, f"vm {shown(vm.name)}", own, topology_file)
        taken_by = tier_of.get(vm.name)
        pins = pins_of(vm, tier_pins.get(taken_by.name) if taken_by is not None else None)
        for p in infra.proxies:
            if reaches(p, vm, idx):
                report.reached[p.name].append(vm.name)
        if pins.repository is None:
            free_choice += 1
        elif pins.repository in jobs_of_repo:
            jobs_of_repo[pins.repository] += 1
        if options(vm, pins, infra, idx):
            continue
        if not any(reaches(p, vm, idx) for p in infra.proxies):
            why = f"no proxy reaches it ({_where(vm, idx)})"
        else:
            asked = ", ".join(
                f"{k} {shown(v)}" for k, v in vars(pins).items() if k != "repository" and v
            )
            why = f"no proxy that reaches it matches its pins ({asked})"
        report.unreached[vm.name] = why
        report.errors.append(InputError(why, file=topology_file, obj=f"vm {shown(vm.name)}"))
    for p in infra.proxies:
        if not report.reached[p.name]:
            # An error, as the bad inputs say: a selector that matches nothing is
            # almost always a typo (a cluster renamed), and the admin believes it carries load.
            count = sum(1 for vm in topology.vms if needs_job(vm))
            report.idle_proxies.append(p.name)
            report.errors.append(
                InputError(
                    f"reaches none of the {count} VMs that need a backup (check its"
                    " selector, or remove the proxy)",
                    obj=f"proxy {shown(p.name)}",
                    field="reaches",
                )
            )
    if free_choice == 0:
        for name, n in jobs_of_repo.items():
            if n == 0:
                report.warnings.append(
                    f"repository {shown(name)} takes no VM: every VM (or its tier) pins"
                    " another repository"
                )
    for problem in report.errors:
        if problem.file is None:
            problem.file = infra_file
    return report


def ignored_pins(topology: Topology, policy: Policy) -> list[str]:
    """A warning when the estate or policy pins proxy/mode/repository but ``plan`` is given no
    infrastructure file: it must say that it leaves those pins unused (counted)."""
    vms = [v.name for v in topology.vms if v.proxy or v.mode or v.repository]
    tiers = [t.name for t in policy.tiers if t.proxy or t.mode or t.repository]
    if not vms and not tiers:
        return []
    who = ", ".join(
        part
        for part in (
            f"{len(vms)} VM(s) ({some_names(vms)})" if vms else "",
            f"{len(tiers)} tier(s) ({some_names(tiers)})" if tiers else "",
        )
        if part
    )
    return [
        f"{who} pin a proxy, mode or repository: unused, the plan assigns proxies only with"
        " --infra (check them with `stagger infra check`)"
    ]

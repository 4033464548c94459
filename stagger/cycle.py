"""The backup jobs a cycle holds: per VM, one job per night it must run, full or incremental.

The job rule (docs/tiers.md), for a VM of a tier over a cycle of N nights:

- ``incremental`` names the VM's incremental nights I (``nightly``: every night).
- ``full: {on: RULE}``: a full on each night F the rule names (one night each); an
  incremental on each night of I not in F (a full replaces that night's incremental).
- ``full: {every: E}``: the nights are cut into blocks of E from night 0 (the last block may be
  shorter). A block's full replaces one of its incrementals, so its night is chosen by the
  planner among the block's incremental nights I_B; the block's other |I_B| - 1 incrementals
  take the remaining nights of I_B, one each. The full and these incrementals therefore share
  ``nights`` = I_B: together they run once on each night of I_B. A block without incremental
  nights gets one full that may run on any of its nights.
- ``full: none``: an incremental on each night of I.

A VM that no tier takes (and every VM of a policy without tiers) keeps the single regime: one
job per cycle on any night, with exactly the size and length of :mod:`stagger.jobs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stagger.calendar import rule_nights
from stagger.errors import shown
from stagger.jobs import job_minutes, job_size_gib, transfer_minutes
from stagger.model.policy import BackupWindow, Consistency, Full, Policy, Tier
from stagger.model.topology import VM, Topology
from stagger.tiers import assign_tiers

Level = Literal["full", "incremental"]


@dataclass(frozen=True, slots=True)
class BackupJob:
    """One backup run of one VM in the cycle (before any planning)."""

    vm: str
    level: Level
    nights: tuple[int, ...]
    """Night indices it may run on: one for a fixed night; a block's incremental nights (or
    the whole block) for a planner-chosen full and the incrementals sharing its block."""
    size_gib: float
    """GiB moved: the VM's size for a full, size * change_rate for an incremental."""
    minutes: float
    """Length before rounding to slots: overhead + transfer + consistency overhead."""
    fixed_minutes: float
    """The part of ``minutes`` no transfer rate changes: overhead + consistency overhead."""
    tier: str | None
    """The tier's name; None for the policy's single regime."""
    priority: int
    window: BackupWindow
    """Local clock window it must run in: the VM's own, else its tier's, else the policy's."""
    consistency: Consistency
    pre_script: str | None = None
    post_script: str | None = None

    def minutes_at(self, mb_per_s: float) -> float:
        """Its length when it moves its data at ``mb_per_s`` (a transport mode's rate, see
        :func:`stagger.infrastructure.job_rate`) instead of the policy's throughput."""
        return self.fixed_minutes + transfer_minutes(self.size_gib, mb_per_s)


def _fixed_minutes(tier: Tier | None, policy: Policy) -> float:
    consistency = policy.consistency.minutes(tier.consistency) if tier is not None else 0.0
    return policy.throughput.overhead_minutes + consistency


def _priority(vm: VM, tier: Tier) -> int:
    # A VM's own priority wins over its tier's, the tier's over the default. "Own" is any
    # value but the default: whether the field was written cannot survive a round trip
    # through a schedule's embedded topology, which writes every field.
    default = VM.model_fields["priority"].default
    if vm.priority != default or tier.priority is None:
        return vm.priority
    return tier.priority


def _incremental_nights(tier: Tier, policy: Policy) -> list[int]:
    if tier.incremental == "nightly":
        return list(range(policy.cycle.nights))
    if tier.incremental == "none":
        return []
    return rule_nights(
        tier.incremental, policy, obj=f"tier {shown(tier.name)}", field="incremental"
    )


def _tier_nights(tier: Tier, policy: Policy) -> list[tuple[Level, tuple[int, ...]]]:
    """(level, nights) of every job a VM of ``tier`` gets, by the rule of the module doc."""
    incr = _incremental_nights(tier, policy)
    n_nights = policy.cycle.nights
    out: list[tuple[Level, tuple[int, ...]]] = []
    full = tier.full if isinstance(tier.full, Full) else None
    if full is not None and full.every is not None:
        every = full.every
        for block_start in range(0, n_nights, every):
            block = range(block_start, min(block_start + every, n_nights))
            in_block = tuple(n for n in incr if n in block)
            if not in_block:
                out.append(("full", tuple(block)))
                continue
            out.append(("full", in_block))
            out += [("incremental", in_block)] * (len(in_block) - 1)
        return out
    fulls: list[int] = []
    if full is not None and full.on is not None:
        fulls = rule_nights(full.on, policy, obj=f"tier {shown(tier.name)}", field="full.on")
    taken = set(fulls)
    out += [("full", (n,)) for n in fulls]
    out += [("incremental", (n,)) for n in incr if n not in taken]
    out.sort(key=lambda job: (job[1][0], job[0] != "full"))
    return out


def cycle_jobs(topology: Topology, policy: Policy) -> list[BackupJob]:
    """Every backup job of the cycle: VMs in topology order, each VM's jobs by first night
    (a full before the incrementals of its night or block). Deterministic: a pure function
    of its inputs. Excluded VMs and templates get none."""
    all_nights = tuple(range(policy.cycle.nights))
    shapes: dict[str, list[tuple[Level, tuple[int, ...]]]] = {}
    out: list[BackupJob] = []
    vms = {vm.name: vm for vm in topology.vms}
    for name, tier in assign_tiers(topology, policy).items():
        vm = vms[name]
        if tier is None:
            rate = vm.change_rate if vm.change_rate is not None else policy.throughput.change_rate
            out.append(
                BackupJob(
                    vm=name,
                    level="full" if rate is None else "incremental",
                    nights=all_nights,
                    size_gib=job_size_gib(vm, policy),
                    minutes=job_minutes(vm, policy),
                    fixed_minutes=_fixed_minutes(None, policy),
                    tier=None,
                    priority=vm.priority,
                    window=vm.window or policy.window,
                    consistency="crash",
                )
            )
            continue
        if tier.name not in shapes:
            shapes[tier.name] = _tier_nights(tier, policy)
        # Policy refuses a tier with incrementals and no rate on it or on throughput; 1.0 is
        # only ever read by a fulls-only tier, which has no incremental to size.
        rate = vm.change_rate or tier.change_rate or policy.throughput.change_rate or 1.0
        # Per VM, not per job: a week has seven jobs per VM (70,000 for 10,000 VMs).
        full_gib = vm.size_gib
        priority = _priority(vm, tier)
        window = vm.window or tier.window or policy.window
        fixed = _fixed_minutes(tier, policy)
        for level, nights in shapes[tier.name]:
            size_gib = full_gib if level == "full" else full_gib * rate
            out.append(
                BackupJob(
                    vm=name,
                    level=level,
                    nights=nights,
                    size_gib=size_gib,
                    minutes=fixed + transfer_minutes(size_gib, policy.throughput.mb_per_s),
                    fixed_minutes=fixed,
                    tier=str(tier.name),
                    priority=priority,
                    window=window,
                    consistency=tier.consistency,
                    pre_script=tier.pre_script,
                    post_script=tier.post_script,
                )
            )
    return out

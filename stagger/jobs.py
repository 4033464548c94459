"""How big and how long one VM's backup job is. Shared by the compiler and the validator."""

from __future__ import annotations

import math
from typing import Literal

from stagger.model.policy import Policy
from stagger.model.topology import VM

MIB_PER_GIB = 1024


def job_size_gib(vm: VM, policy: Policy) -> float:
    """GiB the job moves: the full size, or size * change_rate on an incremental cycle."""
    rate = vm.change_rate if vm.change_rate is not None else policy.throughput.change_rate
    return vm.size_gib * (rate if rate is not None else 1.0)


def job_level(vm: VM, policy: Policy) -> Literal["full", "incremental"]:
    """The single regime's level: incremental when a change_rate applies (the VM's, else the
    policy's), else full."""
    rate = vm.change_rate if vm.change_rate is not None else policy.throughput.change_rate
    return "full" if rate is None else "incremental"


def transfer_minutes(size_gib: float, mb_per_s: float) -> float:
    """Minutes to move ``size_gib`` at ``mb_per_s``: the part of a job's length its rate sets
    (the policy's throughput, or with an infrastructure file the transport mode's)."""
    return size_gib * MIB_PER_GIB / mb_per_s / 60.0


def job_minutes(vm: VM, policy: Policy) -> float:
    """overhead + size_gib * 1024 / mb_per_s / 60, before rounding to slots."""
    tp = policy.throughput
    return tp.overhead_minutes + transfer_minutes(job_size_gib(vm, policy), tp.mb_per_s)


def job_slots(vm: VM, policy: Policy) -> int:
    """Whole planning slots the job needs (rounded up, at least one)."""
    # The epsilon keeps exact multiples (e.g. 60.000000001 min from float noise) from
    # costing one more slot.
    return max(1, math.ceil(job_minutes(vm, policy) / policy.slot_minutes - 1e-9))

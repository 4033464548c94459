"""pydantic models: the contract between stages."""

from stagger.model.policy import (
    BackupWindow,
    Blackout,
    Cycle,
    Limits,
    Policy,
    Scope,
    Throughput,
)
from stagger.model.schedule import (
    SCHEMA_VERSION,
    Night,
    ResourceUse,
    Schedule,
    ScheduledJob,
    SolverInfo,
    UnscheduledVM,
)
from stagger.model.topology import VM, Cluster, Datastore, Disk, Host, RaidGroup, Topology

__all__ = [
    "SCHEMA_VERSION",
    "VM",
    "BackupWindow",
    "Blackout",
    "Cluster",
    "Cycle",
    "Datastore",
    "Disk",
    "Host",
    "Limits",
    "Night",
    "Policy",
    "RaidGroup",
    "ResourceUse",
    "Schedule",
    "ScheduledJob",
    "Scope",
    "SolverInfo",
    "Throughput",
    "Topology",
    "UnscheduledVM",
]

"""What several commands share besides the vCenter options: the baseline schedule, and the
options that more than one command takes."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from stagger.infrastructure import check_infrastructure
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.sources.yamlfile import load_schedule
from stagger.validate import validate


def load_baseline(path: Path) -> Schedule:
    """A previous schedule, checked against the inputs it embeds before anything trusts it."""
    base = load_schedule(path)
    validate(base, file=f"baseline {path}")
    return base


# --- options that several commands take: defined once, so name, default and help agree ---
# Factories, not shared objects: typer keeps state on an option, so each command gets its own.


class SolverChoice(StrEnum):
    """``--solver``: a click Choice, so a typo is a usage error (64) listing the choices."""

    cpsat = "cpsat"
    greedy = "greedy"


def load_checked_infra(
    path: Path, topology: Topology, policy: Policy, *, topology_file: str | None, policy_file: str
) -> Infrastructure:
    """``--infra PATH`` read and checked against the estate (:func:`check_infra`)."""
    from stagger.sources.yamlfile import load_infrastructure

    infrastructure = load_infrastructure(path)
    check_infra(
        infrastructure,
        topology,
        policy,
        infra_file=str(path),
        topology_file=topology_file,
        policy_file=policy_file,
    )
    return infrastructure


def check_infra(
    infrastructure: Infrastructure,
    topology: Topology,
    policy: Policy,
    *,
    infra_file: str,
    topology_file: str | None = None,
    policy_file: str | None = None,
) -> None:
    """An infrastructure file against the estate, as every command that plans with one checks
    it: errors (a VM no proxy reaches, a proxy that reaches none, a pin naming nothing) raise,
    so the command exits 1 with nothing written; warnings are shown."""
    from stagger.cli.vcenter_options import print_warnings

    report = check_infrastructure(
        infrastructure,
        topology,
        policy,
        infra_file=infra_file,
        topology_file=topology_file,
        policy_file=policy_file,
    )
    report.check()
    print_warnings(report.warnings)


def solver_option() -> Any:
    return typer.Option(
        SolverChoice.cpsat, "--solver", help="cpsat (optimises, proves) or greedy (fast)."
    )


def seed_option() -> Any:
    return typer.Option(0, "--seed", help="Solver seed; same inputs + seed = same plan.")


def workers_option() -> Any:
    return typer.Option(4, "--workers", help="CP-SAT interleaved workers.")


def raid_map_option(help: str = "RAID group map (YAML or CSV).") -> Any:
    return typer.Option(None, "--raid-map", help=help)


def blackouts_option() -> Any:
    return typer.Option(
        [],
        "--blackouts",
        help="Extra blackouts file (e.g. from busy-hours), added to the policy's; repeatable.",
    )

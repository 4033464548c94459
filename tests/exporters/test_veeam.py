"""Veeam exporter: golden files, and every VM and start time exactly once.

No PowerShell here: the script is read back with the tree-sitter PowerShell grammar and
PowerShell's own quote rules (pwsh.py), not run (see docs/exports.md). Regenerate the golden
files with STAGGER_UPDATE_GOLDEN=1 after a deliberate change.
"""

from __future__ import annotations

import os

import pwsh
import pytest
from schedules import GOLDEN, estate_schedule

from stagger.exporters._common import local
from stagger.exporters.options import ExportOptions
from stagger.exporters.veeam import render


def _plan(text: str) -> list[tuple[str, list[str], str, str]]:
    """(job name, VM names, kind, start) per $Plan entry, read as PowerShell data."""
    return [
        (e["Name"], [vm["Name"] for vm in e["VMs"]], e["Kind"], e["At"])
        for e in pwsh.plan_data(text, "$Plan")
    ]


@pytest.mark.parametrize(
    ("per_vm", "golden"), [(False, "veeam_slots.ps1"), (True, "veeam_per_vm.ps1")]
)
def test_golden(per_vm: bool, golden: str) -> None:
    text = render(estate_schedule(), ExportOptions(per_vm=per_vm))
    path = GOLDEN / golden
    if os.environ.get("STAGGER_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("per_vm", [False, True])
def test_every_vm_and_start_exactly_once(per_vm: bool) -> None:
    sched = estate_schedule()
    text = render(sched, ExportOptions(per_vm=per_vm))
    plan = _plan(text)
    assert len(plan) == text.count("    @{ Name = ")
    assert pwsh.errors(pwsh.parse(text)) == []
    vms = [vm for _, members, _, _ in plan for vm in members]
    assert sorted(vms) == sorted(j.vm for j in sched.jobs)  # each VM once, none extra
    starts = {j.vm: f"{local(sched, j.start):%H:%M}" for j in sched.jobs}
    for _, members, kind, at in plan:
        assert kind == "Daily"
        assert all(starts[vm] == at for vm in members)
    if not per_vm:
        # One job per distinct start: each start time appears in exactly one entry.
        ats = [at for _, _, _, at in plan]
        assert sorted(ats) == sorted(set(starts.values()))
    missed = pwsh.plan_data(text, "$NotScheduled")
    assert missed == [{"VM": u.vm, "Reason": u.reason} for u in sched.unscheduled]
    assert not {u.vm for u in sched.unscheduled} & set(vms)


def test_script_shape() -> None:
    text = render(estate_schedule(), ExportOptions())
    assert "[CmdletBinding(SupportsShouldProcess = $true)]" in text  # gives -WhatIf
    assert text.count("ShouldProcess(") >= 5  # every change is guarded
    assert "Remove-VBRJob " not in text and "Remove-VBRJob\n" not in text  # never deletes jobs
    for a, b in ("{}", "()"):
        assert text.count(a) == text.count(b)
    # VM names are verbatim single-quoted strings with '' for a quote.
    assert "'o''brien app'" in text


def test_weekly_cycle_uses_selected_days() -> None:
    sched = estate_schedule(nights=7)
    text = render(sched, ExportOptions())
    assert {k for _, _, k, _ in _plan(text)} == {"Weekly"}
    assert "Days = @('Tuesday')" in text  # 2026-12-01 is a Tuesday

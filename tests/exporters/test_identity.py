"""Exports name VMs as the backup software knows them (issue 9 §2).

A disambiguated name (``web01 (dc1/folder)``) exists nowhere in vCenter: the planner carries
the real display name, MoRef, instance UUID and server into every job, and each exporter
addresses the VM by those, while people still see the disambiguated name.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pwsh
import pytest

from stagger.errors import InputError
from stagger.exporters.cron import render as cron_render
from stagger.exporters.quoting import slug
from stagger.exporters.registry import ExportOptions, render
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan

TOPOLOGY = {
    "hosts": [{"name": "esx01"}, {"name": "esx02"}],
    "datastores": [{"name": "DS1"}, {"name": "DS2"}],
    "vms": [
        {
            "name": "web01 (dc1/folder)",
            "display_name": "web01",
            "moref": "vm-101",
            "instance_uuid": "5001aaaa-0000-0000-0000-000000000101",
            "vcenter": "vc01.example.org",
            "host": "esx01",
            "disks": [{"datastore": "DS1", "size_gib": 20}],
        },
        {
            "name": "web01 (dc2/folder)",
            "display_name": "web01",
            "moref": "vm-202",
            "vcenter": "vc01.example.org",
            "host": "esx02",
            "disks": [{"datastore": "DS2", "size_gib": 20}],
        },
        {
            "name": "S2-SRV-3074 (https://vc/vm-12158)",
            "display_name": "S2-SRV-3074",
            "moref": "vm-12158",
            "vcenter": "vc02.example.org",
            "host": "esx02",
            "disks": [{"datastore": "DS2", "size_gib": 20}],
        },
        {"name": "plain", "host": "esx01", "disks": [{"datastore": "DS1", "size_gib": 20}]},
    ],
}
POLICY = {
    "timezone": "Europe/Berlin",
    "cycle": {"start": "2026-12-01", "nights": 1},
    "window": {"start": "20:00", "end": "06:00"},
    "throughput": {"mb_per_s": 100, "overhead_minutes": 5},
}


@pytest.fixture(scope="module")
def schedule() -> Schedule:
    topo = Topology.model_validate(TOPOLOGY)
    return plan(topo, Policy.model_validate(POLICY), PlanOptions(solver="greedy")).schedule


def test_planner_fills_the_vcenter_identity(schedule: Schedule) -> None:
    jobs = {j.vm: j for j in schedule.jobs}
    web = jobs["web01 (dc1/folder)"]
    assert (web.vm_display_name, web.vm_moref, web.vcenter) == (
        "web01",
        "vm-101",
        "vc01.example.org",
    )
    assert web.vm_instance_uuid == "5001aaaa-0000-0000-0000-000000000101"
    assert jobs["S2-SRV-3074 (https://vc/vm-12158)"].vm_moref == "vm-12158"
    plain = jobs["plain"]
    assert (plain.vm_display_name, plain.vm_moref, plain.vcenter) == (None, None, None)


def test_cron_uses_the_real_name_and_a_slug_for_the_log(schedule: Schedule) -> None:
    text = cron_render(schedule, ExportOptions())
    commands = [line.split(None, 5)[5] for line in text.splitlines() if line[:1].isdigit()]
    assert len(commands) == len(schedule.jobs)
    seen = set()
    for command in commands:
        argv = shlex.split(command.replace("\\%", "%"))
        vm = argv[argv.index("-m") + 1]
        log = argv[argv.index(">>") + 1]
        seen.add(vm)
        # The log path is one file in /tmp whatever the name holds (no "/" from the name).
        assert Path(log).parent == Path("/tmp") and Path(log).name.startswith("ghettoVCB-")
    assert seen == {"web01", "S2-SRV-3074", "plain"}
    assert f"/tmp/ghettoVCB-'{slug('web01 (dc1/folder)')}'.log" in text
    # People still see the disambiguated name in the comments.
    assert "# web01 (dc1/folder) (vCenter: web01): host esx01" in text


def test_veeam_finds_each_vm_by_real_name_and_moref(schedule: Schedule) -> None:
    text = render(schedule, "veeam", ExportOptions(per_vm=True))
    entries = pwsh.plan_data(text, "$Plan")
    vms = sorted((vm["Name"], vm["MoRef"], vm["VCenter"]) for e in entries for vm in e["VMs"])
    assert vms == [
        ("S2-SRV-3074", "vm-12158", "vc02.example.org"),
        ("plain", "", ""),
        ("web01", "vm-101", "vc01.example.org"),
        ("web01", "vm-202", "vc01.example.org"),
    ]
    # The lookup is exact (case-sensitive, no wildcard) and checks the MoRef when known.
    assert "Where-Object { $_.Name -ceq $VM.Name }" in text
    assert "Where-Object { $_.Reference -ceq $VM.MoRef }" in text
    assert "Find-VBRViEntity -VMsAndTemplates -Name" not in text
    # Per-VM job names come from the slug of the unique stagger name.
    assert {e["Name"] for e in entries} == {f"stagger {slug(j.vm)}" for j in schedule.jobs}


def test_bacula_ics_md_csv_carry_the_identity(schedule: Schedule) -> None:
    from stagger.exporters.jsoncsv import schedule_csv

    bacula = render(schedule, "bacula", ExportOptions())
    assert "VM S2-SRV-3074 (vm-12158, vc02.example.org)" in bacula
    ics = render(schedule, "ics", ExportOptions())
    assert "vCenter: web01\\, vm-101\\, vc01.example.org" in ics
    md = render(schedule, "md", ExportOptions())
    assert "web01\\, vm\\-202" in md  # the vCenter name column (escaped Markdown)
    csv_text = schedule_csv(schedule)
    assert "web01,vm-101,5001aaaa-0000-0000-0000-000000000101,vc01.example.org" in csv_text


def test_a_job_contradicting_its_topology_is_refused(schedule: Schedule) -> None:
    edited = schedule.model_copy(deep=True)
    edited.jobs[0].vm_moref = "vm-999"
    for fmt in ("cron", "veeam", "bacula", "ics", "md"):
        with pytest.raises(InputError, match="vm_moref"):
            render(edited, fmt, ExportOptions())

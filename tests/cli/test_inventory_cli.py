"""`stagger inventory ...` and `stagger audit` through typer's CliRunner, vCenter via vcsim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stagger.cli import app
from stagger.sources.yamlfile import load_topology
from tests.conftest import vcsim_harness

_harness = vcsim_harness  # the one loader (tests/conftest.py)


@pytest.fixture(scope="module")
def sim(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    s = vcsim_harness().start_vcsim(vcsim_binary, tmp_path_factory.mktemp("cli-vcsim"), vms=120)
    yield s
    s.stop()


runner = CliRunner()


def _conn(sim: Any) -> list[str]:
    """The simulator's port, user and CA options."""
    return ["--port", str(sim.port), "--user", sim.user, "--ca-file", str(sim.ca_file)]


def _vc_args(sim: Any, out: Path) -> list[str]:
    return ["inventory", "vcenter", "--vcenter", sim.host, *_conn(sim), "-o", str(out)]


def test_inventory_vcenter_with_raid_map(sim: Any, tmp_path: Path) -> None:
    raid = tmp_path / "raid.yaml"
    raid.write_text(
        "raid_groups:\n  RG-DC0: ['DC0-VMFS-0[1-3]']\n  RG-SAN: ['naa.600a0b80005ad101*']\n"
    )
    out = tmp_path / "topology.yaml"
    res = runner.invoke(
        app,
        [*_vc_args(sim, out), "--raid-map", str(raid)],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code == 0, res.output
    topo = load_topology(out)
    assert len(topo.vms) == sum(not v["template"] for v in sim.truth["vms"])
    groups = {g.name: g.datastores for g in topo.raid_groups}
    assert groups["RG-DC0"] == ["DC0-VMFS-01", "DC0-VMFS-02", "DC0-VMFS-03"]
    assert sorted(groups["RG-SAN"]) == [f"DC1-VMFS-0{i}" for i in range(1, 7)]
    assert "3 datastores in no RAID group" in res.output
    assert sim.password not in out.read_text() and sim.password not in res.output


def test_inventory_vcenter_wrong_password_writes_nothing(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "topology.yaml"
    res = runner.invoke(app, _vc_args(sim, out), env={"STAGGER_VSPHERE_PASSWORD": "wrong"})
    assert res.exit_code == 3
    assert "wrong user name or password" in res.output
    assert not out.exists()


def test_inventory_vcenter_closed_port_through_the_old_option_name(tmp_path: Path) -> None:
    """`--server` is kept as a hidden alias of `--vcenter`."""
    port = _harness().free_port()
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app,
        [
            "inventory",
            "vcenter",
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--user",
            "u",
            "-o",
            str(out),
        ],
        env={"STAGGER_VSPHERE_PASSWORD": "p"},
    )
    assert res.exit_code == 3 and "connection refused" in res.output and not out.exists()
    assert "--server" not in runner.invoke(app, ["inventory", "vcenter", "--help"]).output


def test_password_prompt(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app, _vc_args(sim, out), input=sim.password + "\n", env={"STAGGER_VSPHERE_PASSWORD": ""}
    )
    assert res.exit_code == 0, res.output
    assert out.exists()


def test_audit_live_json_and_fail_on(sim: Any) -> None:
    args = [
        "audit",
        "--vcenter",
        sim.host,
        "--port",
        str(sim.port),
        "--user",
        sim.user,
        "--insecure",
        "--snapshot-days",
        "30",
        "--json",
    ]
    env = {"STAGGER_VSPHERE_PASSWORD": sim.password}
    ok = runner.invoke(app, args, env=env)
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    expected_old = sum(1 for v in sim.truth["vms"] if not v["template"] and v["snapshots"])
    assert report["counts"]["snapshot_old"] >= expected_old > 0
    assert report["counts"]["consolidation"] == sum(
        v["consolidation_needed"] and not v["template"] for v in sim.truth["vms"]
    )
    failed = runner.invoke(app, [*args, "--fail-on", "consolidation"], env=env)
    assert failed.exit_code == 2
    bad = runner.invoke(app, [*args, "--fail-on", "nonsense"], env=env)
    assert bad.exit_code == 1 and "unknown check" in bad.output


def test_inventory_rvtools_and_audit_table(tmp_path: Path) -> None:
    folder = tmp_path / "rv"
    folder.mkdir()
    (folder / "vInfo.csv").write_text(
        "VM,Host,In Use MiB,Path,Consolidation Needed\nweb,esx1,2048,[DS1] web/web.vmx,True\n"
    )
    out = tmp_path / "t.yaml"
    res = runner.invoke(app, ["inventory", "rvtools", str(folder), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "vDisk missing" in res.output
    assert load_topology(out).vms[0].disks[0].datastore == "DS1"
    aud = runner.invoke(app, ["audit", "--rvtools", str(folder), "--fail-on", "any"])
    assert aud.exit_code == 2 and "consolidation" in aud.output
    strict = runner.invoke(app, ["inventory", "rvtools", str(tmp_path / "missing"), "-o", str(out)])
    assert strict.exit_code == 3


def _live(sim: Any) -> list[str]:
    """--vcenter and its connection options for the simulator."""
    return ["--vcenter", sim.host, *_conn(sim)]


def test_plan_straight_from_vcenter(sim: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "timezone: Europe/Berlin\ncycle: {start: 2026-12-01, nights: 7}\n"
        'window: {start: "18:00", end: "08:00"}\nthroughput: {mb_per_s: 400}\n'
    )
    out = tmp_path / "schedule.json"
    res = runner.invoke(
        app,
        [
            "plan",
            *_live(sim),
            "-p",
            str(policy),
            "-o",
            str(out),
            "--solver",
            "greedy",
        ],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code in (0, 2), res.output
    data = json.loads(out.read_text())
    planned = {j["vm"] for j in data["jobs"]} | {u["vm"] for u in data["unscheduled"]}
    assert len(planned) == sum(not v["template"] for v in sim.truth["vms"])
    assert len(data["jobs"]) > 0
    # Either a file or a server, not both / neither.
    res = runner.invoke(app, ["plan", "-p", str(policy), "-o", str(out)])
    assert res.exit_code == 1 and "give a topology file or --vcenter HOST" in res.output

    # The plan still matches the live estate: `check --vcenter` finds no drift.
    res = runner.invoke(
        app,
        [
            "check",
            str(out),
            *_live(sim),
        ],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code == 0, res.output
    assert "still match the estate" in res.output


def test_inventory_output_path_checked_before_reading(tmp_path: Path) -> None:
    """A bad -o is bad input (exit 1) found before any retrieval, not after it."""
    out = tmp_path / "missing" / "t.yaml"
    port = _harness().free_port()
    args = ["inventory", "vcenter", "--server", "127.0.0.1", "--port", str(port), "--user", "u"]
    res = runner.invoke(app, [*args, "-o", str(out)], env={"STAGGER_VSPHERE_PASSWORD": "p"})
    assert res.exit_code == 1 and "does not exist" in res.output, res.output
    res = runner.invoke(app, ["inventory", "rvtools", str(tmp_path / "no-export"), "-o", str(out)])
    assert res.exit_code == 1 and "does not exist" in res.output, res.output
    assert not (tmp_path / "missing").exists()


# --- one set of vCenter options on every command ------------------------------------------------

VCENTER_COMMANDS = [("inventory", "vcenter"), ("plan",), ("check",), ("audit",)]
SHARED = {
    "--vcenter",
    "--user",
    "--port",
    "--insecure",
    "--ca-file",
    "--timeout",
    "--max-response-mib",
    "--no-tags",
}


def _click_command(path: tuple[str, ...]) -> Any:
    import typer.main

    cmd: Any = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", VCENTER_COMMANDS, ids=" ".join)
def test_every_vcenter_command_has_the_same_options(path: tuple[str, ...]) -> None:
    params = {o: p for p in _click_command(path).params for o in p.opts}
    assert set(params) >= SHARED
    assert params["--timeout"].default == 120.0
    assert params["--server"].hidden  # old name, still accepted
    assert "--password" not in params  # the password never reaches argv


def test_cli_defaults_are_the_library_defaults() -> None:
    from stagger.cli import vcenter_options as cli_opts
    from stagger.sources import vcenter

    assert cli_opts.DEFAULT_TIMEOUT_S == vcenter.DEFAULT_TIMEOUT_S
    assert cli_opts.DEFAULT_MAX_RESPONSE_MIB == vcenter.DEFAULT_MAX_RESPONSE_MIB
    assert vcenter.VCenterOptions("h", "u", "p").timeout_s == vcenter.DEFAULT_TIMEOUT_S


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--timeout", "0"], "--timeout"),
        (["--max-response-mib", "0"], "--max-response-mib"),
        (["--insecure", "--ca-file", "x.pem"], "exclude each other"),
    ],
)
def test_bad_vcenter_option_values_are_bad_input(
    tmp_path: Path, extra: list[str], says: str
) -> None:
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app,
        ["inventory", "vcenter", "--vcenter", "127.0.0.1", "--user", "u", *extra, "-o", str(out)],
        env={"STAGGER_VSPHERE_PASSWORD": "p"},
    )
    assert res.exit_code == 1 and says in res.output and not out.exists()


def test_vcenter_in_url_form_and_alias_twice(tmp_path: Path) -> None:
    port = _harness().free_port()
    out = tmp_path / "t.yaml"
    env = {"STAGGER_VSPHERE_PASSWORD": "p"}
    res = runner.invoke(
        app,
        [
            "inventory",
            "vcenter",
            "--vcenter",
            f"https://LOCALHOST.:{port}/sdk",
            "--user",
            "u",
            "-o",
            str(out),
        ],
        env=env,
    )
    assert res.exit_code == 3 and f"localhost:{port}: connection refused" in res.output
    twice = runner.invoke(
        app,
        ["audit", "--vcenter", "a", "--server", "b", "--user", "u"],
        env=env,
    )
    assert twice.exit_code not in (0, 1, 3) and "--vcenter" in twice.output


def test_insecure_prints_a_warning(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "t.yaml"
    args = ["inventory", "vcenter", "--vcenter", sim.host, "--port", str(sim.port)]
    res = runner.invoke(
        app,
        [*args, "--user", sim.user, "--insecure", "-o", str(out)],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code == 0, res.output
    assert "warning: --insecure: the certificate of 127.0.0.1 is not verified" in res.output


def test_non_vsphere_https_server_exit_3_one_line(tmp_path: Path) -> None:
    from tests.vcsim import hostile

    cert = hostile.make_cert(tmp_path)
    out = tmp_path / "t.yaml"
    with hostile.servers(cert) as start:
        served = start(hostile.not_vsphere)
        res = runner.invoke(
            app,
            [
                "inventory",
                "vcenter",
                "--vcenter",
                f"127.0.0.1:{served.port}",
                "--user",
                "u",
                "--ca-file",
                str(cert[0]),
                "--timeout",
                "10",
                "-o",
                str(out),
            ],
            env={"STAGGER_VSPHERE_PASSWORD": "p"},
        )
    assert res.exit_code == 3, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "does not answer as a vSphere API" in lines[0], res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not out.exists()


def test_password_stays_out_of_debug_output(sim: Any, tmp_path: Path) -> None:
    """--debug prints the traceback of a failed login: the password is not in it."""
    out = tmp_path / "t.yaml"
    secret = "Wr0ng-but-s3cret-pw"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stagger.cli import main; main()",
            "--debug",
            *_vc_args(sim, out),
        ],
        env={**os.environ, "STAGGER_VSPHERE_PASSWORD": secret},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "InvalidLogin" in proc.stderr or "wrong user name or password" in proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert not out.exists()


def _rename_vm(sim: Any, new_name: str) -> str:
    """Rename one simulator VM through the vSphere API (Rename_Task); returns its MoRef id."""
    import ssl

    from pyVim.connect import Disconnect, SmartConnect
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    si = SmartConnect(host=sim.host, port=sim.port, user=sim.user, pwd=sim.password, sslContext=ctx)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.VirtualMachine], True
        )
        vm = next(v for v in view.view if not v.config.template)
        WaitForTask(vm.Rename_Task(newName=new_name))
        assert vm.name == new_name  # the server kept the newline
        return str(vm._moId)
    finally:
        Disconnect(si)


@pytest.fixture
def own_sim(vcsim_binary: Path, tmp_path: Path) -> Iterator[Any]:
    """A small simulator of its own: the test renames a VM in it."""
    s = vcsim_harness().start_vcsim(vcsim_binary, tmp_path / "vcsim", vms=40)
    yield s
    s.stop()


def test_vm_renamed_to_a_crontab_line_is_refused_end_to_end(own_sim: Any, tmp_path: Path) -> None:
    hostile_name = "a\n* * * * * id>/tmp/p;#"
    moref = _rename_vm(own_sim, hostile_name)
    out = tmp_path / "topology.yaml"
    res = runner.invoke(
        app, _vc_args(own_sim, out), env={"STAGGER_VSPHERE_PASSWORD": own_sim.password}
    )
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert f"VirtualMachine {moref}" in lines[0] and "field 'name'" in lines[0]
    assert repr(hostile_name) in lines[0] and "U+000A" in lines[0]
    assert not out.exists()
    assert list(tmp_path.glob("topology*")) == []


def test_identity_from_vcenter(sim: Any, tmp_path: Path) -> None:
    """Every VM carries its MoRef, instance UUID and server; renamed ones their real name."""
    out = tmp_path / "t.yaml"
    res = runner.invoke(app, _vc_args(sim, out), env={"STAGGER_VSPHERE_PASSWORD": sim.password})
    assert res.exit_code == 0, res.output
    topo = load_topology(out)
    truth = {v["instance_uuid"]: v for v in sim.truth["vms"] if not v["template"]}
    assert len(topo.vms) == len(truth)
    for vm in topo.vms:
        want = truth[vm.instance_uuid or ""]
        assert vm.vcenter == "127.0.0.1"
        assert vm.moref is not None and vm.moref.startswith("vm-")
        assert vm.vcenter_name == want["name"]
        assert (vm.display_name is not None) == (vm.name != want["name"])
    assert any(vm.display_name for vm in topo.vms)  # same-named VMs were disambiguated
    assert len({vm.moref for vm in topo.vms}) == len(topo.vms)


def test_warnings_print_names_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A VM named `[/x]` in a loader warning is printed, not parsed as Rich markup."""
    from stagger.cli.vcenter_options import print_warnings

    print_warnings(["vm '[/x]' (vm-7): no virtual disks: skipped", "vm '[bold]b' (vm-8): x"])
    err = capsys.readouterr().err
    assert "vm '[/x]' (vm-7)" in err and "vm '[bold]b' (vm-8)" in err


def test_error_line_prints_names_as_text(tmp_path: Path) -> None:
    """An error quoting a name with Rich markup (`[/x]`) prints it; no MarkupError traceback."""
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app,
        ["inventory", "vcenter", "--vcenter", "vc[/x] evil", "--user", "u", "-o", str(out)],
        env={"STAGGER_VSPHERE_PASSWORD": "p"},
    )
    assert res.exit_code == 1, res.output
    assert "not a server name: 'vc[/x] evil'" in res.output
    assert not out.exists()

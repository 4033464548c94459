"""`stagger inventory vcenter --proxy-name/--proxy-tag --infra-output` against vcsim.

The simulator's estate gets proxy VMs the way an admin makes them: through the vSphere API
(Rename_Task, ReconfigVM_Task for the vCPUs) and a vSphere tag through the REST API. One
proxy VM per cluster and per standalone host (two datacenters: 4 clusters, 2 standalone
hosts), one of them with a hostile name. The reach written must be where each proxy runs.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stagger.cli import app
from stagger.model.infrastructure import ProxyReach
from stagger.sources.yamlfile import load_infrastructure, load_topology
from tests.conftest import vcsim_harness
from tests.sources.test_vcenter_tags import _Rest

runner = CliRunner()
HOSTILE = "prx-’+$(id)+’ #> [/x] {a: b}\u2028- c: d \"q\" 'x' %n ${HOME}"
TAG = "Role:veeam-proxy"


@dataclass
class Proxies:
    sim: Any
    expected: dict[str, tuple[ProxyReach, int]]
    """Proxy VM name -> the reach and vCPUs it was given."""
    tagged: str
    """The VM tagged Role:veeam-proxy (not named prx-), its name in vCenter."""
    tagged_reach: ProxyReach
    tagged_moref: str


def _make_proxies(sim: Any) -> Proxies:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    si = SmartConnect(host=sim.host, port=sim.port, user=sim.user, pwd=sim.password, sslContext=ctx)
    expected: dict[str, tuple[ProxyReach, int]] = {}
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.VirtualMachine], True
        )
        vms = sorted(
            (v for v in view.view if not v.config.template and v.runtime.powerState == "poweredOn"),
            key=lambda v: v._moId,
        )
        done: set[str] = set()
        spare = []
        for vm in vms:
            cr = vm.runtime.host.parent
            if cr._moId in done:
                spare.append(vm)
                continue
            done.add(cr._moId)
            clustered = isinstance(cr, vim.ClusterComputeResource)
            reach = (
                ProxyReach(cluster=cr.name) if clustered else ProxyReach(host=vm.runtime.host.name)
            )
            cpus = 2 + len(done)
            name = f"prx-{cr.name}"
            WaitForTask(vm.Rename_Task(newName=name))
            WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(numCPUs=cpus)))
            expected[name] = (reach, cpus)
        # A second proxy in a cluster, named as an attacker would name it.
        hostile = next(
            v for v in spare if isinstance(v.runtime.host.parent, vim.ClusterComputeResource)
        )
        spare.remove(hostile)
        WaitForTask(hostile.Rename_Task(newName=HOSTILE))
        WaitForTask(hostile.ReconfigVM_Task(spec=vim.vm.ConfigSpec(numCPUs=3)))
        assert hostile.name == HOSTILE  # the server kept every character
        expected[HOSTILE] = (ProxyReach(cluster=hostile.runtime.host.parent.name), 3)
        tagged = next(
            v for v in spare if isinstance(v.runtime.host.parent, vim.ClusterComputeResource)
        )
        WaitForTask(tagged.ReconfigVM_Task(spec=vim.vm.ConfigSpec(numCPUs=8)))
        tagged_name, tagged_moref = tagged.name, tagged._moId
        tagged_reach = ProxyReach(cluster=tagged.runtime.host.parent.name)
    finally:
        Disconnect(si)
    assert len(expected) == 7  # 4 clusters + 2 standalone hosts + the hostile one
    category, tag = TAG.split(":")
    _Rest(sim).tag_vm(category, tag, tagged_moref)
    return Proxies(sim, expected, tagged_name, tagged_reach, tagged_moref)


@pytest.fixture(scope="module")
def proxies(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxies]:
    """A small simulator of this module's own: its VMs are renamed into proxies."""
    sim = vcsim_harness().start_vcsim(vcsim_binary, tmp_path_factory.mktemp("prx-vcsim"), vms=40)
    try:
        yield _make_proxies(sim)
    finally:
        sim.stop()


def _args(sim: Any, topo: Path, *more: str) -> list[str]:
    conn = ["--port", str(sim.port), "--user", sim.user, "--ca-file", str(sim.ca_file)]
    return ["inventory", "vcenter", "--vcenter", sim.host, *conn, "-o", str(topo), *more]


def _run(sim: Any, topo: Path, *more: str) -> Any:
    return runner.invoke(
        app, _args(sim, topo, *more), env={"STAGGER_VSPHERE_PASSWORD": sim.password}
    )


RATES = ("--transport", "hotadd=400", "--transport", "nbd=120")


def test_proxy_vms_get_their_cluster_or_host_as_reach_and_pass_infra_check(
    proxies: Proxies, tmp_path: Path
) -> None:
    topo, infra = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    res = _run(proxies.sim, topo, "--proxy-name", "prx-*", *RATES, "--infra-output", str(infra))
    assert res.exit_code == 0, res.output
    model = load_infrastructure(infra)
    got = {p.name: (p.reaches, p.max_tasks) for p in model.proxies}
    assert got == proxies.expected
    assert all(p.modes == ["hotadd", "nbd"] for p in model.proxies)
    assert model.transport.model_dump(exclude_none=True) == {
        "hotadd": {"mb_per_s": 400.0},
        "nbd": {"mb_per_s": 120.0},
    }
    assert model.repositories == []
    assert "did not measure them" in res.output
    # The proxy VMs stay in the topology (they are backed up like any VM).
    assert set(proxies.expected) <= {vm.name for vm in load_topology(topo).vms}
    check = runner.invoke(app, ["infra", "check", str(topo), str(infra)])
    assert check.exit_code == 0, check.output
    assert "ok: 7 proxies, 0 repositories" in check.output


def test_proxy_tag_picks_the_tagged_vm_and_unreached_vms_are_warned_then_refused(
    proxies: Proxies, tmp_path: Path
) -> None:
    topo, infra = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    res = _run(proxies.sim, topo, "--proxy-tag", TAG, *RATES, "--infra-output", str(infra))
    assert res.exit_code == 0, res.output
    (p,) = load_infrastructure(infra).proxies
    # The proxy is named as the VM is in the topology written in the same run: its vCenter
    # name, or the unique name stagger gives it when another VM shares that name (vcsim's
    # VM ids, and so which VM is tagged, vary between runs).
    (vm,) = [v for v in load_topology(topo).vms if v.moref == proxies.tagged_moref]
    assert vm.vcenter_name == proxies.tagged
    assert p.name == vm.name and p.reaches == proxies.tagged_reach and p.max_tasks == 8
    # One cluster has a proxy: the others' VMs are named, counted, in one warning.
    assert "reached by no proxy" in res.output and "stagger infra check" in res.output
    check = runner.invoke(app, ["infra", "check", str(topo), str(infra)])
    assert check.exit_code == 1 and "no proxy reaches it" in check.output


def test_no_matching_vm_is_one_line_exit_1_and_nothing_written(
    proxies: Proxies, tmp_path: Path
) -> None:
    topo, infra = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    topo.write_text("old topology\n")
    res = _run(proxies.sim, topo, "--proxy-name", "bkp-*", *RATES, "--infra-output", str(infra))
    assert res.exit_code == 1, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no VM matches --proxy-name 'bkp-*'" in errors[0], res.output
    assert topo.read_text() == "old topology\n" and not infra.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["topology.yaml"]


def test_no_tags_read_is_said_when_a_tag_picks_nothing(proxies: Proxies, tmp_path: Path) -> None:
    topo, infra = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    res = _run(
        proxies.sim, topo, "--no-tags", "--proxy-tag", TAG, *RATES, "--infra-output", str(infra)
    )
    assert res.exit_code == 1 and "vSphere tags were not read" in res.output
    assert not topo.exists() and not infra.exists()


def test_merge_refreshes_a_file_in_place_keeping_repositories_and_rates(
    proxies: Proxies, tmp_path: Path
) -> None:
    topo, infra = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    infra.write_text(
        "proxies:\n"
        "  - {name: prx-san, max_tasks: 8, modes: [san], reaches: {datastore: 'DC0-VMFS-*'}}\n"
        "  - {name: prx-DC0_C0, max_tasks: 1, modes: [nbd]}\n"
        "transport: {hotadd: {mb_per_s: 350}, nbd: {mb_per_s: 90}, san: {mb_per_s: 600}}\n"
        "repositories:\n  - {name: repo-1, max_tasks: 12, ingest_mb_per_s: 1500}\n"
    )
    res = _run(
        proxies.sim,
        topo,
        "--proxy-name",
        "prx-DC0_*",
        "--infra-merge",
        str(infra),
        "--infra-output",
        str(infra),
    )
    assert res.exit_code == 0, res.output
    model = load_infrastructure(infra)
    assert [p.name for p in model.proxies] == ["prx-san", "prx-DC0_C0", "prx-DC0_C1", "prx-DC0_H0"]
    assert model.proxies[1].reaches == proxies.expected["prx-DC0_C0"][0]
    assert [r.name for r in model.repositories] == ["repo-1"]
    assert model.transport.model_dump(exclude_none=True) == {
        "hotadd": {"mb_per_s": 350.0},
        "san": {"mb_per_s": 600.0},
        "nbd": {"mb_per_s": 90.0},
    }
    cpus = proxies.expected["prx-DC0_C0"][1]
    assert f"replaced by the VM read from vCenter: max_tasks 1 -> {cpus}" in res.output
    assert "what --transport said" not in res.output  # every rate came from the file


@pytest.mark.parametrize(
    ("more", "expected"),
    [
        (["--proxy-name", "prx-*"], "--proxy-name needs --infra-output FILE"),
        (["--transport", "nbd=1"], "--transport needs --infra-output FILE"),
        (["--infra-output", "{out}"], "--infra-output needs --proxy-name GLOB or --proxy-tag"),
        (
            ["--proxy-name", "prx-*", "--transport", "hotadd=400", "--infra-output", "{out}"],
            "no rate for mode nbd",
        ),
        (["--proxy-name", "", *RATES, "--infra-output", "{out}"], "empty name pattern"),
        (["--proxy-name", "p", *RATES, "--infra-output", "{topo}"], "is asked for twice"),
        (
            ["--proxy-name", "p", *RATES, "--infra-output", "{tmp}/no/infra.yaml"],
            "does not exist",
        ),
        (
            ["--proxy-name", "p", "--infra-merge", "{tmp}/none.yaml", "--infra-output", "{out}"],
            "none.yaml",
        ),
    ],
)
def test_bad_proxy_options_are_refused_before_vcenter_is_read(
    tmp_path: Path, more: list[str], expected: str
) -> None:
    """A closed port: any of these reaching the server would be exit 3, not 1."""
    topo, out = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    more = [m.format(out=out, topo=topo, tmp=tmp_path) for m in more]
    port = vcsim_harness().free_port()
    args = ["inventory", "vcenter", "--vcenter", "127.0.0.1", "--port", str(port), "--user", "u"]
    res = runner.invoke(app, [*args, "-o", str(topo), *more], env={"STAGGER_VSPHERE_PASSWORD": "p"})
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], res.output
    assert sorted(tmp_path.iterdir()) == []


def test_infra_check_prints_the_reached_names_as_text(tmp_path: Path) -> None:
    """A proxy VM read from vCenter may be named `[/x]`: `infra check` listed the VMs a proxy
    reaches as Rich markup, and such a name ended the command with a MarkupError."""
    topo, infra = tmp_path / "topology.yaml", tmp_path / "infra.yaml"
    topo.write_text(
        "hosts: [{name: esx01}]\n"
        "vms: [{name: '[/x] [bold]b', host: esx01, disks: [{size_gib: 10}]}]\n"
    )
    infra.write_text(
        "proxies: [{name: '[/x]', max_tasks: 2, modes: [nbd]}]\ntransport: {nbd: {mb_per_s: 100}}\n"
    )
    res = runner.invoke(app, ["infra", "check", str(topo), str(infra)])
    assert res.exit_code == 0, res.output
    assert "'[/x] [bold]b'" in res.output

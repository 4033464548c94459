"""Performance history: CSV exports (esxtop -b, PowerCLI Get-Stat) and the simulator's
PerformanceManager, end to end to a blackout file that `plan` accepts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stagger.busyhours import Settings, detect
from stagger.cli import app
from stagger.errors import InputError, SourceProtocolError
from stagger.sources import perfcsv
from stagger.sources.perf import choose_interval, load_perf
from stagger.sources.perfcsv import load_perf_csv, parse_perf_csv
from stagger.sources.vcenter import VCenterOptions
from stagger.sources.yamlfile import load_blackouts

runner = CliRunner()
UTC_ZONE = ZoneInfo("UTC")
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def _esxtop(host: str, weeks: int = 2, step_s: int = 600, zone: str = "(UTC)(0)") -> str:
    """An esxtop batch export with CPU busy Tuesday 01:00-03:00 (host clock) every week."""
    h = f"\\\\{host}\\"
    head = [
        f"(PDH-CSV 4.0) {zone}",
        h + "Memory\\Machine MBytes",
        h + "Physical Cpu(0)\\% Util Time",
        h + "Physical Cpu(_Total)\\% Util Time",
        h + "Physical Disk SCSI Device(naa.600a0980)\\Average Guest MilliSec/Command",
        h + "Physical Disk SCSI Device(naa.600a0981)\\Average Guest MilliSec/Command",
        h + "Network Port(DvsPortset-0:50331650:vmnic0)\\MBits Transmitted/sec",
        h + "Network Port(DvsPortset-0:50331650:vmnic0)\\MBits Received/sec",
        h + "Network Port(DvsPortset-0:50331651:vmk0)\\MBits Received/sec",
    ]
    rows = [head]
    for i in range(1, weeks * 7 * 24 * 3600 // step_s + 1):
        t = MONDAY + timedelta(seconds=i * step_s)
        begin = t - timedelta(seconds=step_s)
        busy = begin.weekday() == 1 and 1 <= begin.hour < 3
        rows.append(
            [
                t.strftime("%m/%d/%Y %H:%M:%S"),
                "4096",
                "100",
                "93.5" if busy else "21.0",
                "3.0",
                "45.0" if busy else "4.0",
                "80",
                "160",
                "999",
            ]
        )
    return _csv(rows)


def test_esxtop_batch_columns_are_read_and_the_pattern_found() -> None:
    hist = parse_perf_csv(_esxtop("esx-01.lab"), "b.csv", UTC_ZONE)
    assert hist.layout == "esxtop batch"
    by = {s.counter.key: s for s in hist.series}
    assert set(by) == {"cpu.usage.average", "disk.maxTotalLatency.latest", "net.usage.average"}
    assert all(s.name == "esx-01.lab" and s.interval_s == 600 for s in hist.series)
    assert {v for _, v in by["cpu.usage.average"].samples} == {93.5, 21.0}  # _Total, not CPU 0
    assert max(v for _, v in by["disk.maxTotalLatency.latest"].samples) == 45.0  # worst device
    assert {v for _, v in by["net.usage.average"].samples} == {30.0}  # (80 + 160) / 8, no vmk
    assert "3 of 8 esxtop columns not used" in hist.warnings[0]  # memory, CPU 0, vmk0
    _, periods = detect(hist.series, Settings(tz=UTC_ZONE))
    assert [(p.name, p.label) for p in periods] == [("esx-01.lab", "Tue 01:00 for 2h")]
    assert [e.counter for e in periods[0].evidence] == [
        "cpu.usage.average",
        "disk.maxTotalLatency.latest",
    ]


def test_esxtop_zone_bias_is_applied() -> None:
    # PDH bias: UTC = local + bias; a host 480 min behind UTC wrote 01:00 for 09:00 UTC.
    hist = parse_perf_csv(_esxtop("h", weeks=1, zone="(Pacific Standard Time)(480)"), "b", UTC_ZONE)
    first = hist.series[0].samples[0][0]
    assert first == MONDAY + timedelta(minutes=10, hours=8)


@pytest.mark.parametrize(
    "host",
    [
        'esx "quoted", with commas',
        "<script>alert(1)</script>",
        "ホスト-01",
        "esx\u2028line",
        "__proto__",
    ],
)
def test_hostile_host_names_are_kept_as_text(host: str) -> None:
    hist = parse_perf_csv(_esxtop(host, weeks=1), "b.csv", UTC_ZONE)
    assert {s.name for s in hist.series} == {host}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ('"Time","x"\r\n"1","2"\r\n', "not a performance export"),
        (
            '"(PDH-CSV 4.0) (UTC)(0)","\\\\h\\Physical Cpu(_Total)"\r\n',
            "Object(Instance)",
        ),
        (
            '"(PDH-CSV 4.0) (UTC)(0)","\\\\h\\Memory\\Free MBytes"\r\n'
            '"11/02/2026 00:00:00","1"\r\n',
            "no CPU, disk latency or vmnic network column",
        ),
        (
            '"(PDH-CSV 4.0) (UTC)(0)","\\\\h\x1b[31m\\Physical Cpu(_Total)\\% Util Time"\r\n',
            "control character",
        ),
        (
            '"(PDH-CSV 4.0) (UTC)(0)","\\\\h\\Physical Cpu(_Total)\\% Util Time"\r\n'
            '"yesterday","5"\r\n',
            "'yesterday' is not a time stamp",
        ),
        ('"Value","Timestamp","MetricId","Entity","EntityId"\r\n"1","x', "not valid CSV"),
        (
            '"Value","Timestamp","MetricId","Entity","EntityId"\r\n'
            '"-3","2026-11-02T00:00:00","cpu.usage.average","h","HostSystem-host-1"\r\n',
            "field 'Value'",
        ),
        (
            '"Value","Timestamp","MetricId","Entity","EntityId"\r\n'
            '"3","2026-11-02T00:00:00","mem.usage.average","h","HostSystem-host-1"\r\n',
            "no rows of a counter busy-hours reads",
        ),
    ],
)
def test_unusable_csv_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_perf_csv(text, "perf.csv", UTC_ZONE)
    line = str(err.value)
    assert message in line and line.startswith("perf.csv") and "\n" not in line


def test_getstat_export_units_kinds_and_skips() -> None:
    head = [
        "Value",
        "Timestamp",
        "MetricId",
        "Unit",
        "Entity",
        "EntityId",
        "IntervalSecs",
        "Instance",
    ]
    rows = [
        head,
        [
            "2048",
            "2026-11-02 00:30:00",
            "net.usage.average",
            "KBps",
            "esx01",
            "HostSystem-host-1",
            "1800",
            "",
        ],
        [
            "512",
            "2026-11-02 00:30:00",
            "net.usage.average",
            "KBps",
            "esx01",
            "HostSystem-host-1",
            "1800",
            "vmnic0",
        ],
        [
            "77.5",
            "2026-11-02 00:30:00",
            "cpu.usage.average",
            "%",
            "PROD",
            "ClusterComputeResource-domain-c7",
            "1800",
            "",
        ],
        [
            "12",
            "2026-11-02 00:30:00",
            "cpu.usage.average",
            "%",
            "vm1",
            "VirtualMachine-vm-1",
            "1800",
            "",
        ],
        [
            "9",
            "2026-11-02 00:30:00",
            "datastore.throughput.contention.average",
            "ms",
            "DS 1",
            "Datastore-ds-1",
            "1800",
            "",
        ],
    ]
    hist = parse_perf_csv(_csv(rows), "g.csv", ZoneInfo("Europe/Berlin"))
    got = {(s.kind, s.name, s.counter.key): s.samples for s in hist.series}
    assert got[("host", "esx01", "net.usage.average")][0][1] == 2.0  # KBps -> MB/s
    assert got[("cluster", "PROD", "cpu.usage.average")][0][1] == 77.5
    assert ("datastore", "DS 1", "datastore.throughput.contention.average") in got
    # naive time stamps are read in the zone given (Berlin, UTC+1 in November)
    assert got[("host", "esx01", "net.usage.average")][0][0] == datetime(
        2026, 11, 1, 23, 30, tzinfo=UTC
    )
    assert sorted(hist.warnings) == [
        "g.csv: 1 rows of device instances not used",
        "g.csv: 1 rows of entity type 'VirtualMachine' not used",
    ]


def test_csv_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.csv"
    p.write_text(_esxtop("h", weeks=1))
    monkeypatch.setattr(perfcsv, "MAX_CSV_BYTES", 1000)
    with pytest.raises(InputError, match="more than the 0 MiB read"):
        load_perf_csv(p)
    monkeypatch.setattr(perfcsv, "MAX_CSV_BYTES", 1 << 30)
    monkeypatch.setattr(perfcsv, "MAX_FIELD_CHARS", 20)
    with pytest.raises(InputError, match="a cell of"):
        load_perf_csv(p)


_GETSTAT_HEAD = '"Value","Timestamp","MetricId","Entity","EntityId","IntervalSecs"\r\n'


@pytest.mark.parametrize(
    ("row", "message"),
    [
        # An interval of 30 000 years would be walked hour by hour: refused at the edge.
        (
            '"5","2026-11-02T00:00:00","cpu.usage.average","h","HostSystem-1","1e12"',
            "more than a day",
        ),
        # Year 1 with a zone would overflow the arithmetic (OverflowError, a traceback).
        (
            '"5","0001-01-01T00:00:00+10:00","cpu.usage.average","h","HostSystem-1","300"',
            "plausible",
        ),
    ],
)
def test_hostile_intervals_and_times_are_refused(row: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_perf_csv(_GETSTAT_HEAD + row + "\r\n", "g.csv", UTC_ZONE)


def test_esxtop_samples_a_year_apart_are_refused() -> None:
    text = _csv(
        [
            ["(PDH-CSV 4.0) (UTC)(0)", "\\\\h\\Physical Cpu(_Total)\\% Util Time"],
            ["01/01/2025 00:00:00", "5"],
            ["01/01/2026 00:00:00", "5"],
        ]
    )
    with pytest.raises(InputError, match="more than a day"):
        parse_perf_csv(text, "b.csv", UTC_ZONE)


def test_csv_cli_errors_exit_1_nothing_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe not utf-8")
    out = tmp_path / "busy.yaml"
    res = runner.invoke(app, ["busy-hours", "--csv", str(bad), "-o", str(out)])
    assert res.exit_code == 1 and "not UTF-8" in res.output
    res = runner.invoke(app, ["busy-hours", "--csv", str(tmp_path / "none.csv"), "-o", str(out)])
    assert res.exit_code == 1 and "file not found" in res.output
    assert not out.exists()


_cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(_cells, min_size=1, max_size=6),
    body=st.lists(st.lists(_cells, max_size=6), max_size=6),
    pdh=st.booleans(),
    getstat=st.booleans(),
)
def test_any_csv_is_read_or_refused_in_one_line(
    header: list[str], body: list[list[str]], pdh: bool, getstat: bool
) -> None:
    if pdh:
        header = ["(PDH-CSV 4.0) (UTC)(0)", *header]
    elif getstat:
        header = ["Value", "Timestamp", "MetricId", "Entity", "EntityId", *header]
    try:
        hist = parse_perf_csv(_csv([header, *body]), "f.csv", UTC_ZONE)
    except InputError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)
    else:
        assert hist.series


def test_interval_choice() -> None:
    day, week, month = 86400, 7 * 86400, 30 * 86400
    vc = [(300, day, True), (1800, week, True), (7200, month, True), (86400, 365 * day, True)]
    assert choose_interval(vc, 1) == (300, [])
    assert choose_interval(vc, 14) == (7200, [])
    # A disabled level is skipped; a history shorter than asked is used, with a warning.
    assert (
        choose_interval([(300, day, True), (1800, week, False), (7200, month, True)], 5)[0] == 7200
    )
    period, warnings = choose_interval([(300, day, True)], 14)
    assert period == 300 and "no statistics interval keeps 14 days" in warnings[0]
    assert "assuming vCenter's defaults" in choose_interval([], 14)[1][0]
    # A period longer than a day is no hour-of-week evidence: never chosen.
    assert choose_interval([(10**9, 10**12, True), (7200, month, True)], 60)[0] == 7200


# --- the simulator's PerformanceManager ----------------------------------------------------------


def _opts(sim: Any, **kw: Any) -> VCenterOptions:
    return VCenterOptions(
        server=sim.host,
        port=sim.port,
        user=sim.user,
        password=sim.password,
        ca_file=str(sim.ca_file),
        **kw,
    )


def test_perf_manager_series_for_every_host_and_datastore(vcsim: Any) -> None:
    now = datetime.now(UTC)
    hist = load_perf(_opts(vcsim), 14, now=now)
    hosts = {s.name for s in hist.series if s.kind == "host"}
    stores = {s.name for s in hist.series if s.kind == "datastore"}
    assert hosts == set(hist.cluster_of) and len(hosts) >= 2
    assert stores
    keys = {(s.kind, s.counter.key) for s in hist.series}
    assert {
        ("host", "cpu.usage.average"),
        ("host", "disk.maxTotalLatency.latest"),
        ("host", "net.usage.average"),
        ("datastore", "datastore.throughput.usage.average"),
    } <= keys
    # The simulator lists no historical intervals: the vCenter default for 14 days is 2 h.
    assert hist.interval_s == 7200 and "assuming vCenter's defaults" in hist.warnings[0]
    cpu = next(s for s in hist.series if s.counter.key == "cpu.usage.average")
    assert all(0 <= v <= 100 for _, v in cpu.samples)  # hundredths of a percent converted
    assert cpu.samples[0][0] >= now - timedelta(days=14, seconds=1) and len(cpu.samples) > 100
    # Bulk: far fewer QueryPerf calls than entities.
    assert hist.query_calls < len(hosts) + len(stores)


def test_perf_load_is_bounded_by_the_byte_cap(vcsim: Any) -> None:
    with pytest.raises(SourceProtocolError, match="more than 1 MiB"):
        load_perf(_opts(vcsim, max_response_mib=1), 14)


def test_busy_hours_against_the_simulator_plans(vcsim: Any, tmp_path: Path) -> None:
    env = {"STAGGER_VSPHERE_PASSWORD": vcsim.password}
    vc = ["--vcenter", f"{vcsim.host}:{vcsim.port}", "--user", vcsim.user]
    vc += ["--ca-file", str(vcsim.ca_file)]
    busy, html = tmp_path / "busy.yaml", tmp_path / "profile.html"
    res = runner.invoke(
        app,
        ["busy-hours", *vc, "--threshold-cpu", "40", "-o", str(busy), "--html", str(html)],
        env=env,
    )
    assert res.exit_code == 0, res.output
    loaded = load_blackouts(busy)
    assert loaded.timezone == "UTC" and loaded.blackouts
    assert "cpu.usage.average p95" in busy.read_text()
    assert "<svg" in html.read_text()
    topo = tmp_path / "topo.yaml"
    res = runner.invoke(app, ["inventory", "vcenter", *vc, "-o", str(topo)], env=env)
    assert res.exit_code == 0, res.output
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "timezone: UTC\ncycle: {start: 2026-12-01, nights: 7}\n"
        'window: {start: "20:00", end: "06:00"}\nthroughput: {mb_per_s: 400}\n'
        "limits: {per_host: 2, per_datastore: 2}\n"
    )
    out = tmp_path / "s.json"
    res = runner.invoke(
        app,
        [
            "plan",
            str(topo),
            "-p",
            str(policy),
            "-o",
            str(out),
            "--blackouts",
            str(busy),
            "--solver",
            "greedy",
        ],
    )
    assert res.exit_code in (0, 2), res.output
    res = runner.invoke(
        app, ["validate", str(topo), str(policy), str(out), "--blackouts", str(busy)]
    )
    assert res.exit_code == 0, res.output


def test_busy_hours_vcenter_failure_exit_3_nothing_written(vcsim: Any, tmp_path: Path) -> None:
    out = tmp_path / "busy.yaml"
    res = runner.invoke(
        app,
        [
            "busy-hours",
            "--vcenter",
            f"{vcsim.host}:{vcsim.port}",
            "--user",
            vcsim.user,
            "--ca-file",
            str(vcsim.ca_file),
            "--max-response-mib",
            "1",
            "-o",
            str(out),
        ],
        env={"STAGGER_VSPHERE_PASSWORD": vcsim.password},
    )
    assert res.exit_code == 3, res.output
    assert not out.exists()


def test_days_are_bounded(vcsim: Any) -> None:
    with pytest.raises(InputError, match="must be 1 to 366"):
        load_perf(_opts(vcsim), 0)

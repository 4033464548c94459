"""Busy-hour detection on recorded series with planted patterns, and `plan --blackouts`."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from stagger.busyhours import (
    CPU,
    DISK_LATENCY,
    NET,
    Series,
    Settings,
    blackouts_yaml,
    cluster_series,
    detect,
    percentile,
)
from stagger.cli import app
from stagger.sources.perfcsv import load_perf_csv
from stagger.sources.yamlfile import load_blackouts
from tests.factories import GIB_PER_HOUR, make_policy

runner = CliRunner()
FIXTURE = Path(__file__).parent / "data" / "busy_getstat.csv"
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, tzinfo=BERLIN)


def _found(settings: Settings | None = None) -> list[tuple[str, str, str]]:
    hist = load_perf_csv(FIXTURE)
    _, periods = detect(hist.series, settings or Settings(tz=BERLIN))
    return [(p.kind, p.name, p.label) for p in periods]


def test_planted_pattern_found_exactly_with_evidence() -> None:
    hist = load_perf_csv(FIXTURE)
    _, periods = detect(hist.series, Settings(tz=BERLIN))
    assert [(p.kind, p.name, p.label, p.rrule) for p in periods] == [
        (
            "datastore",
            "DS-01",
            "Sat 02:00 for 2h",
            "FREQ=WEEKLY;BYDAY=SA;BYHOUR=2;BYMINUTE=0;BYSECOND=0",
        ),
        (
            "host",
            "esx01",
            "Wed 01:00 for 2h",
            "FREQ=WEEKLY;BYDAY=WE;BYHOUR=1;BYMINUTE=0;BYSECOND=0",
        ),
        # Sunday 23:00 to Monday 01:00 is one period, not two.
        (
            "host",
            "esx02",
            "Sun 23:00 for 2h",
            "FREQ=WEEKLY;BYDAY=SU;BYHOUR=23;BYMINUTE=0;BYSECOND=0",
        ),
    ]
    (ev,) = periods[1].evidence
    assert ev.counter == "cpu.usage.average" and ev.percentile == 95
    assert ev.threshold == 80 and (ev.weeks_over, ev.weeks_seen) == (3, 3)
    assert 88 <= ev.peak <= 97
    (ds,) = periods[0].evidence
    assert ds.counter == "datastore.throughput.contention.average" and ds.unit == "ms"
    assert 35 <= ds.peak <= 50


def test_one_bad_week_and_isolated_spikes_are_not_reported() -> None:
    # The fixture holds esx01 at 99 % on one Thursday 14:00-15:00 and 12 single spikes.
    assert not any("Thu 14:00" in label for _, _, label in _found())
    # Asking for one week in three is enough: the Thursday is reported, so it was there.
    loose = _found(Settings(tz=BERLIN, min_share=0.3))
    assert ("host", "esx01", "Thu 14:00 for 1h") in loose


def test_pure_noise_is_not_reported() -> None:
    rng = random.Random(7)
    samples = [
        (MONDAY.astimezone(UTC) + timedelta(minutes=5 * i), rng.uniform(0, 79.9))
        for i in range(1, 4 * 7 * 24 * 12)
    ]
    _, periods = detect([Series("host", "h", CPU, 300, samples)], Settings(tz=BERLIN))
    assert periods == []


def test_local_time_zone_moves_the_hours() -> None:
    # The same instants, read in UTC, are an hour earlier (Berlin is UTC+1 in November).
    labels = {(n, lab) for _, n, lab in _found(Settings(tz=ZoneInfo("UTC")))}
    assert ("esx01", "Wed 00:00 for 2h") in labels


def test_threshold_and_percentile_are_used() -> None:
    assert _found(Settings(tz=BERLIN, percentile=95.0, min_weeks=4)) == []
    hist = load_perf_csv(FIXTURE)
    profiles, _ = detect(hist.series, Settings(tz=BERLIN))
    esx01 = next(p for p in profiles if p.name == "esx01")
    wed_1 = esx01.hours[2 * 24 + 1]
    assert wed_1.weeks_seen == 3 and wed_1.level > 88


def _weekly(
    hours: set[int], busy: float, idle: float, weeks: int = 2
) -> list[tuple[datetime, float]]:
    out = []
    for i in range(1, weeks * 168 + 1):
        end = MONDAY + timedelta(hours=i)
        hour = (i - 1) % 168
        out.append((end.astimezone(UTC), busy if hour in hours else idle))
    return out


def test_cluster_is_the_aggregate_of_its_hosts() -> None:
    # Mean CPU: two hosts at 90 % on Monday 03:00 make the cluster busy; one alone does not.
    a = Series("host", "a", CPU, 3600, _weekly({3, 10}, 90, 20))
    b = Series("host", "b", CPU, 3600, _weekly({3}, 90, 20))
    clusters = cluster_series([a, b], {"a": "C1", "b": "C1"})
    assert [(c.kind, c.name) for c in clusters] == [("cluster", "C1")]
    _, periods = detect(clusters, Settings(tz=BERLIN))
    assert [(p.name, p.start_hour, p.hours) for p in periods] == [("C1", 3, 1)]
    # Latency takes the worst host; network adds the hosts up.
    lat = cluster_series(
        [
            Series("host", "a", DISK_LATENCY, 3600, _weekly({5}, 30, 2)),
            Series("host", "b", DISK_LATENCY, 3600, _weekly(set(), 30, 2)),
        ],
        {"a": "C1", "b": "C1"},
    )
    assert max(v for _, v in lat[0].samples) == 30
    net = cluster_series(
        [
            Series("host", "a", NET, 3600, _weekly(set(), 0, 60)),
            Series("host", "b", NET, 3600, _weekly(set(), 0, 60)),
        ],
        {"a": "C1", "b": "C1"},
    )
    assert {v for _, v in net[0].samples} == {120}


def test_counters_of_one_host_merge_into_one_period() -> None:
    cpu = Series("host", "h", CPU, 3600, _weekly({30, 31}, 95, 10))
    lat = Series("host", "h", DISK_LATENCY, 3600, _weekly({32}, 50, 1))
    _, periods = detect([cpu, lat], Settings(tz=BERLIN))
    assert [(p.start_hour, p.hours, [e.counter for e in p.evidence]) for p in periods] == [
        (30, 3, ["cpu.usage.average", "disk.maxTotalLatency.latest"])
    ]


def test_a_long_interval_counts_for_every_hour_it_covers() -> None:
    # 2-hour samples (vCenter's month level) ending Tue 04:00 cover 02:00-04:00.
    samples = []
    for week in range(3):
        for i in range(84):
            end = MONDAY + timedelta(weeks=week, hours=2 * (i + 1))
            samples.append(
                (end.astimezone(UTC), 90.0 if end.weekday() == 1 and end.hour == 4 else 5)
            )
    _, periods = detect([Series("host", "h", CPU, 7200, samples)], Settings(tz=BERLIN))
    assert [p.label for p in periods] == ["Tue 02:00 for 2h"]


def test_percentile_matches_linear_interpolation() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10
    assert percentile(list(range(101)), 95) == 95


def test_blackout_file_loads_and_comments_cannot_break_out(tmp_path: Path) -> None:
    hostile = "esx\u2028# injected: true\u2029<b>'\"x"
    series = [Series("host", hostile, CPU, 3600, _weekly({50}, 99, 1))]
    _, periods = detect(series, Settings(tz=BERLIN))
    text = blackouts_yaml(
        periods, timezone="Europe/Berlin", source="vc'1", settings=Settings(tz=BERLIN)
    )
    out = tmp_path / "busy.yaml"
    out.write_text(text, encoding="utf-8")
    loaded = load_blackouts(out)
    assert loaded.timezone == "Europe/Berlin"
    (b,) = loaded.blackouts
    assert b.scope != "global" and b.scope.host == hostile
    assert "injected" not in yaml.safe_load(text)
    assert b.rrule == "FREQ=WEEKLY;BYDAY=WE;BYHOUR=2;BYMINUTE=0;BYSECOND=0"  # hour 50
    assert b.duration == timedelta(hours=1)


# --- plan / validate --blackouts -----------------------------------------------------------------


def _estate(tmp_path: Path, hours: float) -> tuple[Path, Path]:
    topo = {
        "clusters": [{"name": "C1"}],
        "hosts": [{"name": "esx01", "cluster": "C1"}, {"name": "esx02", "cluster": "C1"}],
        "datastores": [{"name": "DS-01"}, {"name": "DS-02"}],
        "vms": [
            {
                "name": "big",
                "host": "esx01",
                "disks": [{"datastore": "DS-01", "size_gib": GIB_PER_HOUR * hours}],
            }
        ],
    }
    t = tmp_path / "topo.yaml"
    t.write_text(yaml.safe_dump(topo))
    p = tmp_path / "policy.yaml"
    p.write_text(yaml.safe_dump(make_policy().model_dump(mode="json")))
    return t, p


def _busy_file(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "busy.yaml"
    res = runner.invoke(
        app,
        [
            "busy-hours",
            "--csv",
            str(FIXTURE),
            "--timezone",
            "Europe/Berlin",
            "-o",
            str(out),
            *extra,
        ],
    )
    assert res.exit_code == 0, res.output
    return out


def test_plan_uses_the_busy_hours(tmp_path: Path) -> None:
    # Window Tue 20:00 - Wed 06:00; esx01 busy Wed 01:00-03:00: a 6 h job no longer fits.
    topo, policy = _estate(tmp_path, 6)
    busy = _busy_file(tmp_path)
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(topo), "-p", str(policy), "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(policy), "-o", str(out), "--blackouts", str(busy)]
    )
    assert res.exit_code == 2, res.output
    assert "unscheduled" in res.output and "big" in res.output
    embedded = json.loads(out.read_text())["inputs"]["policy"]["blackouts"]
    assert "busy host esx01 Wed 01:00" in [b["name"] for b in embedded]


def test_validator_enforces_the_busy_hours(tmp_path: Path) -> None:
    topo, policy = _estate(tmp_path, 2)
    busy = _busy_file(tmp_path)
    out = tmp_path / "s.json"
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(policy), "-o", str(out), "--blackouts", str(busy)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    # Hand-move the job into the busy hours: Wed 01:00-03:00 Berlin = 00:00-02:00 UTC.
    data["jobs"][0]["start"] = "2026-12-02T00:00:00Z"
    data["jobs"][0]["end"] = "2026-12-02T02:00:00Z"
    # ... and keep the schedule's own figures true (the window opens 20:00: 7 h to 03:00).
    data["nights"][0]["last_end"] = "2026-12-02T02:00:00Z"
    data["nights"][0]["makespan_min"] = data["makespan_min"] = 420
    # The claims follow the new makespan, or the validator refuses the file for them.
    data["gap_pct"] = round((420 - data["lower_bound_min"]) / data["lower_bound_min"] * 100, 2)
    data["solver"]["status"] = "FEASIBLE"
    out.write_text(json.dumps(data))
    ok = runner.invoke(app, ["validate", str(topo), str(policy), str(out)])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(
        app, ["validate", str(topo), str(policy), str(out), "--blackouts", str(busy)]
    )
    assert res.exit_code == 4, res.output
    assert "busy host esx01 Wed 01:00" in res.output


def test_blackouts_of_another_time_zone_are_refused(tmp_path: Path) -> None:
    topo, policy = _estate(tmp_path, 1)
    busy = _busy_file(tmp_path)
    busy.write_text(busy.read_text().replace("timezone: Europe/Berlin", "timezone: UTC"))
    res = runner.invoke(
        app,
        [
            "plan",
            str(topo),
            "-p",
            str(policy),
            "-o",
            str(tmp_path / "s.json"),
            "--blackouts",
            str(busy),
        ],
    )
    assert res.exit_code == 1
    assert "time zone 'UTC'" in res.output and "field 'timezone'" in res.output
    assert not (tmp_path / "s.json").exists()


def test_blackouts_file_errors_name_the_file(tmp_path: Path) -> None:
    topo, policy = _estate(tmp_path, 1)
    busy = _busy_file(tmp_path)
    out = tmp_path / "s.json"
    base = ["plan", str(topo), "-p", str(policy), "-o", str(out)]
    res = runner.invoke(app, [*base, "--blackouts", str(busy), "--blackouts", str(busy)])
    assert res.exit_code == 1 and "duplicate blackout name" in res.output
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(busy.read_text().replace("host: esx02", "host: esx99"))
    res = runner.invoke(app, [*base, "--blackouts", str(unknown)])
    assert (
        res.exit_code == 1 and "unknown.yaml" in res.output and "unknown host 'esx99'" in res.output
    )
    assert not out.exists()


def test_busy_hours_csv_with_topology_drops_unknown_resources(tmp_path: Path) -> None:
    topo, _ = _estate(tmp_path, 1)
    data = yaml.safe_load(topo.read_text())
    data["datastores"] = [{"name": "DS-02"}]
    data["vms"][0]["disks"][0]["datastore"] = "DS-02"
    topo.write_text(yaml.safe_dump(data))
    out = _busy_file(tmp_path, "--topology", str(topo))
    names = [b.name for b in load_blackouts(out).blackouts]
    assert names == ["busy host esx01 Wed 01:00", "busy host esx02 Sun 23:00"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--percentile", "0"], "--percentile"),
        (["--threshold-cpu", "-1"], "--threshold-cpu"),
        (["--timezone", "Mars/Base"], "unknown IANA time zone"),
        (["--min-share", "1"], "--min-share"),
    ],
)
def test_bad_options_exit_1_nothing_written(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "busy.yaml"
    res = runner.invoke(app, ["busy-hours", "--csv", str(FIXTURE), "-o", str(out), *args])
    assert res.exit_code == 1 and message in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_needs_exactly_one_source(tmp_path: Path) -> None:
    res = runner.invoke(app, ["busy-hours", "-o", str(tmp_path / "b.yaml")])
    assert res.exit_code == 1 and "exactly one of --vcenter HOST or --csv FILE" in res.output

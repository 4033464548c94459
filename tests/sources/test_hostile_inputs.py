"""Hostile and malformed topology / policy / RAID map / schedule files (issue 11 §1, §3, §4;
issue 9 §3): each gives one line per problem naming file, object and field, never a traceback,
and stays bounded in time and memory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stagger.calendar import blackout_intervals
from stagger.cli import app
from stagger.errors import InputError, shown, visible
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.reading import MAX_INPUT_MB_ENV
from stagger.sources.yamlfile import (
    load_inputs,
    load_policy,
    load_schedule,
    load_topology,
)
from tests.factories import EXAMPLES

MINIMAL_TOPOLOGY = EXAMPLES / "minimal" / "topology.yaml"
MINIMAL_POLICY = EXAMPLES / "minimal" / "policy.yaml"


def _topology_data() -> dict[str, Any]:
    data = yaml.safe_load(MINIMAL_TOPOLOGY.read_text())
    assert isinstance(data, dict)
    return data


def _policy_text() -> str:
    return MINIMAL_POLICY.read_text()


def _refused(exc: InputError, file: Path) -> list[str]:
    """The error's lines, after checking each is one line starting with the file."""
    lines = exc.lines()
    assert lines, "an error without a line"
    for line in lines[: len(lines) - (1 if lines[-1].startswith("...") else 0)]:
        assert "\n" not in line and "\r" not in line
        assert line.startswith(f"{file}: "), line
    assert "\n" not in str(exc)
    return lines


def _write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


# --- §1: control characters, shown escaped on one line ------------------------------------


def test_shown_escapes_controls_and_cuts_long_names() -> None:
    assert shown("web01") == "'web01'"
    assert shown("a\n* * * * * id>/tmp/p;#") == "'a\\n* * * * * id>/tmp/p;#'"
    assert shown("it's") == "'it\\'s'"
    assert shown("\x1b]8;;x\x07") == "'\\x1b]8;;x\\x07'"
    assert shown("\u202eevil") == "'\\u202eevil'"  # RTL override cannot reorder the line
    long = shown("x" * 5000)
    assert long.endswith("... (5000 characters)") and len(long) < 200
    assert visible("ok\u00e9\u4e2d") == "ok\u00e9\u4e2d"  # other Unicode is kept


def test_one_escaping_for_error_lines_terminal_and_export_comments() -> None:
    # errors.visible is the one function: error lines, the CLI and export comments agree, and
    # each escapes what the others do (zero-width space, bidi override, newline, separator).
    from stagger.cli.text import as_text
    from stagger.exporters.quoting import bacula_comment, cron_comment

    for name in ("a\u200bb", "a\u202eb", "a\nb", "a\u2028b", "a\ufeffb"):
        escaped = visible(name)
        assert escaped != name and len(escaped.splitlines()) == 1
        assert shown(name) == f"'{escaped}'"
        assert as_text(name) == escaped
        assert cron_comment(name) == bacula_comment(name) == f"# {escaped}"


def test_control_character_in_vm_name_is_one_escaped_line(tmp_path: Path) -> None:
    data = _topology_data()
    data["vms"][1]["name"] = "a\n* * * * * id>/tmp/p;#"
    p = _write_yaml(tmp_path / "t.yaml", data)
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert line.startswith(f"{p}: vm 'a\\n* * * * * id>/tmp/p;#': field 'name': ")
    assert "control character U+000A" in line


@pytest.mark.parametrize("char", ["\r", "\x00", "\x1b", "\x7f", "\x85", "\x9b"])
def test_every_control_character_is_refused_in_tags_and_hosts(tmp_path: Path, char: str) -> None:
    data = _topology_data()
    data["vms"][0]["tags"] = [f"pay{char}roll"]
    p = tmp_path / "t.json"  # JSON keeps every character as written (YAML folds NEL)
    p.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert "vm 'sql01': field 'tags[0]'" in line


def test_control_character_in_policy_blackout_name(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(_policy_text().replace("name: payroll", 'name: "pay\\nroll"'))
    with pytest.raises(InputError) as err:
        load_policy(p)
    (line,) = _refused(err.value, p)
    assert line.startswith(f"{p}: blackout 'pay\\nroll': field 'name': ")


def test_control_character_in_raid_map_yaml_and_csv(tmp_path: Path) -> None:
    topo = load_topology(MINIMAL_TOPOLOGY)
    y = tmp_path / "map.yaml"
    y.write_text('raid_groups:\n  "RG\\n1": [DS-01]\n')
    with pytest.raises(InputError) as err:
        apply_raid_map_file(topo, y)
    (line,) = _refused(err.value, y)
    assert line.startswith(f"{y}: raid_group 'RG\\n1': field 'name': ")
    y.write_text('raid_groups:\n  RG-1: ["DS-0\\x1b[31m1"]\n')
    with pytest.raises(InputError) as err:
        apply_raid_map_file(topo, y)
    assert "field 'members'" in _refused(err.value, y)[0]
    c = tmp_path / "map.csv"
    c.write_text('raid_group,member\n"RG\n1",DS-01\n')
    with pytest.raises(InputError) as err:
        apply_raid_map_file(topo, c)
    (line,) = _refused(err.value, c)
    assert line.startswith(f"{c}: row 2: field 'raid_group': holds control character U+000A")


def _schedule_data(tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(
        app,
        [
            "plan",
            str(MINIMAL_TOPOLOGY),
            "-p",
            str(MINIMAL_POLICY),
            "-o",
            str(out),
            "--solver",
            "greedy",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert isinstance(data, dict)
    return data


def test_control_character_in_baseline_schedule(tmp_path: Path) -> None:
    data = _schedule_data(tmp_path)
    data["jobs"][0]["vm"] = "web\n01"
    data["inputs"]["topology"]["vms"][0]["name"] = "sql\r01"
    p = tmp_path / "base.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_schedule(p)
    lines = _refused(err.value, p)
    assert any(
        ln.startswith(f"{p}: job 'web\\n01': field 'vm': holds control character") for ln in lines
    )
    assert any("inputs.topology: vm 'sql\\r01': field 'name'" in ln for ln in lines)


def test_cli_error_line_stays_one_line_and_markup_is_text(tmp_path: Path) -> None:
    data = _topology_data()
    data["vms"][1]["name"] = "[/x]\nevil"
    p = _write_yaml(tmp_path / "t.yaml", data)
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", str(p), "-p", str(MINIMAL_POLICY), "-o", str(out)])
    assert res.exit_code == 1
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'[/x]\\nevil'" in lines[0]
    assert not out.exists()


# --- issue 9 §3: unknown fields first, with a suggestion; every problem at once --------------


def test_unknown_field_is_named_with_a_suggestion_before_the_missing_field(
    tmp_path: Path,
) -> None:
    data = _topology_data()
    data["vms"][1]["dsks"] = data["vms"][1].pop("disks")
    p = _write_yaml(tmp_path / "t.yaml", data)
    with pytest.raises(InputError) as err:
        load_topology(p)
    lines = _refused(err.value, p)
    assert lines == [
        f"{p}: unknown field 'dsks' in vm 'web01' (did you mean 'disks'?)",
        f"{p}: vm 'web01': field 'disks': Field required",
    ]
    assert str(err.value) == f"{lines[0]} (and 1 more problem)"


def test_unknown_nested_and_policy_fields(tmp_path: Path) -> None:
    data = _topology_data()
    data["vms"][0]["disks"][0]["sise_gib"] = 3
    data["vm"] = []
    p = _write_yaml(tmp_path / "t.yaml", data)
    with pytest.raises(InputError) as err:
        load_topology(p)
    lines = _refused(err.value, p)
    assert f"{p}: unknown field 'sise_gib' in vm 'sql01', disks[0] (did you mean 'size_gib'?)" in (
        lines
    )
    assert f"{p}: unknown field 'vm' (did you mean 'vms'?)" in lines
    pol = tmp_path / "p.yaml"
    pol.write_text(_policy_text().replace("scope: {host: esx01}", "scope: {hots: esx01}"))
    with pytest.raises(InputError) as err:
        load_policy(pol)
    first = _refused(err.value, pol)[0]
    assert first == (
        f"{pol}: unknown field 'hots' in blackout 'patch-esx01', scope (did you mean 'host'?)"
    )


def test_all_problems_of_a_file_are_reported_capped_at_twenty(tmp_path: Path) -> None:
    data = _topology_data()
    data["vms"] = [
        {"name": f"vm{i:02d}", "host": "esx01", "disks": [{"size_gib": -1}]} for i in range(25)
    ]
    p = _write_yaml(tmp_path / "t.yaml", data)
    with pytest.raises(InputError) as err:
        load_topology(p)
    lines = _refused(err.value, p)
    assert len(lines) == 21 and lines[-1] == "... and 5 more problems"
    assert lines[0] == f"{p}: vm 'vm00': field 'disks[0].size_gib': Input should be greater than 0"
    assert str(err.value).endswith("(and 24 more problems)")


def test_all_reference_problems_are_reported(tmp_path: Path) -> None:
    data = _topology_data()
    data["vms"][0]["host"] = "esx99"
    data["vms"][1]["disks"][0]["datastore"] = "DS-99"
    p = _write_yaml(tmp_path / "t.yaml", data)
    with pytest.raises(InputError) as err:
        load_topology(p)
    assert _refused(err.value, p) == [
        f"{p}: vm 'sql01': field 'host': unknown host 'esx99'",
        f"{p}: vm 'web01': field 'disks[0].datastore': unknown datastore 'DS-99'",
    ]


def test_cli_prints_every_problem_one_line_each(tmp_path: Path) -> None:
    data = _topology_data()
    data["vms"][1]["dsks"] = data["vms"][1].pop("disks")
    p = _write_yaml(tmp_path / "t.yaml", data)
    res = CliRunner().invoke(
        app, ["plan", str(p), "-p", str(MINIMAL_POLICY), "-o", str(tmp_path / "o.json")]
    )
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        f"error: {p}: unknown field 'dsks' in vm 'web01' (did you mean 'disks'?)",
        f"error: {p}: vm 'web01': field 'disks': Field required",
    ]


# --- §3/§4: YAML and JSON that used to crash or blow up ---------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("vms: " + "[" * 2000 + "]" * 2000, "nesting depth"),
        ("vms: " + "[" * 80 + "]" * 80, "nested deeper than 64 levels"),
        ("vms: &a [*a]", "refers to itself"),
        ("hosts: []\nhosts: []\n", "duplicate key 'hosts' (first at line 1)"),
        ("vms: [{name: a, host: h, disks: [{size_gib: " + "9" * 5000 + "}]}]", "4300 digits"),
        ("x: !!timestamp 2001-12-14x\n", "cannot read the value '2001-12-14x' as timestamp"),
        ("x: !!python/object/apply:os.system [id]\n", "could not determine a constructor"),
        ("x: 2001-02-30\n", "as timestamp (day is out of range for month)"),
        # Found by benchmarks/fuzz.py: a set tag on a sequence reached the duplicate-key check.
        ("x: !!set [a, b]\n", "expected a mapping node"),
        ("x: !!omap {a: 1}\n", "expected a sequence"),
    ],
)
def test_malformed_yaml_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert needle in line


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"vms": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper"),
        ('{"vms": [], "x": ' + "9" * 5000 + "}", "4300 digits"),
        ('{"vms": [], "vms": []}', None),
    ],
)
def test_malformed_json_is_one_line(tmp_path: Path, text: str, needle: str | None) -> None:
    p = tmp_path / "t.json"
    p.write_text(text)
    if needle is None:  # JSON duplicate keys: last wins, as every JSON reader does
        load_topology(p)
        return
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert needle in line


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for level in "bcdefghi":
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = level
    lines.append(f"vms: [{{name: v, host: h, disks: [{{size_gib: 1}}], tags: *{prev}}}]")
    p = tmp_path / "t.yaml"
    p.write_text("\n".join(lines) + "\n")
    started = time.process_time()
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert "aliases expand" in line and "billion laughs" in line
    # Not a timing test of speed, a guard against the exponential walk coming back:
    # validating the 10^9-node expansion would take hours.
    assert time.process_time() - started < 30


def test_reasonable_aliases_still_load(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(
        "hosts: [{name: esx01}]\ndatastores: [{name: DS}]\nvms:\n"
        "  - {name: a, host: esx01, disks: &std [{datastore: DS, size_gib: 10}]}\n"
        + "".join(f"  - {{name: v{i}, host: esx01, disks: *std}}\n" for i in range(200))
    )
    assert len(load_topology(p).vms) == 201


def test_size_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_INPUT_MB_ENV, "0.0001")  # ~100 bytes
    with pytest.raises(InputError) as err:
        load_topology(MINIMAL_TOPOLOGY)
    (line,) = _refused(err.value, MINIMAL_TOPOLOGY)
    assert "larger than 104 bytes" in line and MAX_INPUT_MB_ENV in line
    monkeypatch.setenv(MAX_INPUT_MB_ENV, "lots")
    with pytest.raises(InputError, match=f"field '{MAX_INPUT_MB_ENV}'"):
        load_topology(MINIMAL_TOPOLOGY)
    monkeypatch.setenv(MAX_INPUT_MB_ENV, "1")
    assert load_topology(MINIMAL_TOPOLOGY).vms


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_input_is_read_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_INPUT_MB_ENV, "1")
    with pytest.raises(InputError, match="larger than 1,048,576 bytes"):
        load_topology("/dev/zero")


def test_directory_and_binary_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_topology(tmp_path)
    assert "is a directory" in _refused(err.value, tmp_path)[0]
    p = tmp_path / "t.yaml"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError) as err:
        load_topology(p)
    assert "not utf-8 text: byte 0xff at offset 0" in _refused(err.value, p)[0]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("1e308", "less than or equal to 1073741824"),
        (".inf", "finite number"),
        (".nan", "finite number"),
        ("-.inf", "finite number"),
    ],
)
def test_absurd_disk_sizes(tmp_path: Path, value: str, needle: str) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(MINIMAL_TOPOLOGY.read_text().replace("size_gib: 60", f"size_gib: {value}"))
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert line.startswith(f"{p}: vm 'web01': field 'disks[0].size_gib': ") and needle in line


# --- §4: policies that used to crash ---------------------------------------------------------


def _policy_file(tmp_path: Path, old: str, new: str) -> Path:
    text = _policy_text()
    assert old in text
    p = tmp_path / "p.yaml"
    p.write_text(text.replace(old, new))
    return p


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "concurrent_jobs: 8",
            "concurrent_jobs: 2147483648",
            "limits: field 'concurrent_jobs': Input should be less than or equal to 100000",
        ),
        ("per_host: 1", "per_host: 1e400", "limits: field 'per_host': "),
        (
            "Europe/Berlin",
            "Europe",
            "field 'timezone': unknown IANA time zone 'Europe'",
        ),
        ("Europe/Berlin", "A" * 5000, "field 'timezone': unknown IANA time zone 'AAAA"),
        ("Europe/Berlin", "../../../etc/passwd", "unknown IANA time zone '../../../etc/passwd'"),
        ("Europe/Berlin", "zone1970.tab", "unknown IANA time zone 'zone1970.tab'"),
        (
            "start: 2026-12-01, nights: 1",
            "start: 0001-01-01, nights: 1",
            "cycle: field 'start': Value error, cycle start must be between 1900-01-01",
        ),
        (
            "start: 2026-12-01, nights: 1",
            "start: 9999-12-31, nights: 366",
            "cycle: field 'start': Value error, cycle start must be between",
        ),
        (
            'start: "2026-12-01T22:00", end: "2026-12-02T00:30"',
            'start: "2026-12-01T22:00+01:00", end: "2026-12-02T00:30"',
            "blackout 'patch-esx01': give start and end both with a UTC offset or both without",
        ),
        (
            "duration: 60m",
            "duration: 1.0e+308",
            "blackout 'av-scan': field 'duration': '1e+308' is not a duration of at most 366",
        ),
        (
            "duration: 60m",
            "duration: 99999999999999999999d",
            "is not a duration of at most 366 days",
        ),
        (
            'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0"',
            'rrule: "FREQ=DAILY;INTERVAL=99999999999"',
            "INTERVAL must be between 1 and 10000",
        ),
        (
            'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0"',
            'rrule: "FREQ=DAILY;BYHOUR=25"',
            "bad RRULE 'FREQ=DAILY;BYHOUR=25': hour must be in 0..23",
        ),
        (
            'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0"',
            'rrule: "FREQ=DAILY;INTERVAL=0"',
            "INTERVAL must be between 1 and 10000",
        ),
    ],
)
def test_policy_values_that_crashed_are_one_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    p = _policy_file(tmp_path, old, new)
    with pytest.raises(InputError) as err:
        load_policy(p)
    lines = _refused(err.value, p)
    assert any(expected.replace("Value error, ", "") in ln for ln in lines), lines


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=SECONDLY", "expanding this rule takes"),  # 88 s and 1 GB before
        # Never matches: dateutil ran to the year 9999 (refused by the step budget before;
        # now named for what it is, before any expansion).
        ("FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30", "this rule never matches: BYMONTHDAY 30"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "this rule never matches: BYMONTHDAY 30"),
        (
            "FREQ=YEARLY;BYMONTH=2,4;BYMONTHDAY=31",
            "this rule never matches: BYMONTHDAY 31 does not",
        ),
        # Found by benchmarks/fuzz.py (run 5): an IndexError inside dateutil.
        ("FREQ=MONTHLY;BYDAY=MO,2147483648TU;BYSETPOS=-1", "cannot expand: list index out of"),
    ],
)
def test_rrule_expansion_is_bounded_and_refused_against_the_policy_file(
    tmp_path: Path, rule: str, says: str
) -> None:
    p = _policy_file(
        tmp_path,
        'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", duration: 60m',
        f'rrule: "{rule}", duration: 1m',
    )
    p.write_text(p.read_text().replace("nights: 1", "nights: 30"))
    started = time.process_time()
    with pytest.raises(InputError) as err:
        load_inputs(MINIMAL_TOPOLOGY, p)
    (line,) = _refused(err.value, p)
    assert line.startswith(f"{p}: blackout 'av-scan': field 'rrule': {says}")
    assert time.process_time() - started < 60  # guard against the unbounded walk, not speed


def test_rules_that_match_still_expand(tmp_path: Path) -> None:
    p = _policy_file(
        tmp_path,
        'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", duration: 60m',
        'rrule: "FREQ=HOURLY;BYMINUTE=0,30", duration: 5m',
    )
    p.write_text(p.read_text().replace("nights: 1", "nights: 30"))
    _, pol = load_inputs(MINIMAL_TOPOLOGY, p)
    # From the first window's start to the last one's end (29 days 10 h), two an hour.
    assert len(blackout_intervals(pol.blackouts[0], pol)) == (29 * 24 + 10) * 2


def test_cli_exit_codes_for_bad_policy(tmp_path: Path) -> None:
    p = _policy_file(tmp_path, "concurrent_jobs: 8", "concurrent_jobs: 2147483648")
    out = tmp_path / "o.json"
    res = CliRunner().invoke(
        app, ["plan", str(MINIMAL_TOPOLOGY), "-p", str(p), "-o", str(out), "--solver", "greedy"]
    )
    assert res.exit_code == 1 and not out.exists()
    assert len(res.output.strip().splitlines()) == 1
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_lone_surrogate_is_refused_at_load(tmp_path: Path) -> None:
    # Found by tests/fuzz: JSON may spell a lone surrogate ("\ud800"); it loaded, and writing
    # the schedule JSON then failed with a PydanticSerializationError traceback.
    data = _topology_data()
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data).replace('"web01"', '"web\\ud80001"'))
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert "unpaired surrogate in 'web\\ud80001'" in line
    # Sources that build models directly (RVTools, vCenter) are refused by the Text type;
    # pydantic itself refuses surrogates in `str` but not in `str | None` fields such as naa.
    from pydantic import ValidationError

    from stagger.model.topology import Datastore

    with pytest.raises(ValidationError, match="unpaired surrogate U\\+D800"):
        Datastore(name="DS", naa="naa.6\ud800")


@pytest.mark.parametrize(
    ("pin", "needle"),
    [
        ("99:99", "field 'pin': '99:99' is not a clock time HH:MM"),  # was ValueError traceback
        ("0001-01-01T00:00", "field 'pin': pin date must be between 1900-01-01"),  # OverflowError
        ("soon", "field 'pin': 'soon' is neither HH:MM nor an ISO date-time"),
    ],
)
def test_unusable_pins_are_refused_at_load(tmp_path: Path, pin: str, needle: str) -> None:
    data = _topology_data()
    data["vms"][1]["pin"] = pin
    p = _write_yaml(tmp_path / "t.yaml", data)
    with pytest.raises(InputError) as err:
        load_topology(p)
    (line,) = _refused(err.value, p)
    assert line == f"{p}: vm 'web01': {needle}" or needle in line


def test_rrule_budget_weighs_the_candidates_built_per_period(tmp_path: Path) -> None:
    # BYSETPOS=1 yields one time an hour, but dateutil builds 3,600 candidates per hour
    # first: 7 s for 30 nights before the weighting, refused now.
    every = ",".join(str(n) for n in range(60))
    p = _policy_file(
        tmp_path,
        'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", duration: 60m',
        f'rrule: "FREQ=HOURLY;BYSETPOS=1;BYMINUTE={every};BYSECOND={every}", duration: 1m',
    )
    p.write_text(p.read_text().replace("nights: 1", "nights: 30"))
    with pytest.raises(InputError, match="expanding this rule takes more than 100,000 steps"):
        load_inputs(MINIMAL_TOPOLOGY, p)
    # Reasonable rules over the longest cycle stay accepted.
    p = _policy_file(
        tmp_path,
        'rrule: "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", duration: 60m',
        'rrule: "FREQ=HOURLY;BYMINUTE=0,15,30,45", duration: 5m',
    )
    p.write_text(p.read_text().replace("nights: 1", "nights: 366"))
    load_inputs(MINIMAL_TOPOLOGY, p)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(nights=[]), "at least one night"),
        (lambda d: d["jobs"][0].update(night=7), "jobs refer to night 7"),
        (lambda d: d["nights"].append(dict(d["nights"][0])), "two nights share one index"),
        # Found by tests/fuzz: a number is a 1970 timestamp to pydantic; the HTML export then
        # walked 56 years of quarter hours (over 20 s, unbounded for other values).
        (lambda d: d["nights"][0].update(window_start=1), "at most 25 hours later"),
        # Found by benchmarks/fuzz.py (run 5): a 400-digit duration_min loaded and the
        # validator's float arithmetic raised OverflowError.
        (lambda d: d["jobs"][0].update(duration_min=10**400), "less than or equal to 1500"),
    ],
)
def test_schedule_structure_is_checked_at_load(tmp_path: Path, edit: Any, needle: str) -> None:
    # Found by tests/fuzz: a schedule with no nights (or a job on a night it does not list)
    # loaded, and the HTML export then died with KeyError: 0.
    data = _schedule_data(tmp_path)
    edit(data)
    p = tmp_path / "s.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_schedule(p)
    (line,) = _refused(err.value, p)
    assert needle in line

"""Tiered schedules (several jobs per VM, each with its level and its tier's scripts) through
the Bacula and cron exports. The weeks are built by hand from ``cycle_jobs`` and pass the
independent validator first (tests/tiered.py); Bacula's output is read back by the real
Director (``bacula-dir -t`` accepts it, ``bdirjson`` dumps what it parsed)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_quoting import bacula_jobs as director
from test_quoting import cronie_command
from typer.testing import CliRunner

from stagger.cli import app
from stagger.errors import InputError
from stagger.exporters._common import local
from stagger.exporters.jsoncsv import schedule_json
from stagger.exporters.options import ExportOptions
from stagger.exporters.quoting import BACULA_MAX_BYTES, slugs
from stagger.exporters.registry import formats, render
from stagger.model.schedule import Schedule
from stagger.validate import find_violations
from tests.hostile import LONG, PWNED, VM_NAMES
from tests.tiered import ROLES, tiered_schedule, valid_week

PRE = 'C:\\scripts\\pre "freeze" 100% }{ # x'
POST = "/usr/bin/thaw --db=%l ; rm -rf / # '$(id)'"
HOSTILE_SCRIPTS = [
    '"; RunScript { Command = "id" }',
    "} Job { Name = x",
    "100%% %l %c %n",
    "trailing backslash\\",
    "a\\%b",
    '\\"',
    "日本語 💾\u2028line\u00a0nbsp",
    "'$(touch /tmp/stagger-pwned)'",
]


def week(
    names: tuple[str, str, str, str] = ROLES, scripts: dict[str, Any] | None = None
) -> Schedule:
    """The hand-built tiered week, checked by the validator before any export reads it."""
    jobs, topo, policy = valid_week(names, scripts)
    sched = tiered_schedule(jobs, topo, policy)
    assert find_violations(sched, topo, policy) == []
    return sched


def hostile_week(sql: str, web: str, cold: str, misc: str, pre: str, post: str | None) -> Schedule:
    """The week with hypothesis-drawn VM names (role prefix kept, at most 1,000 characters,
    distinct) and tier scripts."""
    names = tuple(n[:1000] for n in ("sql" + sql, "web" + web, "cold" + cold, "misc" + misc))
    assume(len(set(names)) == 4)
    scripts = {"pre_script": pre, **({"post_script": post} if post is not None else {})}
    return week(names, scripts)  # type: ignore[arg-type]


def _bacula(sched: Schedule, workdir: Path) -> tuple[str, list[dict], list[dict]]:
    conf = render(sched, "bacula", ExportOptions(standalone=True, workdir=str(workdir)))
    return conf, director(conf, workdir, "Job"), director(conf, workdir, "Schedule")


def _check_bacula(sched: Schedule, workdir: Path) -> list[dict]:
    """Per VM one Job whose one Schedule fires exactly at its jobs' local starts, each with
    the job's level; the tier's scripts as the Job's RunScripts, exactly their text."""
    _, jobs, schedules = _bacula(sched, workdir)
    names = slugs(j.vm for j in sched.jobs)
    by_name = {s["Name"]: s for s in schedules}
    assert sorted(j["Name"] for j in jobs) == sorted({f"stagger-{names[j.vm]}" for j in sched.jobs})
    tiers = {t.name: t for t in sched.inputs.policy.tiers}
    for vm in {j.vm for j in sched.jobs}:
        mine = sched.jobs_of(vm)
        job = next(j for j in jobs if j["Name"] == f"stagger-{names[vm]}")
        fired = set()
        for run in by_name[job["Schedule"]]["Run"]:
            for dow in run["DayOfWeek"]:
                for hour in run["Hour"]:
                    fired.add((run["Level"], dow, hour, run["Minute"]))
        wanted = set()
        for j in mine:
            start = local(sched, j.start)
            level = "Full" if j.level == "full" else "Incremental"
            wanted.add((level, (start.weekday() + 1) % 7, start.hour, start.minute))
        assert fired == wanted, vm  # no run more, none less, each at its level
        tier = tiers.get(mine[0].tier or "")
        scripts = {s["RunsWhen"]: s["Command"].replace("%%", "%") for s in job.get("Runscript", [])}
        expected = {}
        if tier is not None and tier.pre_script is not None:
            expected["Before"] = tier.pre_script
        if tier is not None and tier.post_script is not None:
            expected["After"] = tier.post_script
        assert scripts == expected, vm
    return jobs


def test_bacula_tiered_week_passes_bacula_dir(tmp_path: Path) -> None:
    sched = week(scripts={"pre_script": PRE, "post_script": POST})
    conf, jobs, _ = _bacula(sched, tmp_path)
    _check_bacula(sched, tmp_path)
    assert len(jobs) == 4  # one Job per VM, not one per night
    # Days merge only when level and time agree: sql1's incrementals (22:00) and full (Fri).
    assert "  Run = Level=Incremental mon-thu at 22:00\n" in conf
    assert "  Run = Level=Incremental sat-sun at 22:00\n" in conf
    assert "  Run = Level=Full fri at 22:00\n" in conf
    assert "  Run = Level=Full sat at 20:00\n" in conf  # web1's fixed Saturday full
    assert '    Command = "C:\\\\scripts\\\\pre \\"freeze\\" 100%% }{ # x"\n' in conf
    # The post script runs whatever the job's outcome (it thaws what the pre script froze).
    after = next(s for j in jobs for s in j.get("Runscript", []) if s["RunsWhen"] == "After")
    assert after["RunsOnFailure"] is True


def test_bacula_parser_rejects_an_unescaped_script(tmp_path: Path) -> None:
    """Negative control: a quote written raw into a Command breaks the file, and the check
    above would see it."""
    sched = week(scripts={"pre_script": 'x" } Job {'})
    conf = render(sched, "bacula", ExportOptions(standalone=True, workdir=str(tmp_path)))
    broken = conf.replace('x\\" }', 'x" }')
    assert broken != conf
    with pytest.raises(AssertionError):
        director(broken, tmp_path, "Job")


def test_bacula_runs_differ_in_time_are_not_merged(tmp_path: Path) -> None:
    jobs, topo, policy = valid_week()
    moved = next(j for j in jobs if j.vm == "sql1" and j.night == 1)
    moved.start += timedelta(minutes=15)
    moved.end += timedelta(minutes=15)
    sched = tiered_schedule(jobs, topo, policy)
    assert find_violations(sched, topo, policy) == []
    conf = render(sched, "bacula", ExportOptions())
    assert "  Run = Level=Incremental mon-tue at 22:00\n" in conf
    assert "  Run = Level=Incremental wed at 22:15\n" in conf
    assert "  Run = Level=Incremental thu at 22:00\n" in conf
    _check_bacula(sched, tmp_path)


_script = st.one_of(
    st.sampled_from([*HOSTILE_SCRIPTS, LONG]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60),
)
_name = st.sampled_from(VM_NAMES) | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(_name, _name, _name, _name, _script, st.none() | _script)
def test_bacula_hostile_names_and_scripts(
    sql: str, web: str, cold: str, misc: str, pre: str, post: str | None
) -> None:
    sched = hostile_week(sql, web, cold, misc, pre, post)
    too_long = [
        s
        for s in (pre, post)
        if s is not None
        and len(s.replace("%", "%%").encode()) + s.count("\\") + s.count('"') > BACULA_MAX_BYTES
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if too_long:
            with pytest.raises(InputError, match="a Bacula command holds"):
                render(sched, "bacula", ExportOptions())
            return
        _check_bacula(sched, Path(tmp))


def test_bacula_refuses_a_script_it_would_cut() -> None:
    sched = week(scripts={"pre_script": "x" * (BACULA_MAX_BYTES + 1)})
    with pytest.raises(InputError) as exc:
        render(sched, "bacula", ExportOptions())
    assert "\n" not in str(exc.value) and "1001" in str(exc.value)


def test_cli_exports_a_tiered_schedule(tmp_path: Path) -> None:
    sched = week(scripts={"pre_script": PRE})
    path = tmp_path / "week.json"
    path.write_text(schedule_json(sched))
    for fmt in (name for name, f in formats().items() if f.tiered):
        out = tmp_path / f"week.{fmt}"
        res = CliRunner().invoke(app, ["export", str(path), "-f", fmt, "-o", str(out)])
        assert res.exit_code == 0, res.output
        written = out.read_bytes().decode("utf-8")  # bytes: ics lines end in CRLF
        wanted = render(sched, fmt, ExportOptions())
        if fmt == "ics":  # DTSTAMP is the time of the export
            written, wanted = (re.sub(r"DTSTAMP:\w+", "", t) for t in (written, wanted))
        assert written == wanted
    # A script Bacula cannot hold: exit 1, one line, nothing written.
    bad = week(scripts={"pre_script": "y" * 2000})
    path.write_text(schedule_json(bad))
    out = tmp_path / "bad.conf"
    res = CliRunner().invoke(app, ["export", str(path), "-f", "bacula", "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "a Bacula command holds" in res.output and not out.exists()


RECORDER = '#!/bin/sh\nprintf \'%s\\0\' "$@" >> "$LOG"\n'


def _cron_entries(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.split("\n"):  # cron ends an entry only at "\n"
        if not line or line.startswith("#") or line.startswith("CRON_TZ="):
            continue
        fields = line.split(" ", 5)
        out.append((" ".join(fields[:5]), fields[5]))
    return out


def _check_cron(sched: Schedule, workdir: Path) -> str:
    """One crontab line per job, firing at its local start; run as cronie runs it, the
    command gets exactly the VM's name and the job's level; no script is ever run."""
    recorder = workdir / "backup.sh"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    log = workdir / "argv"
    text = render(sched, "cron", ExportOptions(command=f"{recorder} {{vm}} {{level}}"))
    entries = _cron_entries(text)
    assert len(entries) == len(sched.jobs)
    zone = ZoneInfo(sched.timezone)
    base = sched.nights[0].window_start.astimezone(zone) - timedelta(minutes=1)
    fired = []
    for expr, command in entries:
        shell_line, stdin = cronie_command(command)
        assert stdin == ""
        log.unlink(missing_ok=True)
        res = subprocess.run(
            ["sh", "-c", shell_line], capture_output=True, timeout=30, env={"LOG": str(log)}
        )
        assert res.returncode == 0, (shell_line, res.stderr)
        vm, level = (a.decode() for a in log.read_bytes().split(b"\0")[:-1])
        when = croniter(expr, base.replace(tzinfo=None)).get_next(datetime)
        fired.append((vm, level, when))
    wanted = [(j.vm, j.level, j.start.astimezone(zone).replace(tzinfo=None)) for j in sched.jobs]
    assert sorted(fired) == sorted(wanted)
    assert not os.path.exists(PWNED)
    return text


def test_cron_tiered_week_carries_levels(tmp_path: Path) -> None:
    sched = week(scripts={"pre_script": PRE, "post_script": POST})
    _check_cron(sched, tmp_path)
    # The default ghettoVCB command has no level to pass: the comments say so, and each
    # job's comment says its level.
    text = render(sched, "cron", ExportOptions())
    assert "# ghettoVCB has no incremental mode: every line copies the whole VM" in text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line and not line.startswith(("#", "CRON_TZ=")):
            assert re.match(r"# \w+, (full|incremental)( \(tier \w+\))?: host ", lines[i - 1])
    assert "# sql1, full (tier gold): host esx0" in text
    assert text.count(", incremental (tier gold)") == 6
    # The scripts are comments only (cron runs on the host, they belong in the guest).
    assert (
        f"# tier gold pre_script, not run by cron (run it in the guest before the snapshot): {PRE}"
        in text
    )
    assert all(PRE not in command for _, command in _cron_entries(text))
    # A template without {level} on a tiered schedule is said to ignore the level.
    custom = render(sched, "cron", ExportOptions(command="/opt/bk {vm}"))
    assert "The command template names no {level}" in custom


@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(_name, _name, _name, _name, _script, st.none() | _script)
def test_cron_hostile_names_and_scripts(
    sql: str, web: str, cold: str, misc: str, pre: str, post: str | None
) -> None:
    sched = hostile_week(sql, web, cold, misc, pre, post)
    with tempfile.TemporaryDirectory() as tmp:
        text = _check_cron(sched, Path(tmp))
    # Every line is a comment, the zone or one job: nothing a script or name could add.
    kinds = [
        "comment" if line.startswith("# ") else "zone" if line.startswith("CRON_TZ=") else "job"
        for line in text.split("\n")
        if line
    ]
    assert kinds.count("job") == len(sched.jobs)
    assert all(line.startswith("# ") for line in text.split("\n") if "_script, not run" in line)


def test_bacula_refuses_a_job_whose_tier_the_policy_lacks() -> None:
    """A hand-edited schedule naming a tier its policy does not have: one line, no config
    without the tier's scripts (the library call; the CLI re-validates first, exit 4)."""
    sched = week(scripts={"pre_script": PRE})
    for job in sched.jobs_of("sql1"):
        job.tier = "gone\n"
    with pytest.raises(InputError, match=r"names tier 'gone\\\\n', which the schedule's policy"):
        render(sched, "bacula", ExportOptions())

"""The code-execution reproductions of issue 11 §1, against the exporters alone.

The models refuse control characters at load, so a schedule read from a file cannot hold
them; these tests put them into a schedule in memory (pydantic does not re-validate an
assignment) to check that each exporter is safe on its own: the payload either stays inside
a comment or a string, or the export is refused with one line (``InputError``, exit 1).
"""

from __future__ import annotations

from pathlib import Path

import pwsh
import pytest
from schedules import estate_schedule
from test_hostile import _cron_entries
from test_quoting import bacula_jobs

from stagger.errors import InputError
from stagger.exporters.registry import ExportOptions, render
from stagger.model.schedule import Schedule

CRON_PAYLOAD = "a\n* * * * * id>/tmp/p;#"
BACULA_PAYLOAD = (
    'x\nJob {\n  Name = "evil"\n  Type = Admin\n  JobDefs = "stagger-vmware"\n'
    '  Client = "c-fd"\n  RunScript {\n    RunsWhen = Before\n    RunsOnClient = no\n'
    '    Command = "id > /tmp/p"\n  }\n}\n#'
)
PS_PAYLOAD = "x\n#>\nNew-Item C:/p\n<#"


def _poisoned(field: str, payload: str) -> Schedule:
    sched = estate_schedule()
    job = sched.jobs[0]
    if field == "unscheduled.vm":
        sched.unscheduled[0].vm = payload
    elif field == "unscheduled.reason":
        sched.unscheduled[0].reason = payload
    elif field in ("datastores", "raid_groups"):
        setattr(job, field, [payload])
    else:
        setattr(job, field, payload)
    return sched


FIELDS = ["unscheduled.vm", "unscheduled.reason", "host", "cluster", "datastores", "raid_groups"]


@pytest.mark.parametrize("field", [*FIELDS, "vm"])
def test_cron_newline_adds_no_entry(field: str) -> None:
    sched = _poisoned(field, CRON_PAYLOAD)
    try:
        text = render(sched, "cron", ExportOptions())
    except InputError as exc:
        # Only a value that must go into a command may be refused, never silently dropped.
        assert field in ("vm", "host", "datastores")
        assert "control character" in str(exc) and "\n" not in str(exc)
        return
    entries = _cron_entries(text)
    assert len(entries) == len(sched.jobs)
    assert all("id>/tmp/p" not in command for _, command in entries)


@pytest.mark.parametrize("field", [*FIELDS, "vm"])
def test_bacula_newline_injects_no_resource(field: str, tmp_path: Path) -> None:
    sched = _poisoned(field, BACULA_PAYLOAD)
    conf = render(sched, "bacula", ExportOptions(standalone=True, workdir=str(tmp_path)))
    jobs = bacula_jobs(conf, tmp_path)
    assert len(jobs) == len(sched.jobs)
    assert not any(job["Name"] == "evil" or "RunScript" in job for job in jobs)


@pytest.mark.parametrize("field", [*FIELDS, "vm"])
def test_veeam_payload_stays_data(field: str) -> None:
    """A newline inside a verbatim string is still one string: the payload stays data, and
    the script holds exactly the code of a benign export."""
    for payload in (PS_PAYLOAD, "x #> New-Item C:/p <# ’+$(New-Item C:/p)+’"):
        sched = _poisoned(field, payload)
        body = render(sched, "veeam", ExportOptions())[1:]
        tree = pwsh.parse(body)
        assert pwsh.errors(tree) == []
        benign = render(estate_schedule(), "veeam", ExportOptions())[1:]
        assert pwsh.code_nodes(tree) == pwsh.code_nodes(pwsh.parse(benign))
        # The same comments (the help block ends where it should): a name is in none of them.
        comments = [n.text for n in pwsh.walk(tree.root_node) if n.type == "comment"]
        benign_tree = pwsh.parse(benign)
        assert comments == [n.text for n in pwsh.walk(benign_tree.root_node) if n.type == "comment"]
        data = [pwsh.plan_data(body, "$Plan"), pwsh.plan_data(body, "$NotScheduled")]
        if field in ("vm", "unscheduled.vm", "unscheduled.reason"):
            assert payload in str(data) or payload.replace("\n", "\\n") in str(data)


@pytest.mark.parametrize("fmt", ["md", "ics", "html"])
@pytest.mark.parametrize("field", FIELDS)
def test_other_formats_show_or_refuse(fmt: str, field: str) -> None:
    sched = _poisoned(field, CRON_PAYLOAD)
    try:
        text = render(sched, fmt, ExportOptions())
    except InputError:
        return
    assert "* * * * * id>/tmp/p" not in text.replace("\r\n", "\n").split("\n")


def test_bad_zone_and_prefix_are_refused() -> None:
    sched = estate_schedule()
    sched.timezone = "Europe/Berlin\n* * * * * id"
    with pytest.raises(InputError, match="is not a time zone name"):
        render(sched, "cron", ExportOptions())
    sched.timezone = "Europe"
    with pytest.raises(InputError, match="time zone"):
        render(sched, "bacula", ExportOptions())
    with pytest.raises(InputError, match="--prefix"):
        render(estate_schedule(), "bacula", ExportOptions(prefix='x" RunScript'))


@pytest.mark.parametrize(
    "template", ["{vm.__class__.__init__.__globals__}", "{0}", "{vm!r}", "{nope}", "{vm"]
)
def test_cron_template_fields_are_checked(template: str) -> None:
    with pytest.raises(InputError, match="--command"):
        render(estate_schedule(), "cron", ExportOptions(command=f"/bin/true {template}"))


def test_csv_keeps_one_row_per_job_with_a_cr_in_a_name() -> None:
    """The csv module quotes a cell holding CR only if CR is in its line terminator."""
    import csv
    import io

    from stagger.exporters.jsoncsv import schedule_csv

    sched = _poisoned("host", "esx\rinjected")
    rows = list(csv.reader(io.StringIO(schedule_csv(sched), newline="")))
    assert len(rows) == len(sched.jobs) + 1
    assert {len(r) for r in rows} == {len(rows[0])}


def test_no_output_with_a_control_character(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last check in render(): whatever an exporter writes, no control character
    other than tab/CR/LF (e.g. ESC, which drives a terminal) leaves stagger."""
    from stagger.exporters import registry

    fmts = registry.formats()
    leaky = registry.Format("md", lambda s, o: "ok\x1b]0;title\x07", ".md", "leaky")
    monkeypatch.setattr(registry, "_formats", lambda: {**fmts, "md": leaky})
    with pytest.raises(InputError, match="U\\+001B"):
        render(estate_schedule(), "md", ExportOptions())

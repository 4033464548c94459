"""Property tests: each quoting function over arbitrary Unicode, read back by the real reader.

shell: ``sh``; cron: cron's documented ``%`` rule, then ``sh``; PowerShell: the tree-sitter
grammar plus PowerShell's own quote rules; Bacula: ``bacula-dir -t`` and ``bdirjson`` (the
Director's parser); iCalendar: the icalendar library; Markdown: markdown-it with tables; CSV:
the csv module. Controls are included in every alphabet.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import subprocess
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pwsh
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event
from icalendar.prop import vUnknown
from markdown_it import MarkdownIt
from schedules import require_tool

from stagger.exporters.quoting import (
    BACULA_MAX_BYTES,
    UnquotableError,
    bacula_comment,
    bacula_str,
    cron_comment,
    cron_word,
    csv_cell,
    csv_uncell,
    escape_controls,
    ics_text,
    md_text,
    ps_str,
    shell_quote,
    slug,
    slugs,
    visible,
)

CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Arbitrary text, with controls and the characters each target treats specially made likely.
SPECIAL = (
    "'\"`$\\%#;&|<>(){}[]*?!~=+-@,:\n\r\t\x00\x1b\x7f\x85\x9b"
    "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u2028\u202e"
)
texts = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL)), max_size=60
)
clean_texts = texts.filter(lambda t: not CONTROLS.search(t))
HOSTILE_EXAMPLES = [
    "web’+$(New-Item C:/p)+’",
    "a\n* * * * * id>/tmp/p;#",
    "a\\%b",
    "100%",
    "'$(id)'",
    "#> x <#",
    "\\",
    '"; RunScript {',
    "=1+1",
]


def _run_sh(shell: str, script: str) -> bytes:
    res = subprocess.run([shell, "-c", script], capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


SHELLS = [s for s in ("sh", "bash", "dash") if shutil.which(s)]


@settings(max_examples=60, deadline=None)
@given(st.lists(texts.filter(lambda t: "\x00" not in t), min_size=1, max_size=12))
@example(HOSTILE_EXAMPLES)
def test_shell_quote_round_trips_through_sh(values: list[str]) -> None:
    script = "printf '%s\\0' " + " ".join(shell_quote(v) for v in values)
    for shell in SHELLS:
        out = _run_sh(shell, script).split(b"\0")[:-1]
        assert [o.decode("utf-8") for o in out] == values, shell


def test_shell_quote_refuses_nul() -> None:
    with pytest.raises(UnquotableError):
        shell_quote("a\x00b")


def cronie_command(line: str) -> tuple[str, str]:
    """What cronie/Vixie cron hands the shell for a command: everything up to the first
    unescaped ``%``, with ``\\%`` read as ``%`` and any other backslash kept (crontab(5));
    the rest, ``%`` turned into newlines, is standard input."""
    out: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            out.append("%" if nxt == "%" else c + nxt)
            i += 2
            continue
        if c == "%":
            return "".join(out), line[i + 1 :].replace("%", "\n")
        out.append(c)
        i += 1
    return "".join(out), ""


@settings(max_examples=60, deadline=None)
@given(st.lists(clean_texts, min_size=1, max_size=12))
@example(HOSTILE_EXAMPLES[2:])
def test_cron_word_survives_cron_then_sh(values: list[str]) -> None:
    # The format's own % is escaped the same way (outside quotes): both crons read it as %.
    line = "printf \\%s'\\0' " + " ".join(cron_word(v) for v in values)
    assert "\n" not in line and "\r" not in line
    # cronie/Vixie: the % rule first; busybox crond (ESXi): the line as it is.
    cronie, stdin = cronie_command(line)
    assert stdin == ""
    for command in (cronie, line):
        out = _run_sh("sh", command).split(b"\0")[:-1]
        assert [o.decode("utf-8") for o in out] == values


@given(texts.filter(lambda t: CONTROLS.search(t) is not None))
@example("a\n* * * * * id>/tmp/p;#")
def test_cron_word_refuses_controls(value: str) -> None:
    with pytest.raises(UnquotableError):
        cron_word(value)


@given(texts)
@example("x\n* * * * * id>/tmp/p;#")
def test_comments_stay_one_line(value: str) -> None:
    for comment in (cron_comment(value), bacula_comment(value)):
        assert comment.startswith("# ")
        assert not CONTROLS.search(comment)
        assert "\u2028" not in comment and "\u202e" not in comment
        assert len(comment.splitlines()) == 1
    # Only a control, format (bidi, zero-width) or separator character is ever escaped.
    assert (
        visible(value) == value
        or CONTROLS.search(value)
        or any(unicodedata.category(c) in ("Cf", "Zl", "Zp", "Cs") for c in value)
    )


@settings(max_examples=300, deadline=None)
@given(texts.filter(lambda t: "\x00" not in t))
@example("web’+$(New-Item C:/p)+’")
@example("’’’")
@example("#>")
def test_ps_str_is_one_verbatim_string(value: str) -> None:
    quoted = ps_str(value)
    script = f"$x = {quoted}\n"
    tree = pwsh.parse(script)
    assert pwsh.errors(tree) == []
    literals = [n for n in pwsh.walk(tree.root_node) if n.type == "string_literal"]
    assert len(literals) == 1
    assert literals[0].text is not None and literals[0].text.decode("utf-8") == quoted
    assert not pwsh.code_nodes(tree) - pwsh.code_nodes(pwsh.parse("$x = ''\n"))
    # PowerShell's own rules: the literal ends at its last character and holds the value
    # (every straight and curly single quote doubled).
    read, end = pwsh.read_verbatim(quoted)
    assert (read, end) == (value, len(quoted))


def test_ps_str_refuses_nul() -> None:
    with pytest.raises(UnquotableError):
        ps_str("a\x00b")


def test_ps_quote_check_catches_an_undoubled_curly_quote() -> None:
    """Negative control: the grammar alone accepts the issue's payload as one string (it
    does not know curly quotes); PowerShell's rules end the string early."""
    payload = "'web’+$(New-Item C:/p)+’'"  # only the ASCII quote handled, as before the fix
    tree = pwsh.parse(f"$x = {payload}\n")
    assert pwsh.errors(tree) == []
    value, end = pwsh.read_verbatim(payload)
    assert (value, end) == ("web", 5)


# --- Bacula ------------------------------------------------------------------------------

_DIRECTOR = """Director {{
  Name = t-dir
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "{wd}"
  PidDirectory = "{wd}"
  Password = "x"
  Messages = M
}}
Catalog {{
  Name = C
  dbname = "bacula"
  dbuser = "bacula"
  dbpassword = ""
}}
Messages {{
  Name = M
  console = all
}}
Storage {{
  Name = S
  Address = localhost
  Password = "x"
  Device = D
  Media Type = File
}}
Pool {{
  Name = P
  Pool Type = Backup
}}
FileSet {{
  Name = F
  Include {{
    File = /
  }}
}}
Client {{
  Name = K
  Address = localhost
  Password = "x"
  Catalog = C
}}
"""


def bacula_jobs(conf: str, workdir: Path, kind: str = "Job") -> list[dict[str, Any]]:
    """The ``kind`` resources (Job, Schedule) as the Director's own parser reads them
    (``bacula-dir -t`` must accept the file, ``bdirjson`` dumps what it read)."""
    exe = require_tool("bacula-dir")
    dump = require_tool("bdirjson")
    db = workdir / "bacula.db"
    if not db.exists():
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE Version (VersionId INTEGER UNSIGNED NOT NULL)")
            c.execute("INSERT INTO Version (VersionId) VALUES (16)")
    path = workdir / "bacula-dir.conf"
    path.write_text(conf, encoding="utf-8")
    res = subprocess.run(
        [exe, "-t", "-c", str(path.resolve())], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run(
        [dump, "-c", str(path.resolve()), "-r", kind],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    # bdirjson writes control characters raw (not valid strict JSON); a clean run has none.
    return [r[kind] for r in json.loads(res.stdout.decode("utf-8"), strict=False)]


def _escaped_bytes(text: str) -> int:
    """Bytes between the quotes of a Bacula string holding ``text`` (\\ and " escaped)."""
    return len(text.encode("utf-8")) + text.count("\\") + text.count('"')


def _job(i: int, description: str) -> str:
    return (
        f"Job {{\n  Name = j{i}\n  Type = Backup\n  Client = K\n  FileSet = F\n  Storage = S\n"
        f"  Pool = P\n  Messages = M\n  Description = {description}\n}}\n"
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(texts | st.text(min_size=900, max_size=1500), min_size=1, max_size=15))
@example([*HOSTILE_EXAMPLES, "x" * 3000, "\\" * 1200, '"' * 1200])
def test_bacula_str_round_trips_through_the_director(tmp_path: Path, values: list[str]) -> None:
    conf = _DIRECTOR.format(wd=tmp_path)
    for i, v in enumerate(values):
        conf += bacula_comment(f"NOT SCHEDULED: {v}") + "\n" + _job(i, bacula_str(v))
    jobs = {j["Name"]: j for j in bacula_jobs(conf, tmp_path)}
    assert sorted(jobs) == sorted(f"j{i}" for i in range(len(values)))  # no comment broke out
    for i, value in enumerate(values):
        read = jobs[f"j{i}"].get("Description", "")
        assert not CONTROLS.search(read)
        assert _escaped_bytes(read) <= BACULA_MAX_BYTES
        if not CONTROLS.search(value) and _escaped_bytes(value) <= BACULA_MAX_BYTES:
            assert read == value
        elif not CONTROLS.search(value):
            assert read.endswith("…") and value.startswith(read[:-1])


# --- iCalendar, Markdown, CSV -----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(texts)
@example("BEGIN:VEVENT,x;y\\n")
@example("C:\\Nightly")  # the icalendar writer made \\N a line break (found by hypothesis)
@example("\ufeff")  # the icalendar writer dropped a leading byte-order mark (hypothesis)
@example("\ufeffweb01")
def test_ics_text_round_trips(value: str) -> None:
    cal = Calendar()
    cal.add("prodid", "-//t//t//EN")
    cal.add("version", "2.0")
    ev = Event()
    ev.add("uid", "u@t")
    ev.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
    ev.add("summary", vUnknown(ics_text(value)))  # written verbatim, as the exporter does
    ev.add("description", vUnknown(ics_text(value)))
    cal.add_component(ev)
    raw = cal.to_ical()
    assert not re.search(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]", raw)
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    (back,) = Calendar.from_ical(raw).walk("VEVENT")
    shown = escape_controls(value).replace("\ufeff", "\\ufeff")
    assert str(back["summary"]) == str(back["description"]) == shown
    if not CONTROLS.search(value) and "\ufeff" not in value:
        assert str(back["summary"]) == value


_MD = MarkdownIt("commonmark").enable("table")


def md_cells(text: str) -> list[list[tuple[str, set[str]]]]:
    """Each table row as (rendered text, token types inside) per cell."""
    rows: list[list[tuple[str, set[str]]]] = []
    for t in _MD.parse(text):
        if t.type == "tr_open":
            rows.append([])
        elif t.type == "inline" and rows:
            kids = t.children or []
            rows[-1].append(("".join(k.content for k in kids), {k.type for k in kids}))
    return rows


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=4))
@example(["| md | pipe |", "a\\|b", "<script>x</script>", "*em* [l](javascript:x)"])
@example(["`code`", "<!--", "&amp;", "\\"])
@example(["misc ", " misc", "\u3000x\u00a0", " "])
def test_md_text_renders_as_text_in_a_table(values: list[str]) -> None:
    header = "| n | " + " | ".join(f"c{i}" for i in range(len(values))) + " |"
    rule = "| --- |" + " --- |" * len(values)
    row = "| 1 | " + " | ".join(md_text(v) for v in values) + " |"
    rows = md_cells(f"{header}\n{rule}\n{row}\n")
    assert len(rows) == 2 and len(rows[1]) == len(values) + 1  # one body row, every column
    for (rendered, kinds), value in zip(rows[1][1:], values, strict=True):
        assert kinds <= {"text"}, kinds  # no HTML, link, emphasis, code span or break
        # Controls and line separators are shown as escapes; whitespace at either end is
        # kept (as character references), so "misc" and "misc " stay two names.
        assert rendered == visible(value)
    # The same text as a list item (bottlenecks) is one item of exactly that plain text.
    for value in filter(None, values):
        tokens = _MD.parse(f"- {md_text(value)}\n")
        inline = [t for t in tokens if t.type == "inline"]
        assert len(inline) == 1 and {k.type for k in inline[0].children or []} <= {"text"}
        assert "".join(k.content for k in inline[0].children or []) == visible(value)


@given(st.lists(texts, min_size=1, max_size=8))
@example(["=1+1", "@SUM(A1)", "+1", "-1", "\tx", "\rx", "'=x", "'", "＝1"])
def test_csv_cell_reads_back_and_is_inert(values: list[str]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([csv_cell(v) for v in values])
    (row,) = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert [csv_uncell(c) for c in row] == values
    for cell in row:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"))


# --- slugs ------------------------------------------------------------------------------


@given(texts)
@example("web 100%")
@example("../../etc/cron.d/evil")
@example("web_100-0123456789ab")
def test_slug_is_safe_and_stable(value: str) -> None:
    s = slug(value)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", s) and len(s) <= 64 + 13
    assert slug(value) == s
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?", value) and not re.search(
        r"-[0-9a-f]{12}$", value
    ):
        assert s == value


@given(st.lists(texts, max_size=20))
@example(["Web01", "web01", "web 100%", "web_100", "web_100-" + slug("web 100%")[-12:]])
def test_slugs_are_unique_ignoring_case(values: list[str]) -> None:
    out = slugs(values)
    assert set(out) == set(values)
    assert len({s.lower() for s in out.values()}) == len(out)


@given(st.lists(texts, max_size=10), texts)
@example(["web_100"], "web 100%")
@example(["web 100&"], "web 100%")
def test_a_slug_does_not_depend_on_the_other_names(others: list[str], name: str) -> None:
    """Adding or removing a VM never renames another VM's job or log file (unless the two
    differ only by case)."""
    alone = slugs([name])[name]
    assert alone == slug(name)
    together = slugs([*others, name])
    if all(slug(o).lower() != slug(name).lower() or o == name for o in others):
        assert together[name] == alone


@given(texts, texts)
@example("web 100%", "web_100")
@example("web 100%", "web 100&")
@example("a", "a-" + "0" * 12)
@example("web 100%", "web_100-" + slug("web 100%")[-12:])  # a name shaped like a hashed slug
def test_distinct_names_get_distinct_slugs(a: str, b: str) -> None:
    if a.lower() != b.lower():
        assert slug(a).lower() != slug(b).lower()


# --- visible ----------------------------------------------------------------------------


BIDI_AND_SEPARATORS = (
    "\u202e\u202d\u202a\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029\ufeff"
)


@pytest.mark.parametrize("mark", [*BIDI_AND_SEPARATORS, "\x1b", "\x85"])
def test_visible_shows_bidi_controls_and_line_separators(mark: str) -> None:
    """`invoice<RLO>fdp.exe` must not display as `invoiceexe.pdf` in a comment, a terminal
    or an error line: every bidirectional control and line separator is shown as a code."""
    code = f"\\x{ord(mark):02x}" if ord(mark) < 0x100 else f"\\u{ord(mark):04x}"
    assert visible(f"invoice{mark}fdp.exe") == f"invoice{code}fdp.exe"

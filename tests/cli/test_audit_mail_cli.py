"""`stagger audit ... --mail-to --smtp`: the report e-mailed to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagger.cli import app
from stagger.model.topology import VM, Datastore, Disk, Host, Snapshot, Topology
from stagger.sources.yamlfile import dump_yaml
from tests.smtp_server import HOST, PASSWORD, USER, Pki, make_pki, smtp_server

runner = CliRunner()
HOSTILE = ["<script>alert(1)</script>", "</td><td>pwn", "[bold]red[/bold] a[/]", "\u202egnp.exe"]
ENV = {"STAGGER_SMTP_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def topo_file(tmp_path: Path) -> Path:
    old = datetime.now(UTC) - timedelta(days=9)
    vms = [
        VM(
            name=n,
            host="esx1",
            disks=[Disk(datastore="DS1", size_gib=1)],
            snapshots=[Snapshot(name=f"snap {n}", created=old)],
        )
        for n in HOSTILE
    ]
    path = tmp_path / "topology.yaml"
    topo = Topology(hosts=[Host(name="esx1")], datastores=[Datastore(name="DS1")], vms=vms)
    path.write_text(dump_yaml(topo))
    return path


def _mail(port: int, *extra: str) -> list[str]:
    return ["--mail-to", "ops@example.com", "--smtp", f"{HOST}:{port}", *extra]


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_json_report_mailed_identical_to_stdout(topo_file: Path) -> None:
    with smtp_server() as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                "--json",
                *_mail(srv.port, "--mail-to", "backup@example.com"),
                "--mail-from",
                "stagger@example.com",
                "--subject",
                "Weekly snapshots",
            ],
        )
    assert res.exit_code == 0, res.output
    assert f"report sent through {HOST}:{srv.port} to ops@example.com, backup@example.com" in (
        res.stderr
    )
    (got,) = srv.recorder.received
    assert got.rcpt_tos == ["ops@example.com", "backup@example.com"]
    msg = got.message()
    assert msg["Subject"] == "Weekly snapshots: 4 errors, 0 warnings, 0 info (4 VMs)"
    assert msg["From"] == "stagger@example.com"
    (att,) = list(msg.iter_attachments())
    assert att.get_payload(decode=True) == res.stdout.encode()  # what --json printed
    text = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert text is not None and page is not None
    plain = text.get_content()
    html = page.get_content()
    assert "vm '<script>alert(1)</script>'" in plain and "vm '\\u202egnp.exe'" in plain
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "&lt;/td&gt;&lt;td&gt;pwn" in html and "[bold]red[/bold] a[/]" in html


def test_table_run_with_hostile_names_and_mail(topo_file: Path) -> None:
    # The Rich table used to read names as markup: 'a[/]' crashed it with a traceback.
    with smtp_server() as srv:
        res = runner.invoke(
            app, ["audit", "-t", str(topo_file), *_mail(srv.port, "--mail-from", "s@example.com")]
        )
    assert res.exit_code == 0, res.output
    assert "[bold]red[/bold]" in res.stdout and "a[/]" in res.stdout
    assert len(srv.recorder.received) == 1 and "report sent" in res.stderr


def test_starttls_with_login(topo_file: Path, pki: Pki) -> None:
    with smtp_server(mode="starttls", pki=pki, auth=True) as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                *_mail(srv.port, "--starttls", "--smtp-user", USER),
                "--smtp-ca-file",
                str(pki.ca_file),
                "--mail-from",
                "s@example.com",
            ],
            env=ENV,
        )
    assert res.exit_code == 0, res.output
    assert len(srv.recorder.received) == 1 and "report sent" in res.stderr
    assert PASSWORD not in res.output


def test_password_prompt_when_not_in_the_environment(topo_file: Path, pki: Pki) -> None:
    with smtp_server(mode="ssl", pki=pki, auth=True) as srv:
        args = [
            "audit",
            "-t",
            str(topo_file),
            *_mail(srv.port, "--ssl", "--smtp-user", USER),
            "--smtp-ca-file",
            str(pki.ca_file),
            "--mail-from",
            "s@example.com",
        ]
        res = runner.invoke(app, args, input=PASSWORD + "\n", env={"STAGGER_SMTP_PASSWORD": ""})
        assert res.exit_code == 0, res.output
        assert "SMTP password for 'backup-reports'" in res.output and PASSWORD not in res.output
        none = runner.invoke(app, args, input="", env={"STAGGER_SMTP_PASSWORD": ""})
    assert none.exit_code == 1 and "no SMTP password" in none.stderr
    assert len(srv.recorder.received) == 1


@pytest.mark.parametrize("mode", ["--starttls", "--ssl"])
def test_wrong_ca_is_one_line_exit_3(topo_file: Path, pki: Pki, mode: str) -> None:
    with smtp_server(mode=mode.lstrip("-"), pki=pki) as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                *_mail(srv.port, mode, "--smtp-ca-file", str(pki.other_ca_file)),
                "--mail-from",
                "s@example.com",
            ],
        )
    assert res.exit_code == 3, res.output
    line = _one_error_line(res.stderr)
    assert "certificate not trusted" in line and "report not sent" in line
    assert "report sent" not in res.stderr.replace("report not sent", "")
    assert srv.recorder.received == []


def test_refused_login_is_one_line_exit_3(topo_file: Path, pki: Pki) -> None:
    with smtp_server(mode="starttls", pki=pki, auth=True) as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                "--json",
                *_mail(srv.port, "--starttls", "--smtp-user", USER),
                "--smtp-ca-file",
                str(pki.ca_file),
                "--mail-from",
                "s@example.com",
            ],
            env={"STAGGER_SMTP_PASSWORD": "wrong-password"},
        )
    assert res.exit_code == 3, res.output
    line = _one_error_line(res.stderr)
    assert "refused the login for user 'backup-reports'" in line and "535" in line
    assert "wrong-password" not in res.output
    assert "report sent" not in res.stderr.replace("report not sent", "")
    assert srv.recorder.received == []


def test_connection_dropped_mid_data_is_not_claimed_as_sent(topo_file: Path) -> None:
    with smtp_server(drop=True) as srv:
        res = runner.invoke(
            app,
            ["audit", "-t", str(topo_file), *_mail(srv.port, "--mail-from", "s@example.com")],
        )
    assert res.exit_code == 3, res.output
    line = _one_error_line(res.stderr)
    assert "closed the connection" in line and "report not sent" in line
    assert srv.recorder.dropped == 1 and srv.recorder.received == []


def test_some_recipients_refused_is_exit_3_and_says_who_got_it(topo_file: Path) -> None:
    with smtp_server() as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                *_mail(srv.port, "--mail-to", "nobody@example.com", "--mail-from", "s@example.com"),
            ],
        )
    assert res.exit_code == 3, res.output
    line = _one_error_line(res.stderr)
    assert "to ops@example.com only; refused: 'nobody@example.com': 550" in line
    assert len(srv.recorder.received) == 1


def test_fail_on_still_exits_2_after_the_mail_went_out(topo_file: Path) -> None:
    with smtp_server() as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                "--fail-on",
                "error",
                *_mail(srv.port, "--mail-from", "s@example.com"),
            ],
        )
    assert res.exit_code == 2, res.output
    assert len(srv.recorder.received) == 1 and "report sent" in res.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--mail-to", "ops@example.com\r\nBcc: evil@example.org"], "--mail-to"),
        (["--mail-to", "Ops <ops@example.com>"], "--mail-to"),
        (["--mail-from", "a@b.example\nSubject: x"], "--mail-from"),
        (["--subject", "Audit\r\nBcc: evil@example.org"], "--subject"),
        (["--smtp-user", USER], "--smtp-user needs --starttls or --ssl"),
        (["--starttls", "--ssl"], "give one of --starttls and --ssl"),
        (["--smtp-ca-file", "/nonexistent.pem", "--ssl"], "--smtp-ca-file"),
    ],
)
def test_bad_mail_options_exit_1_before_anything(
    topo_file: Path, extra: list[str], expected: str
) -> None:
    with smtp_server() as srv:
        res = runner.invoke(
            app,
            [
                "audit",
                "-t",
                str(topo_file),
                *_mail(srv.port, "--mail-from", "s@example.com"),
                *extra,
            ],
            env=ENV,
        )
    assert res.exit_code == 1, res.output
    line = _one_error_line(res.stderr)
    assert expected in line
    assert res.stdout == ""  # refused before the audit ran
    assert srv.recorder.received == []


def test_mail_options_need_each_other(topo_file: Path) -> None:
    base = ["audit", "-t", str(topo_file)]
    for extra, msg in (
        (["--mail-to", "ops@example.com"], "--mail-to needs --smtp"),
        (["--smtp", "127.0.0.1:25"], "--smtp needs at least one --mail-to"),
        (["--starttls"], "mail options need --mail-to and --smtp"),
    ):
        res = runner.invoke(app, [*base, *extra])
        assert res.exit_code == 1 and msg in _one_error_line(res.stderr), res.output


def test_default_sender_is_stagger_at_this_host(
    topo_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.getfqdn", lambda *a: "backup01.example.com")
    with smtp_server() as srv:
        res = runner.invoke(app, ["audit", "-t", str(topo_file), *_mail(srv.port)])
    assert res.exit_code == 0, res.output
    (got,) = srv.recorder.received
    assert got.mail_from == "stagger@backup01.example.com"
    assert got.message()["From"] == "stagger@backup01.example.com"

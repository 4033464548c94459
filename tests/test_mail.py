"""stagger.mail: quoting, the message built, and delivery to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagger.audit import AuditReport, AuditSettings, audit
from stagger.errors import (
    InputError,
    SourceAuthError,
    SourceProtocolError,
    SourceRefusedError,
    SourceTimeoutError,
    SourceTLSError,
)
from stagger.mail import (
    SmtpSettings,
    build_message,
    check_address,
    check_subject_prefix,
    html_text,
    mail_text,
    parse_smtp_server,
    send,
    subject,
)
from stagger.model.topology import VM, Datastore, Disk, Host, Snapshot, Topology
from tests.smtp_server import (
    HOST,
    PASSWORD,
    USER,
    Pki,
    dripping_server,
    free_port,
    make_pki,
    smtp_server,
)

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
HOSTILE = [
    "<script>alert(1)</script>",
    "</td></tr></table><h1>pwn</h1>",
    "[bold]red[/bold] a[/]",
    "\u202egnp.exe",  # RIGHT-TO-LEFT OVERRIDE: would display reversed
    "rlm\u200fname & 'q' \"dq\"",
]


def hostile_report() -> AuditReport:
    vms = [
        VM(
            name=name,
            host="esx1",
            disks=[Disk(datastore="DS1", size_gib=10)],
            snapshots=[Snapshot(name=f"snap {name}", created=NOW - timedelta(days=9))],
            tools="not_running",
            power_state="on",
        )
        for name in HOSTILE
    ]
    topo = Topology(hosts=[Host(name="esx1")], datastores=[Datastore(name="DS1")], vms=vms)
    return audit(topo, source="vc01 <b>x</b>", now=NOW, settings=AuditSettings())


# --- quoting ---------------------------------------------------------------------------------

_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@given(st.text())
def test_mail_text_is_one_displayable_line(value: str) -> None:
    shown = mail_text(value)
    assert not any(unicodedata.category(c) in _UNSAFE for c in shown)
    assert shown.splitlines() in ([shown], [])
    if all(unicodedata.category(c) not in _UNSAFE and c != "\\" for c in value):
        assert shown == value  # ordinary text (any script) is kept as is


@given(st.text())
def test_mail_text_is_unambiguous(value: str) -> None:
    other = value + "\\u0000"  # the literal text of an escape must not look like the escape
    assert mail_text(value + "\x00") != mail_text(other)


@given(st.text())
def test_html_text_is_only_text(value: str) -> None:
    p = _TextOf()
    p.feed(f"<td>{html_text(value)}</td>")
    p.close()
    assert p.tags == ["td", "/td"]
    assert "".join(p.text) == mail_text(value)
    attr = _TextOf()
    attr.feed(f'<td title="{html_text(value)}">x</td>')
    assert attr.tags == ["td", "/td"]


@given(st.text(max_size=80))
def test_check_address_never_lets_a_header_through(value: str) -> None:
    try:
        ok = check_address(value, "--mail-to")
    except InputError as exc:
        assert "\n" not in str(exc) and "--mail-to" in str(exc)
        return
    assert ok.count("@") == 1
    assert not any(c in ok for c in '\r\n ,<>"():;\\[]') and ok.isascii()


@pytest.mark.parametrize(
    "bad",
    [
        "ops@example.com\r\nBcc: evil@example.org",
        "ops@example.com\nSubject: x",
        "Ops <ops@example.com>",
        "ops@example.com, evil@example.org",
        "ops@",
        "@example.com",
        "ops@exa mple.com",
        "",
    ],
)
def test_check_address_refuses(bad: str) -> None:
    with pytest.raises(InputError, match="--mail-to"):
        check_address(bad, "--mail-to")


def test_parse_smtp_server() -> None:
    assert parse_smtp_server("mail.example.com", "plain") == ("mail.example.com", 25)
    assert parse_smtp_server("mail.example.com", "starttls") == ("mail.example.com", 587)
    assert parse_smtp_server("mail.example.com", "ssl") == ("mail.example.com", 465)
    assert parse_smtp_server("127.0.0.1:2525", "ssl") == ("127.0.0.1", 2525)
    assert parse_smtp_server("[::1]:26", "plain") == ("::1", 26)
    for bad in ("host:0", "host:70000", "host:x", "ho st", "host:", "[::1", "[zz]:25", ":25"):
        with pytest.raises(InputError, match="--smtp"):
            parse_smtp_server(bad, "plain")


def test_subject_is_fixed_text_and_counts() -> None:
    report = hostile_report()
    s = subject(report, "Weekly audit")
    assert s == "Weekly audit: 5 errors, 5 warnings, 1 info (5 VMs)"
    for bad in ("x\r\nBcc: evil@example.org", "x\u202e", "", "a" * 121):
        with pytest.raises(InputError, match="--subject"):
            check_subject_prefix(bad)


# --- the message -----------------------------------------------------------------------------


def _parts(msg: EmailMessage) -> tuple[str, str, bytes, str]:
    body_text = msg.get_body(("plain",))
    body_html = msg.get_body(("html",))
    assert body_text is not None and body_html is not None
    (att,) = list(msg.iter_attachments())
    raw = att.get_payload(decode=True)
    assert isinstance(raw, bytes) and att.get_content_type() == "application/json"
    return body_text.get_content(), body_html.get_content(), raw, str(att.get_filename())


def test_message_parts_and_hostile_names() -> None:
    report = hostile_report()
    msg = build_message(
        report, report.to_json(), mail_from="stagger@example.com", mail_to=["ops@example.com"]
    )
    assert msg.get_content_type() == "multipart/mixed"
    text, page, raw, filename = _parts(msg)
    assert raw == report.to_json().encode()
    assert filename == "stagger-audit-20261123-070000.json"
    # Plain text: names as text, bidi override shown escaped, no control/format character.
    assert "vm '<script>alert(1)</script>'" in text
    assert "vm '[bold]red[/bold] a[/]'" in text
    assert "vm '\\u202egnp.exe'" in text and "\u202e" not in text and "\u200f" not in text
    assert not any(unicodedata.category(c) in _UNSAFE for c in text.replace("\n", ""))
    # HTML: every name arrives as the text of its cell; no tag but the report's own.
    p = _TextOf()
    p.feed(page)
    assert "script" not in p.tags and "h1" not in p.tags
    assert p.tags.count("table") == 2 and p.tags.count("/table") == 2
    cells = set(p.text)
    for name in ("<script>alert(1)</script>", "</td></tr></table><h1>pwn</h1>"):
        assert f"vm '{name}'" in cells
    assert "vm 'rlm\\u200fname & 'q' \"dq\"'" in cells
    assert "Source: vc01 <b>x</b>" in "".join(p.text)


def test_message_with_no_findings_says_none() -> None:
    topo = Topology(hosts=[Host(name="esx1")], datastores=[Datastore(name="DS1")], vms=[])
    report = audit(topo, now=NOW, settings=AuditSettings(check_raid_groups=False))
    msg = build_message(report, report.to_json(), mail_from="a@b.example", mail_to=["c@d.example"])
    text, page, _, _ = _parts(msg)
    assert "Findings: none." in text and "Findings: none." in page
    assert msg["Subject"] == "stagger audit: 0 errors, 0 warnings, 0 info (0 VMs)"


# --- delivery --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def message() -> Iterator[EmailMessage]:
    report = hostile_report()
    yield build_message(
        report,
        report.to_json(),
        mail_from="stagger@example.com",
        mail_to=["ops@example.com", "backup@example.com"],
    )


def test_send_plain_delivers_the_message(message: EmailMessage) -> None:
    with smtp_server() as srv:
        res = send(message, SmtpSettings(host=HOST, port=srv.port, timeout_s=10))
    assert res.accepted == ["ops@example.com", "backup@example.com"] and res.refused == {}
    (got,) = srv.recorder.received
    assert got.mail_from == "stagger@example.com"
    assert got.rcpt_tos == ["ops@example.com", "backup@example.com"]
    parsed = got.message()
    assert parsed["Subject"] == message["Subject"]
    text, page, raw, filename = _parts(parsed)
    # On the wire lines end in CRLF; the JSON is base64, so it arrives byte for byte.
    assert (text.replace("\r\n", "\n"), page.replace("\r\n", "\n"), raw, filename) == _parts(
        message
    )


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_send_over_verified_tls_with_login(mode: str, pki: Pki, message: EmailMessage) -> None:
    with smtp_server(mode=mode, pki=pki, auth=True) as srv:
        res = send(
            message,
            SmtpSettings(
                host=HOST,
                port=srv.port,
                security=mode,  # type: ignore[arg-type]
                user=USER,
                password=PASSWORD,
                ca_file=str(pki.ca_file),
                timeout_s=10,
            ),
        )
    assert res.refused == {} and len(srv.recorder.received) == 1


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_send_refuses_a_certificate_of_another_ca(
    mode: str, pki: Pki, message: EmailMessage
) -> None:
    with smtp_server(mode=mode, pki=pki) as srv:
        settings = SmtpSettings(
            host=HOST,
            port=srv.port,
            security=mode,  # type: ignore[arg-type]
            ca_file=str(pki.other_ca_file),
            timeout_s=10,
        )
        with pytest.raises(SourceTLSError, match="certificate not trusted") as exc:
            send(message, settings)
        # Without a CA file the system store is used: the test CA is not in it either.
        with pytest.raises(SourceTLSError):
            send(message, SmtpSettings(host=HOST, port=srv.port, security=mode, timeout_s=10))  # type: ignore[arg-type]
    assert "not sent" in str(exc.value) and "\n" not in str(exc.value)
    assert srv.recorder.received == []


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_send_refuses_a_certificate_for_another_host_name(
    mode: str, pki: Pki, message: EmailMessage
) -> None:
    # Signed by the trusted CA, but for mail.elsewhere.example, not 127.0.0.1.
    with smtp_server(mode=mode, pki=pki, wrong_name=True) as srv:
        settings = SmtpSettings(
            host=HOST,
            port=srv.port,
            security=mode,  # type: ignore[arg-type]
            ca_file=str(pki.ca_file),
            timeout_s=10,
        )
        with pytest.raises(SourceTLSError, match=r"certificate not trusted.*mismatch"):
            send(message, settings)
    assert srv.recorder.received == []


def test_send_refused_login(pki: Pki, message: EmailMessage) -> None:
    with smtp_server(mode="starttls", pki=pki, auth=True) as srv:
        settings = SmtpSettings(
            host=HOST,
            port=srv.port,
            security="starttls",
            user=USER,
            password="wrong",
            ca_file=str(pki.ca_file),
            timeout_s=10,
        )
        with pytest.raises(SourceAuthError, match="refused the login") as exc:
            send(message, settings)
    assert exc.value.exit_code == 3 and "wrong" not in str(exc.value)
    assert srv.recorder.received == []


def test_send_connection_dropped_before_the_server_accepted(message: EmailMessage) -> None:
    with (
        smtp_server(drop=True) as srv,
        pytest.raises(SourceProtocolError, match="closed the connection") as exc,
    ):
        send(message, SmtpSettings(host=HOST, port=srv.port, timeout_s=10))
    assert srv.recorder.dropped == 1 and srv.recorder.received == []
    assert "report not sent" in str(exc.value)


def test_a_connection_dropped_after_acceptance_is_still_sent(message: EmailMessage) -> None:
    # The server said 250 to the message: a lost QUIT answer does not undo the delivery.
    with smtp_server(drop_on_quit=True) as srv:
        res = send(message, SmtpSettings(host=HOST, port=srv.port, timeout_s=10))
    assert res.refused == {} and len(srv.recorder.received) == 1


def test_starttls_asked_but_not_offered_sends_nothing(message: EmailMessage) -> None:
    with (
        smtp_server() as srv,
        pytest.raises(SourceProtocolError, match="does not offer STARTTLS"),
    ):
        send(message, SmtpSettings(host=HOST, port=srv.port, security="starttls"))
    assert srv.recorder.received == []


def test_login_without_tls_is_refused_before_connecting(message: EmailMessage) -> None:
    with smtp_server(auth=True) as srv, pytest.raises(InputError, match="unencrypted"):
        send(message, SmtpSettings(host=HOST, port=srv.port, user=USER, password=PASSWORD))
    assert srv.recorder.received == []


def test_refused_recipients_are_reported(message: EmailMessage) -> None:
    report = hostile_report()
    msg = build_message(
        report,
        report.to_json(),
        mail_from="stagger@example.com",
        mail_to=["ops@example.com", "nobody@example.com"],
    )
    with smtp_server() as srv:
        res = send(msg, SmtpSettings(host=HOST, port=srv.port, timeout_s=10))
        assert res.accepted == ["ops@example.com"]
        assert (
            list(res.refused) == ["nobody@example.com"]
            and "550" in res.refused["nobody@example.com"]
        )
        only_bad = build_message(
            report, "{}", mail_from="stagger@example.com", mail_to=["nobody@example.com"]
        )
        with pytest.raises(SourceProtocolError, match="refused every recipient"):
            send(only_bad, SmtpSettings(host=HOST, port=srv.port, timeout_s=10))
    assert len(srv.recorder.received) == 1


def test_connection_refused(message: EmailMessage) -> None:
    with pytest.raises(SourceRefusedError, match="connection refused"):
        send(message, SmtpSettings(host=HOST, port=free_port(), timeout_s=5))


def test_json_attachment_round_trips(message: EmailMessage) -> None:
    _, _, raw, _ = _parts(message)
    data = json.loads(raw)
    assert [f["object"] for f in data["findings"]][:2] == [
        "vm '<script>alert(1)</script>'",
        "vm '<script>alert(1)</script>'",
    ]
    assert any("\u202e" in f["object"] for f in data["findings"])  # raw values in the JSON


def test_bad_ca_file_is_input_error(tmp_path: Path, message: EmailMessage) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(InputError, match="--smtp-ca-file"):
        send(message, SmtpSettings(host=HOST, port=1, security="ssl", ca_file=str(bad)))


def test_a_dripping_server_is_cut_off_at_the_deadline(message: EmailMessage) -> None:
    # A line every 0.2 s never trips the per-read timeout: only the whole-delivery deadline.
    with (
        dripping_server() as drip,
        pytest.raises(SourceTimeoutError, match=r"not done within 1\.5 s") as exc,
    ):
        send(message, SmtpSettings(host=HOST, port=drip.port, timeout_s=1.5))
    assert drip.outcome == "client left"  # stagger hung up; the server did not give up first
    assert "report not sent" in str(exc.value)


def test_a_silent_server_times_out(message: EmailMessage) -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)  # accepts (backlog) and never says a word
        with pytest.raises(SourceTimeoutError, match="report not sent"):
            send(message, SmtpSettings(host=HOST, port=listener.getsockname()[1], timeout_s=1))


@given(st.text(max_size=60))
def test_parse_smtp_server_refuses_or_gives_a_usable_address(value: str) -> None:
    try:
        host, port = parse_smtp_server(value, "starttls")
    except InputError as exc:
        assert "\n" not in str(exc) and "--smtp" in str(exc)
        return
    assert 0 < port < 65536 and host and host.isascii()
    assert not any(c in host for c in " \r\n/@")


@given(st.text(max_size=130))
def test_subject_prefix_refuses_or_stays_one_header_line(value: str) -> None:
    try:
        check_subject_prefix(value)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    report = hostile_report()
    msg = build_message(
        report, "{}", mail_from="a@b.example", mail_to=["c@d.example"], subject_prefix=value
    )
    assert str(msg["Subject"]).startswith(value) and len(msg.get_all("Subject") or []) == 1
    assert msg.get_all("Bcc") is None

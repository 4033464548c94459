"""The audit report as an e-mail: build it (plain text + HTML table + the JSON attached), send it.

Names in the report come from whoever can create a VM, so every name is hostile here too:

- the HTML part escapes every value through :func:`html_text` (``html.escape`` after
  :func:`mail_text`), so ``<script>`` or ``</td>`` arrive as text, never as markup;
- the plain text passes every value through :func:`mail_text`: control characters, bidi
  overrides/marks, zero-width and line-separator characters are shown as ``\\uXXXX``, so a name
  can neither break a line nor reorder what the reader sees (the JSON attachment keeps the raw
  values);
- headers cannot be injected: the subject is a fixed prefix plus counts (a ``--subject`` prefix
  with a control character is refused) and every address must be a plain ``local@domain``.

:func:`send` speaks SMTP (optionally STARTTLS) or SMTPS with certificate and host name verified
by default. Every failure becomes one :class:`~stagger.errors.SourceError` line (exit 3) that
says the report was not sent; success is returned only after the server accepted the message.
"""

from __future__ import annotations

import contextlib
import html
import re
import smtplib
import socket
import ssl
import threading
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from stagger.audit import SEVERITIES, AuditReport
from stagger.errors import (
    InputError,
    SourceAuthError,
    SourceError,
    SourceProtocolError,
    SourceRefusedError,
    SourceTimeoutError,
    SourceTLSError,
)

Security = Literal["plain", "starttls", "ssl"]
DEFAULT_PORT: dict[Security, int] = {"plain": 25, "starttls": 587, "ssl": 465}
DEFAULT_SUBJECT = "stagger audit"
SUBJECT_MAX_CHARS = 120

# A plain addr-spec (RFC 5322 dot-atom local part, DNS domain): no display names, quotes,
# comments, commas or whitespace, so an address can never carry a second header or recipient.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_HOSTNAME = re.compile(
    r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$"
)
# Unicode categories shown escaped: controls, format characters (bidi marks and overrides,
# zero-width), line/paragraph separators, surrogates, private use and unassigned.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def mail_text(value: str) -> str:
    """``value`` for a mail body: every unsafe character as ``\\uXXXX`` (``\\U`` beyond the BMP).

    The result holds no control, format or separator character, so it stays on one line and is
    displayed in the order it is stored. A backslash is doubled so the escape is unambiguous."""
    out: list[str] = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            cp = ord(ch)
            out.append(f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}")
        else:
            out.append(ch)
    return "".join(out)


def html_text(value: str) -> str:
    """``value`` as HTML text content or attribute value: :func:`mail_text`, then escaped."""
    return html.escape(mail_text(value), quote=True)


def check_address(value: str, option: str) -> str:
    """A plain ``local@domain`` address, or :class:`InputError` naming the option."""
    if len(value) > 254 or not _ADDRESS.match(value):
        raise InputError(
            f"not a plain e-mail address (local@domain): {value!a}",
            field=option,
        )
    return value


def parse_smtp_server(value: str, security: Security) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` -> (host, port); default port by security."""
    host, port_s = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise InputError(f"unclosed '[' in {value!a}", field="--smtp")
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InputError(f"expected HOST:PORT, got {value!a}", field="--smtp")
        port_s = rest[1:]
        try:
            socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            raise InputError(f"not an IPv6 address: {host!a}", field="--smtp") from None
    elif value.count(":") == 1:
        host, port_s = value.split(":")
    if not host or (not value.startswith("[") and not _HOSTNAME.match(host)):
        raise InputError(f"not a host name: {host!a}", field="--smtp")
    if not port_s and value.endswith(":"):
        raise InputError(f"empty port in {value!a}", field="--smtp")
    if not port_s:
        return host, DEFAULT_PORT[security]
    if not port_s.isascii() or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise InputError(f"port must be 1-65535, got {port_s!a}", field="--smtp")
    return host, int(port_s)


def check_subject_prefix(value: str) -> str:
    """A ``--subject`` prefix: printable text only, at most :data:`SUBJECT_MAX_CHARS`."""
    if any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in value):
        raise InputError(
            f"holds a control or format character: {value!a}",
            field="--subject",
        )
    if not value.strip() or len(value) > SUBJECT_MAX_CHARS:
        raise InputError(
            f"must be 1-{SUBJECT_MAX_CHARS} characters, got {len(value)}", field="--subject"
        )
    return value


def _by_severity(report: AuditReport) -> dict[str, int]:
    counts: dict[str, int] = {s: 0 for s in SEVERITIES}
    for f in report.findings:
        counts[f.severity] += 1
    return counts


def subject(report: AuditReport, prefix: str = DEFAULT_SUBJECT) -> str:
    """Fixed text and counts only: no name from the estate ever reaches a header."""
    n = _by_severity(report)
    incomplete = report.counts.get("source_incomplete", 0)
    tail = ", INCOMPLETE" if incomplete else ""
    return (
        f"{check_subject_prefix(prefix)}: {n['error']} errors, {n['warning']} warnings,"
        f" {n['info']} info ({report.vms} VMs{tail})"
    )


def _intro(report: AuditReport) -> list[str]:
    s = report.settings
    lines = [
        f"Source: {mail_text(report.source) or '(not named)'}",
        f"Generated: {report.generated.isoformat()}",
        f"Estate: {report.vms} VMs to back up, {report.datastores} datastores",
        f"Thresholds: snapshots older than {s.snapshot_age_days:g} days"
        f" or larger than {s.snapshot_size_gib:g} GiB",
    ]
    if report.counts.get("source_incomplete", 0):
        lines.append(
            "INCOMPLETE: some inventory rows matched no VM (see source_incomplete): the checks"
            " they feed are incomplete, so this report is no all-clear."
        )
    return lines


def render_text(report: AuditReport) -> str:
    """The plain-text part: intro, findings (one per line), counts per check."""
    lines = ["Pre-backup audit", "", *_intro(report), ""]
    if report.findings:
        lines.append(f"Findings ({len(report.findings)}):")
        for f in report.findings:
            lines.append(
                f"- [{f.severity}] {f.check}: {mail_text(f.object)}: {mail_text(f.detail)}"
            )
    else:
        lines.append("Findings: none.")
    lines += ["", "Findings per check:"]
    width = max(len(c) for c in report.counts) if report.counts else 0
    lines += [f"  {c:<{width}}  {n}" for c, n in report.counts.items()]
    lines += ["", "The full report is attached as JSON (stagger audit --json)."]
    return "\n".join(lines) + "\n"


_COLOUR = {"error": "#b00020", "warning": "#8a5a00", "info": "#005a8a"}
_CELL = 'style="border:1px solid #ccc;padding:2px 6px;text-align:left"'


def render_html(report: AuditReport) -> str:
    """The HTML part: the same content as :func:`render_text`, findings as a table."""
    e = html_text
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Pre-backup audit</title></head><body>',
        "<h2>Pre-backup audit</h2>",
        "<p>" + "<br>".join(e(line) for line in _intro(report)) + "</p>",
    ]
    if report.findings:
        parts.append(f"<h3>Findings ({len(report.findings)})</h3>")
        parts.append('<table style="border-collapse:collapse">')
        parts.append(
            "<tr>"
            + "".join(f"<th {_CELL}>{h}</th>" for h in ("check", "severity", "object", "detail"))
            + "</tr>"
        )
        for f in report.findings:
            sev = (
                f'<td {_CELL}><span style="color:{_COLOUR[f.severity]}">{e(f.severity)}</span></td>'
            )
            parts.append(
                f"<tr><td {_CELL}>{e(f.check)}</td>{sev}"
                f"<td {_CELL}>{e(f.object)}</td><td {_CELL}>{e(f.detail)}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>Findings: none.</p>")
    parts.append("<h3>Findings per check</h3>")
    parts.append('<table style="border-collapse:collapse">')
    for c, n in report.counts.items():
        parts.append(f"<tr><td {_CELL}>{e(c)}</td><td {_CELL}>{n}</td></tr>")
    parts.append("</table>")
    parts.append("<p>The full report is attached as JSON (stagger audit --json).</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def attachment_name(report: AuditReport) -> str:
    return f"stagger-audit-{report.generated:%Y%m%d-%H%M%S}.json"


def build_message(
    report: AuditReport,
    report_json: str,
    *,
    mail_from: str,
    mail_to: list[str],
    subject_prefix: str = DEFAULT_SUBJECT,
) -> EmailMessage:
    """multipart/mixed: (text/plain | text/html) alternative, then the JSON report attached.

    ``report_json`` is attached byte for byte (UTF-8), as ``stagger audit --json`` prints it."""
    check_address(mail_from, "--mail-from")
    if not mail_to:
        raise InputError("no recipient", field="--mail-to")
    for addr in mail_to:
        check_address(addr, "--mail-to")
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = ", ".join(mail_to)
    msg["Subject"] = subject(report, subject_prefix)
    msg["Date"] = format_datetime(report.generated)
    msg["Message-ID"] = make_msgid(domain=mail_from.rsplit("@", 1)[1])
    msg.set_content(render_text(report), charset="utf-8")
    msg.add_alternative(render_html(report), subtype="html", charset="utf-8")
    msg.add_attachment(
        report_json.encode("utf-8"),
        maintype="application",
        subtype="json",
        filename=attachment_name(report),
    )
    return msg


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security = "plain"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class SendResult:
    """The server accepted the message (its DATA reply was 2xx) for ``accepted``."""

    accepted: list[str]
    refused: dict[str, str]


def _reply(code: int, text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {ascii(raw)[1:-1]}"


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        # create_default_context verifies the chain and the host name.
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(
            f"cannot read CA file {ca_file!a}: {exc}", field="--smtp-ca-file"
        ) from None


class _Deadline:
    """Cuts the connection when the whole delivery takes longer than ``seconds``.

    A socket timeout bounds each read only: a server that sends a byte every few seconds
    would hold the run for ever. At the deadline the socket is shut down from a timer thread,
    which ends the blocked read; ``expired`` then turns whatever error that gives into a
    time-out."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.smtp: smtplib.SMTP | None = None
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.expired = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also under TLS: no TLS alert from this thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def send(message: EmailMessage, settings: SmtpSettings) -> SendResult:
    """Deliver ``message`` to the SMTP server; a :class:`SourceError` when it was not accepted.

    ``settings.timeout_s`` bounds the whole delivery (connect to accepted) and each read."""
    with _Deadline(settings.timeout_s) as deadline:
        try:
            return _send(message, settings, deadline)
        except SourceError as exc:
            if not deadline.expired or isinstance(exc, SourceTimeoutError):
                raise
            raise SourceTimeoutError(
                f"SMTP server {settings.host}:{settings.port}: delivery not done within"
                f" {settings.timeout_s:g} s: report not sent"
            ) from None


def _send(message: EmailMessage, settings: SmtpSettings, deadline: _Deadline) -> SendResult:
    if settings.user is not None and settings.security == "plain":
        # smtplib would send the password in the clear; refuse before connecting.
        raise InputError(
            "login over an unencrypted connection refused: add --starttls or --ssl",
            field="--smtp-user",
        )
    context = None if settings.security == "plain" else _tls_context(settings.ca_file)
    where = f"SMTP server {settings.host}:{settings.port}"
    recipients = [a.strip() for a in str(message["To"]).split(",")]
    sender = str(message["From"])
    stage = "connect"
    smtp: smtplib.SMTP | None = None
    try:
        # Built unconnected so that the deadline sees the socket while the greeting is read.
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(timeout=settings.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(timeout=settings.timeout_s)
        deadline.smtp = smtp
        # smtplib sets the TLS server name (_host) only when the constructor connects; the
        # certificate's host name is checked against it (STARTTLS and SMTPS).
        smtp._host = settings.host  # type: ignore[attr-defined]
        code, greeting = smtp.connect(settings.host, settings.port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, greeting)
        stage = "EHLO"
        smtp.ehlo()
        if settings.security == "starttls":
            stage = "STARTTLS"
            if not smtp.has_extn("starttls"):
                raise SourceProtocolError(
                    f"{where} does not offer STARTTLS: report not sent (nothing in the clear)"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user is not None:
            stage = "login"
            smtp.login(settings.user, settings.password or "")
        stage = "sending"
        refused_raw = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
    except SourceError:
        _close(smtp)
        raise
    except smtplib.SMTPAuthenticationError as exc:
        _close(smtp)
        raise SourceAuthError(
            f"{where} refused the login for user {settings.user!a}"
            f" ({_reply(exc.smtp_code, exc.smtp_error)}): report not sent"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        _close(smtp)
        shown = "; ".join(f"{a!a}: {_reply(c, t)}" for a, (c, t) in exc.recipients.items())
        raise SourceProtocolError(
            f"{where} refused every recipient ({shown}): report not sent"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        _close(smtp)
        raise SourceProtocolError(f"{where} at {stage}: {exc}: report not sent") from None
    except smtplib.SMTPServerDisconnected:
        _close(smtp)
        raise SourceProtocolError(
            f"{where} closed the connection at {stage} before accepting the message:"
            " report not sent"
        ) from None
    except smtplib.SMTPResponseException as exc:
        _close(smtp)
        raise SourceProtocolError(
            f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)} at {stage}: report not sent"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        _close(smtp)
        raise SourceTLSError(
            f"{where}: certificate not trusted ({exc.verify_message}); give the CA with"
            " --smtp-ca-file: report not sent"
        ) from None
    except ssl.SSLError as exc:
        _close(smtp)
        raise SourceTLSError(
            f"{where}: TLS failed at {stage} ({exc.reason}): report not sent"
        ) from None
    except TimeoutError:
        _close(smtp)
        raise SourceTimeoutError(
            f"{where}: no answer within {settings.timeout_s:g} s at {stage}: report not sent"
        ) from None
    except ConnectionRefusedError:
        raise SourceRefusedError(f"{where}: connection refused: report not sent") from None
    except socket.gaierror as exc:
        raise SourceRefusedError(
            f"{where}: unknown host ({exc.strerror}): report not sent"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        _close(smtp)
        raise SourceError(
            f"{where} at {stage}: {ascii(str(exc))[1:-1] or type(exc).__name__}: report not sent"
        ) from None
    # The server has accepted the message; a failing QUIT no longer changes that.
    _close(smtp, polite=True)
    refused = {a: _reply(c, t) for a, (c, t) in refused_raw.items()}
    return SendResult(accepted=[a for a in recipients if a not in refused], refused=refused)


def _close(smtp: smtplib.SMTP | None, *, polite: bool = False) -> None:
    if smtp is None:
        return
    try:
        if polite:
            smtp.quit()
        else:
            smtp.close()
    except (OSError, smtplib.SMTPException):
        smtp.close()

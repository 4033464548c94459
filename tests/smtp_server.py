"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, with test certificates made here.

Plain SMTP, STARTTLS or SMTPS (implicit TLS), optional AUTH, and a handler that drops the
connection after the client has sent the message but before the server answers it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
USER = "backup-reports"
PASSWORD = "s3cret-smtp-pw"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        msg = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Recorder:
    """Accepts every message and keeps it; ``drop`` cuts the connection instead of answering."""

    drop: bool = False
    drop_on_quit: bool = False  # accept the message, then cut the connection at QUIT
    received: list[Received] = field(default_factory=list)
    dropped: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop:
            self.dropped += 1
            server.transport.abort()  # the client has sent DATA and waits for the reply
            return "421 gone"
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 OK queued"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_on_quit:
            server.transport.abort()
        return "221 Bye"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    other_ca_file: Path  # a CA that did not sign the server's certificate
    cert_file: Path
    key_file: Path
    elsewhere: tuple[Path, Path]  # certificate + key from the test CA for another host name

    def server_context(self, *, wrong_name: bool = False) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if wrong_name:
            ctx.load_cert_chain(*self.elsewhere)
        else:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(folder: Path, cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, path


def _leaf(
    folder: Path,
    stem: str,
    names: list[x509.GeneralName],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = folder / f"{stem}.pem"
    key_file = folder / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def make_pki(folder: Path) -> Pki:
    """A test CA, a server certificate it signs for 127.0.0.1 and localhost, one it signs for
    another host name only, and a second CA."""
    ca_cert, ca_key, ca_file = _ca(folder, "stagger-test-ca")
    _, _, other_ca_file = _ca(folder, "stagger-other-ca")
    ip = x509.IPAddress(ipaddress.ip_address(HOST))
    cert_file, key_file = _leaf(folder, "server", [x509.DNSName("localhost"), ip], ca_cert, ca_key)
    elsewhere = _leaf(
        folder, "elsewhere", [x509.DNSName("mail.elsewhere.example")], ca_cert, ca_key
    )
    return Pki(ca_file, other_ca_file, cert_file, key_file, elsewhere)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    recorder: Recorder
    controller: Controller


@contextlib.contextmanager
def smtp_server(
    *,
    mode: str = "plain",
    pki: Pki | None = None,
    auth: bool = False,
    drop: bool = False,
    drop_on_quit: bool = False,
    wrong_name: bool = False,
) -> Iterator[Server]:
    """``mode``: ``plain``, ``starttls`` (STARTTLS offered and required) or ``ssl`` (SMTPS)."""
    recorder = Recorder(drop=drop, drop_on_quit=drop_on_quit)
    kwargs: dict[str, Any] = {}
    if mode in ("starttls", "ssl"):
        assert pki is not None
        ctx = pki.server_context(wrong_name=wrong_name)
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    if auth:
        # aiosmtpd counts only STARTTLS as TLS; on SMTPS the connection is TLS from the start,
        # and on plain SMTP the client must refuse to log in by itself.
        kwargs.update(authenticator=_authenticator, auth_require_tls=mode == "starttls")
    port = free_port()
    controller = Controller(recorder, hostname=HOST, port=port, **kwargs)
    controller.start()
    try:
        yield Server(port=port, recorder=recorder, controller=controller)
    finally:
        controller.stop()


@dataclass
class Drip:
    port: int
    outcome: str = "no connection"  # then "client left" or "gave up"


@contextlib.contextmanager
def dripping_server(interval_s: float = 0.2, give_up_s: float = 30.0) -> Iterator[Drip]:
    """A server that never finishes its greeting: one continuation line every ``interval_s``.

    Each read of the client gets a byte well within any per-read timeout, so only a deadline
    for the whole delivery ends it. ``outcome`` says whether the client hung up or the server
    gave up after ``give_up_s`` (so a broken client test ends)."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(1)
    listener.settimeout(give_up_s)
    stop = threading.Event()
    drip = Drip(port=int(listener.getsockname()[1]))

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            drip.outcome = "gave up"
            end = time.monotonic() + give_up_s
            while not stop.is_set() and time.monotonic() < end:
                try:
                    conn.sendall(b"220-still greeting\r\n")
                except OSError:
                    drip.outcome = "client left"
                    return
                stop.wait(interval_s)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield drip
    finally:
        thread.join(give_up_s + 5)
        stop.set()
        listener.close()

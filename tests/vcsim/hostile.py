"""Small hostile TLS servers on 127.0.0.1 for the vCenter tests (drip, endless, not vSphere).

Each server is a real TLS listener in a thread, so the loader's real socket, TLS and pyvmomi
code paths run. Every loop is bounded (a byte budget and a wall-clock limit) and stops by
itself, so a failing test cannot hang. The certificate is made by the `openssl` command.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# A server gives up on its own after this long, whatever the client does.
SERVER_LIMIT_S = 20.0


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    key, crt = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


@dataclass
class Served:
    port: int
    sent: int = 0
    client_left_early: bool = False


Handler = Callable[[ssl.SSLSocket, Served], None]


@contextmanager
def servers(cert: tuple[Path, Path]) -> Iterator[Callable[[Handler], Served]]:
    """Yield `start(handler)`: a TLS server running `handler` per connection; all stopped after."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(handler: Handler) -> Served:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        lsock.settimeout(0.2)
        listeners.append(lsock)
        served = Served(port=lsock.getsockname()[1])
        end = time.monotonic() + SERVER_LIMIT_S

        def one(conn: socket.socket) -> None:
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    handler(tls, served)
            except (OSError, ssl.SSLError):
                served.client_left_early = True
            finally:
                conn.close()

        def accept_loop() -> None:
            while not stop.is_set() and time.monotonic() < end:
                try:
                    conn, _ = lsock.accept()
                except (TimeoutError, OSError):
                    continue
                t = threading.Thread(target=one, args=(conn,), daemon=True)
                threads.append(t)
                t.start()

        t = threading.Thread(target=accept_loop, daemon=True)
        threads.append(t)
        t.start()
        return served

    try:
        yield start
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=SERVER_LIMIT_S)
        for s in listeners:
            s.close()


def read_request(tls: ssl.SSLSocket) -> bytes:
    """The request head (and whatever body came with it)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 1 << 16:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def not_vsphere(tls: ssl.SSLSocket, served: Served) -> None:
    """An HTTPS server that is not vSphere: 404 for everything."""
    read_request(tls)
    tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")

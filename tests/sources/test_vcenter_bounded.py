"""The vCenter loader against small hostile servers on 127.0.0.1 (tests/vcsim/hostile.py):
bounded time and memory, and one SourceError kind per cause."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stagger.errors import (
    SourceAuthError,
    SourceError,
    SourceProtocolError,
    SourceRefusedError,
    SourceTimeoutError,
    SourceTLSError,
)
from stagger.sources.vcenter import (
    VCenterOptions,
    _Budget,
    _Failure,
    load_vcenter,
    source_error,
)
from tests.vcsim import hostile
from tests.vcsim.hostile import Served


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return hostile.make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def serve(cert: tuple[Path, Path]) -> Iterator[Any]:
    with hostile.servers(cert) as start:
        yield start


_read_request = hostile.read_request


def _opts(port: int, cert: tuple[Path, Path], **kw: Any) -> VCenterOptions:
    base: dict[str, Any] = dict(
        server="127.0.0.1", port=port, user="u", password="pw-never-shown", ca_file=str(cert[0])
    )
    base.update(kw)
    return VCenterOptions(**base)


def test_dripping_server_is_cut_off_at_the_deadline(serve: Any, cert: Any) -> None:
    """One byte every 0.25 s: no single read ever waits 1.5 s, yet the load must end by then."""

    def drip(tls: ssl.SSLSocket, served: Served) -> None:
        _read_request(tls)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 60\r\n\r\n")
        for byte in b"<?xml version='1.0'?><namespaces version='1.0'></namespaces>"[:60]:
            tls.sendall(bytes([byte]))
            served.sent += 1
            time.sleep(0.25)  # the whole answer takes 15 s

    served = serve(drip)
    started = time.monotonic()
    with pytest.raises(SourceTimeoutError, match=r"not finished within 1.5 s while connecting"):
        load_vcenter(_opts(served.port, cert, timeout_s=1.5))
    waited = time.monotonic() - started
    # Cut off long before the 15 s the drip takes (generous: the machine is shared).
    assert waited < 10, waited
    assert served.sent < 60


def test_endless_answer_is_capped(serve: Any, cert: Any) -> None:
    """An answer that never ends: the loader stops reading at --max-response-mib."""

    def endless(tls: ssl.SSLSocket, served: Served) -> None:
        _read_request(tls)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n")
        tls.sendall(b"<?xml version='1.0'?><namespaces>")
        chunk = b"<namespace>" + b"x" * 65536 + b"</namespace>"
        while served.sent < 512 << 20:  # 512 MiB at most, then the server gives up
            tls.sendall(chunk)
            served.sent += len(chunk)

    served = serve(endless)
    with pytest.raises(SourceProtocolError, match=r"sent more than 1 MiB while connecting"):
        load_vcenter(_opts(served.port, cert, max_response_mib=1, timeout_s=30))
    # The client hung up after about 1 MiB (plus what the kernel buffers held).
    assert served.sent < 32 << 20, served.sent


NOT_VSPHERE = {
    "404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    "html": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 39\r\n\r\n"
        b"<html><body><p>Welcome<br></body>x</p>"
    ),
    "xml": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 17\r\n\r\n<a>\nnot vim\n</a>"
    ),
    "500-garbage": b"HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\n\x00\xff\x00\xfe\n",
}


@pytest.mark.parametrize("kind", sorted(NOT_VSPHERE))
def test_https_server_that_is_not_vsphere(serve: Any, cert: Any, kind: str) -> None:
    def answer(tls: ssl.SSLSocket, served: Served) -> None:
        _read_request(tls)
        tls.sendall(NOT_VSPHERE[kind])

    served = serve(answer)
    with pytest.raises(SourceProtocolError, match=r"does not answer as a vSphere API") as e:
        load_vcenter(_opts(served.port, cert, timeout_s=10))
    assert e.value.exit_code == 3
    assert "\n" not in str(e.value)


def test_server_that_hangs_up_before_answering(serve: Any, cert: Any) -> None:
    served = serve(lambda tls, s: _read_request(tls))  # reads the request, closes
    with pytest.raises(SourceProtocolError, match=r"server closed the connection while connecting"):
        load_vcenter(_opts(served.port, cert, timeout_s=10))


def test_server_that_cuts_off_mid_answer(serve: Any, cert: Any) -> None:
    def cut(tls: ssl.SSLSocket, served: Served) -> None:
        _read_request(tls)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<?xml versi")  # hangs up

    served = serve(cut)
    with pytest.raises(SourceProtocolError, match=r"127.0.0.1:\d+: .* while connecting") as e:
        load_vcenter(_opts(served.port, cert, timeout_s=10))
    assert "\n" not in str(e.value)


def test_untrusted_certificate_is_a_tls_error(serve: Any, cert: Any) -> None:
    served = serve(lambda tls, s: _read_request(tls))
    with pytest.raises(SourceTLSError, match=r"TLS certificate not trusted.*--ca-file"):
        load_vcenter(_opts(served.port, cert, ca_file=None, timeout_s=10))


def test_refused_is_its_own_kind() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening
        with pytest.raises(SourceRefusedError, match="connection refused"):
            load_vcenter(
                VCenterOptions(server="127.0.0.1", port=s.getsockname()[1], user="u", password="p")
            )


def test_silent_server_is_a_timeout() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)  # the kernel accepts, nobody speaks
        with pytest.raises(SourceTimeoutError, match="not finished within 1 s"):
            load_vcenter(
                VCenterOptions(
                    server="127.0.0.1",
                    port=srv.getsockname()[1],
                    user="u",
                    password="p",
                    timeout_s=1,
                )
            )


def _fail(**kw: Any) -> _Failure:
    opts = VCenterOptions(server="vc.example", user="admin", password="pw", timeout_s=5)
    return _Failure(opts, _Budget(5, 1 << 20), "during retrieval")


@pytest.mark.parametrize(
    ("exc", "kind", "says"),
    [
        (ConnectionRefusedError(111, "refused"), SourceRefusedError, "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), SourceRefusedError, "resolve"),
        (OSError(113, "No route to host"), SourceRefusedError, "No route to host"),
        (TimeoutError("timed out"), SourceTimeoutError, "not finished within 5 s"),
        (
            ssl.SSLCertVerificationError(1, "certificate verify failed"),
            SourceTLSError,
            "not trusted",
        ),
        (ssl.SSLError(1, "wrong version number"), SourceTLSError, "TLS error"),
        (http.client.RemoteDisconnected("gone"), SourceProtocolError, "closed the connection"),
        (ConnectionResetError(104, "reset"), SourceProtocolError, "closed the connection"),
        (http.client.BadStatusLine("x"), SourceProtocolError, "bad HTTP answer"),
        (Exception("vc:443 is down or is not a VIM server"), SourceProtocolError, "vSphere API"),
        (ValueError("line\nbreak"), SourceProtocolError, "line\\nbreak"),
    ],
)
def test_one_table_maps_each_cause(exc: BaseException, kind: type, says: str) -> None:
    err = source_error(exc, _fail())
    assert type(err) is kind and err.exit_code == 3
    assert says in str(err) and "\n" not in str(err)


def test_vsphere_faults_map_to_auth_and_protocol() -> None:
    from pyVmomi import vim

    f = _fail()
    assert type(source_error(vim.fault.InvalidLogin(), f)) is SourceAuthError
    assert type(source_error(vim.fault.NoPermission(), f)) is SourceAuthError
    other = source_error(vim.fault.NotFound(msg="gone"), f)
    assert type(other) is SourceProtocolError and isinstance(other, SourceError)


_SERVICE_VERSIONS = (
    b"<?xml version='1.0' encoding='UTF-8' ?><namespaces version='1.0'><namespace>"
    b"<name>urn:vim25</name><version>8.0.3.0</version><priorVersions>"
    b"<version>8.0.2.0</version></priorVersions></namespace></namespaces>"
)


def _gzip_bomb(inflated_mib: int) -> bytes:
    """A SOAP answer that is a few KiB on the wire and ``inflated_mib`` MiB of XML."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    head = b"<?xml version='1.0'?><soapenv:Envelope xmlns:soapenv='x'><soapenv:Body><a>"
    parts = [packer.compress(head)]
    filler = b"<b>" + b" " * 1017 + b"</b>"  # 1 KiB of well-formed XML, again and again
    block = filler * 1024
    for _ in range(inflated_mib):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b"</a></soapenv:Body></soapenv:Envelope>"))
    parts.append(packer.flush())
    return b"".join(parts)


def test_compressed_answer_is_capped_once_decompressed(serve: Any, cert: Any) -> None:
    """pyvmomi inflates gzip answers after the socket counted them: 64 MiB of XML in ~70 KiB
    on the wire must still stop at --max-response-mib 1."""
    bomb = _gzip_bomb(64)
    assert len(bomb) < 1 << 20  # the wire bytes alone are under the cap

    def vsphere_then_bomb(tls: ssl.SSLSocket, served: Served) -> None:
        request = _read_request(tls)
        if request.startswith(b"GET"):  # the API version probe
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n"
                + f"Content-Length: {len(_SERVICE_VERSIONS)}\r\n\r\n".encode()
                + _SERVICE_VERSIONS
            )
            return
        tls.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Encoding: gzip\r\n"
            + f"Connection: close\r\nContent-Length: {len(bomb)}\r\n\r\n".encode()
        )
        tls.sendall(bomb)
        served.sent += len(bomb)

    served = serve(vsphere_then_bomb)
    with pytest.raises(
        SourceProtocolError, match=r"sent more than 1 MiB \(once decompressed\) while connecting"
    ) as e:
        load_vcenter(_opts(served.port, cert, max_response_mib=1, timeout_s=30))
    assert "\n" not in str(e.value)
    assert served.sent > 0  # the SOAP answer was sent: the cap, not the probe, stopped it

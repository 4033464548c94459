"""Build and run the vCenter simulator used by the vCenter tests and the benchmark.

``main.go`` and the other ``*.go`` files beside it (``tags.go``: vSphere tags through the
vAPI simulator) are compiled in GOPATH mode against Debian's
``golang-github-vmware-govmomi-dev`` (govmomi 0.24.2):
``GO111MODULE=off GOPATH=<cache>/gopath:/usr/share/gocode go build -overlay ...``.

The overlay substitutes a patched copy of ``simulator/property_collector.go`` (the system tree
is never touched) that

* honours ``RetrieveOptions.maxObjects`` and implements ``ContinueRetrievePropertiesEx`` /
  ``CancelRetrievePropertiesEx`` (0.24.2 ignores paging, so a real vCenter's paging path could
  not be exercised otherwise), and
* fixes the ``MissingSet[0]`` panic when an unset property is read through ``Fetch``
  (fixed upstream in 0.36).

The snapshot remove/revert bug of 0.24.2 does not matter: the estate only creates snapshots.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAIN_GO = HERE / "main.go"


def go_sources() -> list[Path]:
    """main.go and its companions (one package main), in a stable order."""
    return sorted(HERE.glob("*.go"))


GOCODE = Path("/usr/share/gocode")
PC_FILE = GOCODE / "src/github.com/vmware/govmomi/simulator/property_collector.go"

_PAGING_ANCHOR = """\t\tres.Objects = objects
\t\tbody.Res = &types.RetrievePropertiesExResponse{"""
_PAGING_PATCH = """\t\tres.Objects = objects
\t\tif r.Options.MaxObjects > 0 && len(res.Objects) > int(r.Options.MaxObjects) {
\t\t\tres.Token = staggerStorePage(res.Objects[r.Options.MaxObjects:], r.Options.MaxObjects)
\t\t\tres.Objects = res.Objects[:r.Options.MaxObjects]
\t\t}
\t\tbody.Res = &types.RetrievePropertiesExResponse{"""
_FETCH_ANCHOR = """\tif len(obj.PropSet) == 0 {
\t\tfault := obj.MissingSet[0].Fault"""
_FETCH_PATCH = """\tif len(obj.PropSet) == 0 {
\t\tif len(obj.MissingSet) == 0 {
\t\t\tbody.Res = &internal.FetchResponse{}
\t\t\treturn body
\t\t}
\t\tfault := obj.MissingSet[0].Fault"""
_APPENDIX = (HERE / "paging_patch.go.txt").read_text(encoding="utf-8")


class HarnessError(RuntimeError):
    pass


def go_binary() -> str | None:
    return shutil.which("go")


def govmomi_present() -> bool:
    return PC_FILE.is_file()


def patched_property_collector() -> str:
    src = PC_FILE.read_text(encoding="utf-8")
    for anchor in (_PAGING_ANCHOR, _FETCH_ANCHOR):
        if anchor not in src:
            raise HarnessError(f"{PC_FILE}: patch anchor not found (govmomi version changed?)")
    src = src.replace(_PAGING_ANCHOR, _PAGING_PATCH).replace(_FETCH_ANCHOR, _FETCH_PATCH)
    src = src.replace('import (\n\t"context"', 'import (\n\t"context"\n\t"strconv"', 1)
    return src + _APPENDIX


@dataclass
class Build:
    binary: Path
    seconds: float
    cached: bool


def shared_cache_dir(fallback: Path) -> Path:
    """Where every test that starts the simulator caches its build: $STAGGER_VCSIM_CACHE."""
    return Path(os.environ.get("STAGGER_VCSIM_CACHE", fallback))


def build_vcsim(cache_dir: Path) -> Build:
    """Compile main.go (cached by the hash of its inputs). Raises HarnessError on failure."""
    go = go_binary()
    if go is None:
        raise HarnessError("go not found (apt-get install golang-go)")
    if not govmomi_present():
        raise HarnessError(f"{PC_FILE} missing (apt-get install golang-github-vmware-govmomi-dev)")
    patched = patched_property_collector()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    sources = go_sources()
    text = "".join(f"{p.name}\n{p.read_text()}" for p in sources)
    digest = hashlib.sha256((text + patched + version).encode()).hexdigest()[:16]
    cache_dir.mkdir(parents=True, exist_ok=True)
    binary = cache_dir / f"stagger-vcsim-{digest}"
    if binary.exists():
        return Build(binary, 0.0, True)
    work = cache_dir / f"build-{digest}"
    work.mkdir(exist_ok=True)
    (work / "property_collector.go").write_text(patched)
    (work / "overlay.json").write_text(
        json.dumps({"Replace": {str(PC_FILE): str(work / "property_collector.go")}})
    )
    for src in sources:
        shutil.copy(src, work / src.name)
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=f"{work / 'gopath'}:{GOCODE}",
        GOCACHE=str(cache_dir / "gocache"),
        GOFLAGS="",
        CGO_ENABLED="0",
    )
    start = time.monotonic()
    proc = subprocess.run(
        [
            go,
            "build",
            "-overlay",
            str(work / "overlay.json"),
            "-o",
            str(binary) + ".tmp",
            *(p.name for p in sources),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise HarnessError(f"go build failed:\n{proc.stderr[-4000:]}")
    os.replace(str(binary) + ".tmp", binary)
    return Build(binary, seconds, False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class VCSim:
    """A running simulator: its address, credentials, CA file and what it was told to create."""

    proc: subprocess.Popen[str]
    host: str
    port: int
    user: str
    password: str
    ca_file: Path
    truth: dict[str, Any]
    startup_seconds: float
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def kill(self) -> None:
        """Die abruptly, as a crashing server would."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start_vcsim(
    binary: Path,
    workdir: Path,
    *,
    vms: int = 300,
    user: str = "backup@vsphere.local",
    password: str = "s3cret-Pa55",
    timeout: float = 120.0,
    extra_args: tuple[str, ...] = (),
) -> VCSim:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    ca_file = workdir / "vcsim-ca.pem"
    truth_file = workdir / "truth.json"
    log = workdir / "vcsim.log"
    truth_file.unlink(missing_ok=True)
    start = time.monotonic()
    with open(log, "w") as logfh:
        proc = subprocess.Popen(
            [
                str(binary),
                "-listen",
                f"127.0.0.1:{port}",
                "-vms",
                str(vms),
                "-user",
                user,
                "-pass",
                password,
                "-cert-out",
                str(ca_file),
                "-truth",
                str(truth_file),
                *extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=logfh,
            text=True,
            cwd=workdir,
            env={**os.environ, "TMPDIR": str(workdir)},
        )
    assert proc.stdout is not None
    line = ""
    deadline = time.monotonic() + timeout
    # READY is printed once the estate is built and the truth file written.
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY") or proc.poll() is not None:
            break
    if not line.startswith("READY"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise HarnessError(f"vcsim did not start: {log.read_text()[-2000:]}")
    sim = VCSim(
        proc=proc,
        host="127.0.0.1",
        port=port,
        user=user,
        password=password,
        ca_file=ca_file,
        truth=json.loads(truth_file.read_text()),
        startup_seconds=time.monotonic() - start,
        log=log,
    )
    return sim

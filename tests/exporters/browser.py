"""Drive Debian's headless Chromium over the DevTools protocol (a small websocket client).

Why CDP and not ``--dump-dom`` or ``--enable-logging``: one browser run gives the page's
uncaught exceptions (``Runtime.exceptionThrown``), console errors (``Runtime.consoleAPICalled``,
``Log.entryAdded``), every network request it tried (``Network.requestWillBeSent``), values
read from the live DOM after the scripts ran (``Runtime.evaluate``, also to switch the lane mode
through the real <select>) and a screenshot, all as structured events rather than log lines
whose format changes between Chromium releases.

Also a command: ``python tests/exporters/browser.py PAGE.html[#FRAGMENT] OUT.png [WIDTH HEIGHT]``
(the fragment is handed to the page, e.g. ``plan.html#night-4`` for the Gantt's fifth night).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


@dataclass
class PageRun:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes | None = None


class _Cdp:
    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise TimeoutError(method)

    def close(self) -> None:
        self.ws.close()


def run_page(
    page: Path,
    *,
    expressions: dict[str, str] | None = None,
    screenshot: bool = False,
    width: int = 1400,
    height: int = 900,
    fragment: str = "",
) -> PageRun:
    """Open ``page`` in a fresh headless Chromium; evaluate ``expressions`` in order (name ->
    JS expression, returned by value); collect errors and requests; optionally screenshot."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="stagger-chromium-")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        cdp = _Cdp(ws_url)
        try:
            for domain in ("Runtime", "Log", "Page", "Network"):
                cdp.call(f"{domain}.enable")
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            cdp.events.clear()
            cdp.call("Page.navigate", url=page.resolve().as_uri() + fragment)
            cdp.wait_event("Page.loadEventFired")
            out = PageRun()
            for name, expr in (expressions or {}).items():
                res = cdp.call("Runtime.evaluate", expression=expr, returnByValue=True)
                if "exceptionDetails" in res:
                    raise RuntimeError(f"{name}: {res['exceptionDetails']}")
                out.values[name] = res["result"].get("value")
            if screenshot:
                shot = cdp.call("Page.captureScreenshot", format="png")
                out.screenshot = base64.b64decode(shot["data"])
            cdp.call("Runtime.evaluate", expression="1")  # drain late events
            for ev in cdp.events:
                method, params = ev.get("method"), ev.get("params", {})
                if method == "Runtime.exceptionThrown":
                    d = params["exceptionDetails"]
                    desc = d.get("exception", {}).get("description") or d.get("text")
                    out.errors.append(f"exception: {desc}")
                elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                    "error",
                    "assert",
                ):
                    args = [str(a.get("value", a.get("description"))) for a in params["args"]]
                    out.errors.append("console.error: " + " ".join(args))
                elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                    out.errors.append("log: " + params["entry"]["text"])
                elif method == "Network.requestWillBeSent":
                    out.requests.append(params["request"]["url"])
            return out
        finally:
            cdp.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str]) -> int:
    name, _, fragment = argv[0].partition("#")
    page, png = Path(name), Path(argv[1])
    width = int(argv[2]) if len(argv) > 2 else 1400
    height = int(argv[3]) if len(argv) > 3 else 900
    run = run_page(
        page,
        screenshot=True,
        width=width,
        height=height,
        fragment=f"#{fragment}" if fragment else "",
    )
    assert run.screenshot is not None
    png.write_bytes(run.screenshot)
    for e in run.errors:
        print(e, file=sys.stderr)
    return 1 if run.errors else 0


if __name__ == "__main__":
    os.environ.setdefault("LANG", "C.UTF-8")
    sys.exit(main(sys.argv[1:]))

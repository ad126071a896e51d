"""A tiny DevTools-protocol driver for Debian's headless chromium (tests only).

Loads a page, collects console messages, uncaught exceptions and browser log entries
(failed loads, CSP violations), and takes a full-page PNG screenshot. The browser gets
a fresh profile folder and a loopback DevTools port; it is killed by its own pid.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    png: bytes
    console: list[dict] = field(default_factory=list)  # {level, text}
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    width: int = 0
    height: int = 0


def load(url: str, width: int = 1280, timeout: float = 60.0) -> PageResult:
    from websockets.sync.client import connect

    exe = find_chromium()
    assert exe, "chromium not installed"
    profile = Path(tempfile.mkdtemp(prefix="mlx-chromium-"))
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _devtools_port(profile, proc, timeout)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t["type"] == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            return _drive(ws, url, width, timeout)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


def _drive(ws, url: str, width: int, timeout: float) -> PageResult:
    result = PageResult(b"")
    ids = iter(range(1, 1_000_000))

    def call(method: str, **params):
        msg_id = next(ids)
        ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=timeout))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            _event(msg, result)
        raise TimeoutError(method)

    for domain in ("Page", "Runtime", "Log"):
        call(f"{domain}.enable")
    call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    call("Page.navigate", url=url)
    _wait_for(ws, "Page.loadEventFired", result, timeout)
    _drain(ws, result, 0.5)  # late console messages
    metrics = call("Page.getLayoutMetrics")
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    result.width, result.height = int(size["width"]), int(size["height"])
    shot = call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": result.width, "height": result.height, "scale": 1},
    )
    result.png = base64.b64decode(shot["data"])
    return result


def _event(msg: dict, result: PageResult) -> None:
    method, params = msg.get("method"), msg.get("params", {})
    if method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        result.console.append({"level": params["type"], "text": text})
        if params["type"] in ("error", "assert"):
            result.errors.append(f"console.{params['type']}: {text}")
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        desc = (details.get("exception") or {}).get("description", "")
        result.errors.append(f"exception: {details.get('text', '')} {desc}".strip())
    elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        result.errors.append(f"log: {params['entry']['text']}")


def _wait_for(ws, method: str, result: PageResult, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=timeout))
        _event(msg, result)
        if msg.get("method") == method:
            return
    raise TimeoutError(method)


def _drain(ws, result: PageResult, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            return
        _event(msg, result)

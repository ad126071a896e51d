"""Server processes: free loopback ports, start in their own process group, wait until
ready, read CPU time and memory from /proc, and always kill the whole group at exit."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
_LIVE: list[Server] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """One started server (its process group) and where it logs."""

    name: str
    proc: subprocess.Popen
    log_path: Path
    port: int
    workers: int = 1
    extra: dict = field(default_factory=dict)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def pids(self) -> list[int]:
        """The server's process and all its descendants (workers, spawned children)."""
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        stop_group(self.proc)
        if self in _LIVE:
            _LIVE.remove(self)


def start(
    name: str, cmd: list[str], log_path: Path, port: int, env=None, cwd=None, workers=1
) -> Server:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # the child keeps its own copy of the fd
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=full_env,
        cwd=cwd,
        start_new_session=True,  # own process group: killpg reaches every worker
    )
    log.close()
    server = Server(name, proc, log_path, port, workers)
    _LIVE.append(server)
    return server


def wait_ready(server: Server, url: str, timeout: float) -> str | None:
    """Poll ``url`` until it answers 200. Returns None when ready, else the reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            return f"exited with code {server.proc.returncode}: {server.log_tail()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return None
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    return f"not ready after {timeout:.0f} s: {server.log_tail()}"


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        _kill_group(proc.pid, signal.SIGKILL)  # stray grandchildren
        return
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(proc.pid, signal.SIGKILL)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def _on_signal(signum, _frame):
    stop_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """Kill every started server on normal exit, exceptions, Ctrl-C and SIGTERM."""
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def process_tree(root: int) -> list[int]:
    kids = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (those still alive)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def memory_mib(pids: list[int]) -> dict[str, float]:
    """Sum of RSS and of PSS (shared pages split between sharers) in MiB."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1)}

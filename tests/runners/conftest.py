"""A real sshd on a loopback port, and a real Dask scheduler with two worker processes.

sshd (Debian's openssh-server; `make test` installs it when missing) runs with a
throwaway host key and user key in a temp folder and accepts only that key, for the
current user. The tests' "remote host" is this machine, reached over real SSH.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
VENV = Path(sys.executable).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Sshd:
    port: int
    user: str
    key: Path  # authorised private key
    other_key: Path  # a key the server does not accept
    known_hosts: Path
    root: Path

    def runner(self, workdir: Path, **extra) -> dict:
        """A `runners:` entry reaching this sshd, running stages in the test venv."""
        home = self.root / "remote-home"
        home.mkdir(exist_ok=True)
        spec = {
            "kind": "ssh",
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "identity_file": str(self.key),
            "known_hosts": str(self.known_hosts),
            "workdir": str(workdir),
            "venv": str(VENV),
            # keep the "remote" side's caches out of the real HOME too
            "env": {
                "HOME": str(home),
                "XDG_CACHE_HOME": str(home / ".cache"),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "DVC_SITE_CACHE_DIR": str(home / ".cache" / "dvc-site"),
            },
        }
        spec.update(extra)
        return spec


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> Sshd:
    if SSHD is None or shutil.which("ssh-keygen") is None:
        pytest.skip("sshd is not installed (Debian: apt-get install openssh-server)")
    privsep = Path("/run/sshd")
    if not privsep.is_dir():
        try:
            privsep.mkdir(mode=0o755, parents=True)
        except OSError:
            pytest.skip("sshd needs /run/sshd (privilege separation) and it cannot be created")
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key", "other_key"):
        _keygen(root / name)
    (root / "authorized_keys").write_text((root / "user_key.pub").read_text())
    port = free_port()
    host_pub = (root / "host_key.pub").read_text().split()[:2]
    (root / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_pub)}\n")
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\nMaxSessions 50\n"
    )
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc)
        yield Sshd(
            port,
            getpass.getuser(),
            root / "user_key",
            root / "other_key",
            root / "known_hosts",
            root,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class DaskCluster:
    scheduler: str
    workers: list[subprocess.Popen]

    def runner(self, **extra) -> dict:
        return {"kind": "dask", "scheduler": self.scheduler, **extra}


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> DaskCluster:
    """`dask scheduler` and two `dask worker` processes (one thread each) on loopback."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("lightgbm.dask", reason="the dask extra is not installed")
    exe = Path(sys.executable).with_name("dask")
    local = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"cwd": local, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    scheduler = subprocess.Popen(
        [str(exe), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        **common,
    )
    procs = [scheduler]
    try:
        wait_for_port(port, scheduler, timeout=60)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(exe),
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(local / f"w{i}"),
                    ],
                    **common,
                )
            )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield DaskCluster(address, procs[1:])
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

"""mlx's output carries no Python warnings; --traceback brings them back for debugging."""

from __future__ import annotations

import socket

import yaml

from tests.conftest import git, run_mlx


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def test_ssh_runner_commands_print_no_cryptography_warnings(example_project):
    cfg = yaml.safe_load((example_project / "mlops.yaml").read_text())
    cfg["runners"] = {
        "box": {"kind": "ssh", "host": "127.0.0.1", "port": _closed_port(), "connect_timeout": 5}
    }
    (example_project / "mlops.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(example_project, "commit", "-qam", "an ssh runner")
    res = run_mlx("train", "--runner", "box", cwd=example_project, timeout=120)
    assert res.exit_code == 3, res.output  # the host is down: an environment problem
    assert "Warning" not in res.output, res.output

    loud = run_mlx("--traceback", "train", "--runner", "box", cwd=example_project, timeout=120)
    assert "CryptographyDeprecationWarning" in loud.stderr

"""A bug in mlx has its own exit code (70), never one CI reads as a verdict on the input."""

from __future__ import annotations

import json


def test_unexpected_exception_exits_70_and_asks_for_a_report(cli, monkeypatch, example_project):
    from mlx import api

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api, "validate", broken)
    res = cli("validate", cwd=example_project)
    assert res.exit_code == 70
    assert "internal error: ZeroDivisionError: a bug" in res.stderr
    assert "bug in mlx" in res.stderr and "--traceback" in res.stderr

    res = cli("validate", "--json", cwd=example_project)
    assert res.exit_code == 70
    err = json.loads(res.stdout)["error"]
    assert err["exit_code"] == 70 and "report" in err["hint"]

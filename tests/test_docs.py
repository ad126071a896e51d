"""The docs build: every relative link and anchor in README.md and docs/ resolves."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
check_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_docs)


def test_docs_links_and_anchors_resolve():
    assert check_docs.check(ROOT) == []


def test_github_slugs():
    assert check_docs.slugify("Five-minute walkthrough") == "five-minute-walkthrough"
    assert check_docs.slugify("`--infer`") == "--infer"
    assert check_docs.slugify("Exit codes & errors (v2)") == "exit-codes--errors-v2"


def test_the_checker_finds_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Top\n\n[ok](docs/a.md#section-one) [gone](docs/missing.md) "
        "[bad anchor](docs/a.md#nope) [self](#top) [web](https://example.com/x)\n"
    )
    (tmp_path / "docs" / "a.md").write_text(
        "# A\n\n## Section one\n\n```md\n[x](nowhere.md)\n```\n"
    )
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")
    problems = check_docs.check(tmp_path)
    assert any("docs/missing.md: no such file" in p for p in problems)
    assert any("#nope" in p for p in problems)
    assert any(p.startswith("docs/orphan.md: not linked") for p in problems)
    assert not any("nowhere" in p or "example.com" in p or "#top" in p for p in problems)
    assert len(problems) == 3

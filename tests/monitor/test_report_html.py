"""The HTML report: self-contained, small, and rendered by a real headless chromium."""

from __future__ import annotations

import re
import struct

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlx.config.sections import MonitorConfig
from mlx.monitor.current import CurrentData
from mlx.monitor.engine import run
from mlx.monitor.profile import build_profile
from mlx.monitor.report_html import render
from tests.monitor import chromium


def _wide_report(n_ref=20_000, n_cur=20_000):
    """30 features (20 numeric of varied shapes, 10 categorical), some drifted."""
    rng = np.random.default_rng(7)

    def frame(n, live):
        data = {}
        for i in range(20):
            shape = i % 4
            x = [
                rng.normal(50, 10, n),
                rng.lognormal(3, 0.8, n),
                rng.poisson(3, n) * 1.0,
                rng.uniform(0, 1, n),
            ][shape]
            if live and i in (0, 5):
                x = x + (8 if i == 0 else 2)
            data[f"num_{i:02d}"] = x
        for i in range(10):
            cats = [f"level-{k}" for k in range(3 + i * 3)]
            p = np.linspace(2, 1, len(cats))
            values = rng.choice(cats, n, p=p / p.sum()).astype(object)
            if live and i == 2:
                values[: n // 10] = "brand-new"
            data[f"cat_{i}"] = values
        return pd.DataFrame(data)

    ref = frame(n_ref, False)
    features = [
        {"name": c, "kind": "numeric" if c.startswith("num") else "categorical"}
        for c in ref.columns
    ]
    profile = build_profile(ref, features, rng.beta(2, 5, 5000), "binary")
    cur = frame(n_cur, True)
    cur["_score"] = rng.beta(2.5, 5, n_cur)
    cur.loc[:500, "num_03"] = np.nan
    table = pa.Table.from_pandas(cur, preserve_index=False)
    data = CurrentData(table, "current.parquet", "file", table.column_names)
    return run(profile, features, None, data, MonitorConfig(), model={"name": "wide", "ref": "x"})


@pytest.fixture(scope="module")
def wide_html(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render(_wide_report()), encoding="utf-8")
    return path


def test_report_is_self_contained_and_small(wide_html):
    html = wide_html.read_text()
    assert len(html.encode()) < 1_000_000, len(html)
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in html
    assert html.count("<svg") == 31  # 30 features + the score
    for name in ("num_00", "num_05", "cat_2", "brand-new", "num_03"):
        assert name in html
    # the ranked table lists drifted features before the rest
    order = re.findall(r'<a href="#f-([a-z0-9_]+)">', html)
    assert len(order) == 30 and set(order[:2]) == {"num_00", "cat_2"}


@pytest.mark.browser
def test_report_renders_in_headless_chromium(wide_html, tmp_path):
    if chromium.find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium; scripts/system-deps.sh)")
    pytest.importorskip("websockets.sync.client")
    page = chromium.load(wide_html.as_uri())
    assert page.errors == [], page.errors
    assert page.png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", page.png[16:24])
    assert width >= 1200 and height > 3000  # a long page: table + 31 charts
    assert len(page.png) > 100_000  # charts, text and colours, not a blank page
    (tmp_path / "report.png").write_bytes(page.png)


@pytest.mark.browser
def test_the_browser_check_catches_console_errors(tmp_path):
    """The harness itself: a page with a script error and a broken image must fail it."""
    if chromium.find_chromium() is None:
        pytest.skip("chromium not installed")
    pytest.importorskip("websockets.sync.client")
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><p>x</p><script>console.error('boom'); undefinedFunction();</script>"
        f'<img src="{(tmp_path / "missing.png").as_uri()}"></body></html>'
    )
    page = chromium.load(bad.as_uri())
    text = " | ".join(page.errors)
    assert "console.error: boom" in text and "undefinedFunction" in text
    assert "ERR_FILE_NOT_FOUND" in text

"""`make report`'s HTML page in a real browser: headless Chromium (the Debian package, through
harness/browser.py) opens index.html from the folder, every image loads, no console error
appears, nothing is fetched from outside the folder, the tables hold the database's rows and
every alert links to the drill-down at its window. A screenshot is saved and checked
(and kept in $LCM_SCREENSHOT_DIR, when set, to look at)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from harness.browser import Browser
from lcm import links
from lcm.paths import REPO_DIR
from report.grafana_sql import TimeRange

FROM, TO = "2026-11-20T13:55:00Z", "2026-11-20T14:20:00Z"
GRAFANA = "http://127.0.0.1:3999"


@pytest.mark.stack
def test_the_report_page_in_headless_chromium(pipeline_data, tmp_path: Path):
    run = subprocess.run(
        [sys.executable, "-m", "report", "--from", FROM, "--to", TO, "--out", str(tmp_path),
         "--database", pipeline_data.database, "--grafana-url", GRAFANA],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    index = tmp_path / "index.html"
    rng = TimeRange.parse(FROM, TO)
    with psycopg.connect(pipeline_data.reader_dsn, autocommit=True) as db:
        alerts = db.execute("SELECT window_start, base, level FROM alerts WHERE window_start "
                            "BETWEEN %s AND %s ORDER BY window_start DESC, base",
                            (rng.start, rng.end)).fetchall()
    assert alerts

    with Browser(width=1280, height=900) as browser:
        page = browser.open(index.as_uri())
        shot = browser.screenshot(tmp_path / "report.png")

    # Every image loaded, from the folder, nothing else fetched, nothing went wrong.
    assert not page.errors, page.errors
    assert page.images_ok, [i for i in page.images if not i["loaded"]]
    pngs = sorted(p.name for p in tmp_path.glob("*.png") if p.name != "report.png")
    assert sorted(i["src"] for i in page.images) == pngs
    assert len(pngs) == 1 + 4 * 3  # pressure, and four charts per asset (BTC, ETH, SOL)
    for image in page.images:
        with Image.open(tmp_path / image["src"]) as png:
            assert (image["width"], image["height"]) == png.size
    assert all(u.startswith(("file://", "data:")) for u in page.requests), page.requests
    assert len(page.requests) == 1 + len(pngs)

    # The tables: a latest score per asset, the alert history, the levels per asset.
    text = page.text
    for asset in ("BTC", "ETH", "SOL"):
        assert f"{asset}: largest estimated liquidation levels now" in text
    assert "Alert history (newest first)" in text and "Latest scores per asset" in text
    for start, base, level in alerts:
        want = links.drill_down_url(GRAFANA, base, start, start + timedelta(minutes=1))
        assert want in page.links, (base, start, level)
    assert "CRITICAL" in text and "WARNING" in text  # the sample's cascade escalates

    # The screenshot is the whole page, drawn: many colours, taller than the window.
    with Image.open(shot) as img:
        assert img.width == 1280 and img.height > 3000
        colours = img.convert("RGB").getcolors(maxcolors=1 << 22)
        assert colours is not None and len(colours) > 500
    if keep := os.environ.get("LCM_SCREENSHOT_DIR"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copytree(tmp_path, Path(keep) / "report", dirs_exist_ok=True)

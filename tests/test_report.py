"""`make report` / python -m report: PNG charts drawn from real rows (the sample replayed
through the Flink job), as the read-only role, with a clear failure for an empty range."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from lcm.paths import REPO_DIR
from report.charts import PanelReader
from report.grafana_sql import TimeRange

FROM, TO = "2026-11-20T13:55:00Z", "2026-11-20T14:20:00Z"  # around the sample's quarter hour
SIZES = {"price_alerts": (1210, 495), "risk_components": (1210, 495),
         "liquidations": (1210, 440), "liquidation_map": (1210, 550)}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "report", *args], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=120)


def test_help_and_bad_arguments():
    out = _run("--help")
    assert out.returncode == 0 and "--from" in out.stdout and "--asset" in out.stdout
    bad = _run("--from", "yesterday")
    assert bad.returncode == 2 and "'yesterday' is not an ISO-8601 time" in bad.stderr


@pytest.mark.stack
def test_report_draws_real_rows(pipeline_data, tmp_path: Path):
    out = _run("--from", FROM, "--to", TO, "--asset", "BTC,ETH", "--out", str(tmp_path),
               "--database", pipeline_data.database)
    assert out.returncode == 0, out.stderr
    paths = [Path(p) for p in out.stdout.split()]
    names = sorted(p.name for p in paths)
    assert names == sorted(["stablecoin_pressure.png", "index.html"] + [
        f"{a}_{k}.png" for a in ("BTC", "ETH") for k in SIZES])
    assert paths[-1].name == "index.html"  # the page comes last, after what it shows
    for path in paths[:-1]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        with Image.open(path) as img:
            kind = path.stem.split("_", 1)[-1]
            assert img.size == SIZES.get(kind, (1210, 440)), (path, img.size)
            # drawn, not blank: lines, fills and markers in several colours
            colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
            assert colours is not None and len(colours) > 50, (path, len(colours or []))

    # The charts' data: the panels' rows for the range, as the reader, match the tables.
    rng = TimeRange.parse(FROM, TO)
    with psycopg.connect(pipeline_data.reader_dsn, autocommit=True) as db:
        reader = PanelReader(db, rng)
        risk = reader.read("risk", "BTC")
        minutes = db.execute(
            "SELECT count(*) FROM risk_scores WHERE base = 'BTC' AND venue = 'all' AND "
            "window_start BETWEEN %s AND %s", (rng.start, rng.end)).fetchone()[0]
        assert minutes > 0 and len(risk.rows) == minutes  # 1-minute interval: one per row
        assert reader.read("price", "BTC").rows and reader.read("pressure", "").rows
        liq = reader.read("liquidations", "BTC")
        assert any(v for v in liq.col("longs liquidated") + liq.col("shorts liquidated"))


@pytest.mark.stack
def test_report_fails_clearly_on_an_empty_range(pipeline_data, tmp_path: Path):
    start = datetime(2020, 1, 1, tzinfo=UTC)
    out = _run("--from", start.isoformat(), "--to", (start + timedelta(hours=1)).isoformat(),
               "--out", str(tmp_path), "--database", pipeline_data.database)
    assert out.returncode == 1
    assert "no Stablecoin Pressure between 2020-01-01 00:00 and 2020-01-01 01:00 UTC" in (
        out.stderr)
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "index.html").exists()

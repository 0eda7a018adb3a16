"""The TimescaleDB branch of sql/timescale/ on a real TimescaleDB engine.

This machine has no TimescaleDB server, so the test runs the schema in PGlite with the
timescaledb extension (WebAssembly, under Node; installed by stack/setup.sh into
tests/timescale/node_modules). The plain-PostgreSQL branch runs in the other stack tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from flink_jobs.config import REPO_DIR

HERE = Path(__file__).resolve().parent / "timescale"
SCHEMA = [REPO_DIR / "sql" / "timescale" / f for f in ("01_tables.sql", "02_timescale.sql")]


def run(query: str, *files: Path) -> list[dict]:
    if shutil.which("node") is None or not (HERE / "node_modules").exists():
        pytest.fail("Node.js or tests/timescale/node_modules missing: run 'make setup'")
    out = subprocess.run(["node", str(HERE / "run_sql.mjs"), query, *map(str, files)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_series_tables_become_hypertables() -> None:
    rows = run("SELECT hypertable_name, column_name FROM timescaledb_information.dimensions "
               "ORDER BY 1", *SCHEMA)
    assert rows == [
        {"hypertable_name": "features_1m", "column_name": "window_start"},
        {"hypertable_name": "liquidations", "column_name": "event_time"},
        {"hypertable_name": "risk_scores", "column_name": "window_start"},
        {"hypertable_name": "stablecoin_pressure", "column_name": "window_start"},
    ]


def test_schema_is_idempotent_and_the_sink_upsert_works_on_a_hypertable(tmp_path: Path) -> None:
    # The statement shape the Flink JDBC sink generates for PRIMARY KEY (base, window_start).
    upsert = tmp_path / "upsert.sql"
    upsert.write_text("""
        INSERT INTO risk_scores (base, window_start, window_end, risk, confidence, components)
        VALUES ('BTC', '2026-11-20 14:00Z', '2026-11-20 14:01Z', 40, 1, 'funding')
        ON CONFLICT (base, window_start) DO UPDATE SET risk = EXCLUDED.risk;
        INSERT INTO risk_scores (base, window_start, window_end, risk, confidence, components)
        VALUES ('BTC', '2026-11-20 14:00Z', '2026-11-20 14:01Z', 55, 1, 'funding')
        ON CONFLICT (base, window_start) DO UPDATE SET risk = EXCLUDED.risk;
    """)
    rows = run("SELECT base, risk, written_at IS NOT NULL AS stamped FROM risk_scores",
               *SCHEMA, *SCHEMA, upsert)  # the schema twice: re-applying changes nothing
    assert rows == [{"base": "BTC", "risk": 55, "stamped": True}]

"""The rollups' SQL is written once (sql/timescale/rollups.py) and the applied migrations
04 and 06 are exactly what it generates; reviewed comment-only revisions of applied files
(sql/timescale/revisions.txt) are accepted by apply.sh, any other change still refused."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.timescale.engine import timescale_engine
from lcm.paths import REPO_DIR

SQL = REPO_DIR / "sql" / "timescale"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lcm_rollups_sql", SQL / "rollups.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


rollups = _generator()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def revisions(path: Path = SQL / "revisions.txt") -> list[tuple[str, str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, earlier, current = line.split()[:3]
            out.append((name, earlier, current))
    return out


def test_the_migrations_are_what_the_single_definition_generates() -> None:
    assert rollups.stale() == [], "04/06 differ from sql/timescale/rollups.py"


def test_each_width_and_family_is_written_once_in_the_generator() -> None:
    text = (SQL / "rollups.py").read_text(encoding="utf-8")
    for width in ("INTERVAL '5 minutes'", "INTERVAL '1 hour'", "_5m", "_1h"):
        assert width not in text, width  # the SQL comes from WIDTHS, never per width
    for column in ("risk_max", "long_risk_max", "price_last", "events_sum", "inflow_usd_sum"):
        assert len(re.findall(rf"\b{column}\b", text)) == 1, column
    # ... and yields every rollup of both widths.
    generated = rollups.migration_04() + rollups.migration_06()
    for family in ("risk_scores", "features", "stablecoin_pressure"):
        for width in ("5m", "1h"):
            assert generated.count(f"CREATE OR REPLACE VIEW {family}_{width} AS") == 2
            assert generated.count(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {family}_{width}") == 1


def test_a_drifted_migration_is_caught(tmp_path: Path) -> None:
    for name in rollups.GENERATED:
        shutil.copy(SQL / name, tmp_path / name)
    assert rollups.stale(tmp_path) == []
    path = tmp_path / "04_rollups.sql"
    path.write_text(path.read_text().replace("min(confidence)", "avg(confidence)", 1))
    assert [name for name, _, _ in rollups.stale(tmp_path)] == ["04_rollups.sql"]


def test_every_revision_names_the_current_file() -> None:
    entries = revisions()
    assert entries
    for name, earlier, current in entries:
        assert (SQL / name).exists(), name
        assert earlier != current, name
    latest = {name: current for name, _, current in entries}  # the last entry per file
    assert {name: sha(SQL / name) for name in latest} == latest


def test_a_reviewed_revision_is_recorded_and_any_other_change_refused(tmp_path: Path) -> None:
    sql = tmp_path / "timescale"
    shutil.copytree(SQL, sql)
    with timescale_engine() as eng:
        eng.apply(apply_sh=sql / "apply.sh")
        # A database that applied 04 and 06 before their comment revisions.
        for name, earlier, _ in revisions(sql / "revisions.txt"):
            eng.query("UPDATE schema_migrations SET checksum = %s WHERE name = %s "
                      "RETURNING name", (earlier, name))
        objects = eng.query("SELECT count(*) AS n FROM pg_class")
        out = eng.apply(apply_sh=sql / "apply.sh")
        assert "0 migration(s) applied" in out.stdout
        assert "04_rollups.sql: a reviewed revision" in out.stdout
        recorded = {r["name"]: r["checksum"] for r in eng.query(
            "SELECT name, checksum FROM schema_migrations")}
        assert all(recorded[name] == sha(sql / name) for name, _, _ in revisions())
        assert eng.query("SELECT count(*) AS n FROM pg_class") == objects

        # A comment edit with its revision entry passes; the same edit without one does not.
        path = sql / "03_indexes.sql"
        before = sha(path)
        path.write_text(path.read_text() + "-- a reviewed comment\n")
        with (sql / "revisions.txt").open("a") as f:
            f.write(f"03_indexes.sql {before} {sha(path)} comment\n")
        assert "03_indexes.sql: a reviewed revision" in eng.apply(apply_sh=sql / "apply.sh").stdout
        path.write_text(path.read_text() + "CREATE INDEX IF NOT EXISTS x ON alerts (level);\n")
        refused = eng.apply(apply_sh=sql / "apply.sh", check=False)
        assert refused.returncode != 0
        assert "migration 03_indexes.sql changed after it was applied" in refused.stderr


@pytest.mark.parametrize("width", rollups.WIDTHS, ids=lambda w: w.suffix)
def test_the_plain_views_bucket_like_time_bucket(width: object) -> None:
    # date_bin with time_bucket's default origin gives the continuous aggregates' buckets.
    view = rollups.plain_view(rollups.FAMILIES[0], width)
    assert f"date_bin(INTERVAL '{width.interval}', window_start, {rollups.ORIGIN})" in view
    assert rollups.ORIGIN == "TIMESTAMPTZ '2000-01-03 00:00:00+00'"

"""The plain-PostgreSQL branch of sql/timescale/ on the local server, and both branches
compared on one dataset: the rollup views must return what the continuous aggregates do."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator

import pytest

from harness.timescale.engine import timescale_engine
from lcm.paths import REPO_DIR
from tests.timescale import dataset
from tests.timescale.local_pg import POSTGRES_SH, LocalDatabase, local_database

pytestmark = pytest.mark.stack

SQL = REPO_DIR / "sql" / "timescale"
MIGRATIONS = sorted(p for p in SQL.glob("[0-9][0-9]_*.sql") if not p.name.startswith("00_"))
COLUMNS = ("SELECT table_name, column_name, data_type FROM information_schema.columns "
           "WHERE table_schema = 'public' AND table_name = ANY(%s) "
           "ORDER BY table_name, ordinal_position")


@pytest.fixture(scope="module")
def plain() -> Iterator[LocalDatabase]:
    with local_database("migr") as db:
        yield db


def schema_state(db: LocalDatabase) -> dict[str, list[dict]]:
    return {
        "objects": db.query("SELECT c.relname, c.relkind, c.relacl::text, "
                            "pg_get_viewdef(c.oid) AS view FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' ORDER BY 1"),
        "migrations": db.query("SELECT * FROM schema_migrations ORDER BY version"),
    }


def test_every_migration_is_recorded_on_the_plain_branch(plain: LocalDatabase) -> None:
    rows = plain.query("SELECT version, name, checksum, variant FROM schema_migrations "
                       "ORDER BY version")
    assert rows == [{"version": int(p.name[:2]), "name": p.name,
                     "checksum": hashlib.sha256(p.read_bytes()).hexdigest(),
                     "variant": "plain"} for p in MIGRATIONS]


def test_rollups_are_plain_views(plain: LocalDatabase) -> None:
    views = plain.query("SELECT table_name FROM information_schema.views "
                        "WHERE table_schema = 'public' ORDER BY 1")
    assert [v["table_name"] for v in views] == sorted(dataset.ROLLUPS)


def test_applying_again_changes_nothing(plain: LocalDatabase) -> None:
    before = schema_state(plain)
    assert "0 migration(s) applied" in plain.init().stdout
    assert schema_state(plain) == before


def test_both_branches_return_the_same_rollups_for_the_same_rows(plain: LocalDatabase) -> None:
    with plain.connect("writer") as db:
        dataset.load(db)
    with timescale_engine() as ts:
        ts.apply()
        with ts.connect() as db:
            dataset.load(db)
            for rollup in dataset.ROLLUPS:
                db.execute(f"CALL refresh_continuous_aggregate('{rollup}', NULL, NULL)")
            caggs = {r: dataset.read(db, r) for r in dataset.ROLLUPS}
            cagg_columns = db.execute(COLUMNS, (list(dataset.ROLLUPS),)).fetchall()
    with plain.connect("reader") as db:
        views = {r: dataset.read(db, r) for r in dataset.ROLLUPS}
        view_columns = db.execute(COLUMNS, (list(dataset.ROLLUPS),)).fetchall()

    assert view_columns == cagg_columns  # same names, order and types
    for rollup in dataset.ROLLUPS:
        dataset.assert_rows_match(views[rollup], dataset.expected(rollup), f"view {rollup}")
        dataset.assert_rows_match(caggs[rollup], views[rollup], f"cagg vs view {rollup}")


def test_plain_rollups_follow_every_write_of_the_sink(plain: LocalDatabase) -> None:
    # Stored buckets are kept by triggers: the Flink upsert (INSERT ... ON CONFLICT DO
    # UPDATE) of a new minute and of a changed one must both reach them at once.
    upsert = ("INSERT INTO risk_scores (base, venue, window_start, window_end, risk, side, "
              "long_risk, short_risk, confidence, components) VALUES "
              "('ZZZ', 'all', %s, %s::timestamptz + INTERVAL '1 minute', %s, 'long', %s, 0, "
              "1, 'funding') ON CONFLICT (base, venue, window_start) DO UPDATE SET "
              "risk = EXCLUDED.risk, long_risk = EXCLUDED.long_risk")
    bucket = "SELECT risk_max, risk_avg FROM risk_scores_5m WHERE base = 'ZZZ'"
    with plain.connect("writer") as db:
        db.execute(upsert, ("2026-11-21 10:00Z", "2026-11-21 10:00Z", 20, 20))
        db.execute(upsert, ("2026-11-21 10:01Z", "2026-11-21 10:01Z", 40, 40))
    assert plain.query(bucket) == [{"risk_max": 40, "risk_avg": 30}]
    with plain.connect("writer") as db:
        db.execute(upsert, ("2026-11-21 10:01Z", "2026-11-21 10:01Z", 10, 10))  # an update
    assert plain.query(bucket) == [{"risk_max": 20, "risk_avg": 15}]
    assert plain.query("SELECT risk_max FROM risk_scores_1h WHERE base = 'ZZZ'") == [
        {"risk_max": 20}]


def test_the_fill_of_rows_written_before_the_triggers(plain: LocalDatabase) -> None:
    # Migration 06 on a database with data, or a bulk load with the triggers off: the rows
    # are in no bucket until lcm_rollups.fill() recomputes them all.
    def superuser(sql: str) -> None:
        subprocess.run([POSTGRES_SH, "psql", plain.name, "-c", sql], check=True, timeout=120,
                       capture_output=True)

    superuser("ALTER TABLE features_1m DISABLE TRIGGER USER")
    try:
        with plain.connect("writer") as db:
            db.execute("INSERT INTO features_1m (base, venue, window_start, window_end, price, "
                       "events) SELECT 'FILL', 'all', t, t + INTERVAL '1 minute', 1 + m, 2 "
                       "FROM generate_series(0, 6) AS m, "
                       "LATERAL (SELECT TIMESTAMPTZ '2026-11-22 10:00Z' + m * INTERVAL "
                       "'1 minute' AS t) AS tt")
    finally:
        superuser("ALTER TABLE features_1m ENABLE TRIGGER USER")
    bucket = ("SELECT bucket, price_last, events_sum FROM features_5m WHERE base = 'FILL' "
              "ORDER BY 1")
    assert plain.query(bucket) == []
    superuser("SELECT lcm_rollups.fill()")
    assert [(r["bucket"].strftime("%H:%M"), r["price_last"], r["events_sum"])
            for r in plain.query(bucket)] == [("10:00", 5, 10), ("10:05", 7, 4)]

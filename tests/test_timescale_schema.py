"""The TimescaleDB branch of sql/timescale/ on a real TimescaleDB engine.

This machine has no TimescaleDB server, so the tests run sql/timescale/apply.sh itself, over
psql, against PGlite with the timescaledb extension (2.23, WebAssembly under Node, served
on a local port by harness/timescale/serve.mjs; installed by stack/setup.sh). The plain
PostgreSQL branch runs on the local server in tests/test_migrations.py.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.timescale.engine import TimescaleEngine, timescale_engine
from lcm.paths import REPO_DIR
from tests.timescale import dataset

SQL = REPO_DIR / "sql" / "timescale"
MIGRATIONS = sorted(p for p in SQL.glob("[0-9][0-9]_*.sql") if not p.name.startswith("00_"))
SERIES = {"alerts": "window_start", "features_1m": "window_start",
          "liquidations": "event_time", "risk_scores": "window_start",
          "source_health": "reported_at", "stablecoin_pressure": "window_start",
          "topic_events_1m": "window_start", "long_short_ratios": "reported_at",
          "liquidation_levels": "window_start"}
# Rollup names and columns as docs/storage.md lists them (what dashboards and reports read).
ROLLUP_COLUMNS = {
    "risk_scores": ["base", "venue", "bucket", "risk_max", "risk_avg", "long_risk_max",
                    "short_risk_max", "pressure_avg", "confidence_min"],
    "features": ["base", "venue", "bucket", "price_last", "funding_8h_avg", "oi_usd_last",
                 "long_share_avg", "liq_long_usd_sum", "liq_short_usd_sum", "events_sum"],
    "stablecoin_pressure": ["bucket", "inflow_usd_sum", "outflow_usd_sum", "pressure_avg"],
}


@pytest.fixture(scope="module")
def engine() -> Iterator[TimescaleEngine]:
    with timescale_engine() as eng:
        out = eng.apply()
        assert f"{len(MIGRATIONS)} migration(s) applied" in out.stdout
        assert "(timescaledb)" in out.stdout
        yield eng


def schema_state(engine: TimescaleEngine) -> dict[str, list[dict]]:
    """Everything a second apply could change: objects, jobs, migration records."""
    return {
        "objects": engine.query(
            "SELECT n.nspname, c.relname, c.relkind, c.relacl::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "ORDER BY 1, 2"),
        "jobs": engine.query("SELECT job_id, proc_name, hypertable_name, config::text, "
                             "schedule_interval FROM timescaledb_information.jobs ORDER BY 1"),
        "migrations": engine.query("SELECT * FROM schema_migrations ORDER BY version"),
    }


def test_every_migration_is_recorded_with_its_checksum(engine: TimescaleEngine) -> None:
    rows = engine.query("SELECT version, name, checksum, variant FROM schema_migrations "
                        "ORDER BY version")
    assert rows == [{"version": int(p.name[:2]), "name": p.name,
                     "checksum": hashlib.sha256(p.read_bytes()).hexdigest(),
                     "variant": "timescaledb"} for p in MIGRATIONS]


def test_every_series_table_is_a_hypertable(engine: TimescaleEngine) -> None:
    rows = engine.query("SELECT hypertable_name, column_name FROM "
                        "timescaledb_information.dimensions WHERE hypertable_schema = 'public' "
                        "ORDER BY 1")
    assert {r["hypertable_name"]: r["column_name"] for r in rows} == SERIES


def test_rollups_are_refreshed_continuous_aggregates_with_the_contract_columns(
        engine: TimescaleEngine) -> None:
    caggs = engine.query("SELECT view_name, materialized_only FROM "
                         "timescaledb_information.continuous_aggregates ORDER BY 1")
    assert caggs == [{"view_name": f"{family}_{size}", "materialized_only": False}
                     for family in sorted(ROLLUP_COLUMNS) for size in ("1h", "5m")]
    for family, columns in ROLLUP_COLUMNS.items():
        for size in ("5m", "1h"):
            got = engine.query("SELECT column_name FROM information_schema.columns "
                               "WHERE table_name = %s ORDER BY ordinal_position",
                               (f"{family}_{size}",))
            assert [r["column_name"] for r in got] == columns, f"{family}_{size}"
    policies = engine.query(
        "SELECT hypertable_name, config ->> 'start_offset' AS start, schedule_interval::text "
        "FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_refresh_continuous_aggregate' ORDER BY 1")
    assert {p["hypertable_name"]: (p["start"], p["schedule_interval"]) for p in policies} == {
        f"{family}_{size}": ("1 day", "00:05:00") if size == "5m" else ("3 days", "01:00:00")
        for family in ROLLUP_COLUMNS for size in ("5m", "1h")}


def test_refreshed_aggregates_hold_the_right_buckets(engine: TimescaleEngine) -> None:
    with engine.connect() as db:
        dataset.load(db)
        for rollup in dataset.ROLLUPS:
            db.execute(f"CALL refresh_continuous_aggregate('{rollup}', NULL, NULL)")
        for rollup in dataset.ROLLUPS:
            dataset.assert_rows_match(dataset.read(db, rollup), dataset.expected(rollup),
                                      rollup)
        materialized = db.execute("SELECT count(*) AS n FROM features_1h WHERE bucket < %s",
                                  (dataset.START.replace(hour=12),)).fetchone()
        assert materialized == {"n": 3 * len(dataset.BASES) * len(dataset.VENUES)}


def test_rows_newer_than_the_refresh_show_in_the_aggregate_at_once(
        engine: TimescaleEngine) -> None:
    # Real-time aggregation: a minute written after the last refresh is in the rollup.
    engine.query("INSERT INTO stablecoin_pressure (window_start, window_end, inflow_usd, "
                 "outflow_usd, internal_usd, transfers, pressure) VALUES "
                 "('2026-12-01 10:02Z', '2026-12-01 10:03Z', 7, 8, 0, 1, 42) RETURNING 1")
    assert engine.query("SELECT inflow_usd_sum, pressure_avg FROM stablecoin_pressure_5m "
                        "WHERE bucket = '2026-12-01 10:00Z'") == [
        {"inflow_usd_sum": 7, "pressure_avg": 42}]


def test_compression_settings_and_a_manual_compress_chunk(engine: TimescaleEngine) -> None:
    settings = engine.query(
        "SELECT hypertable::text AS t, segmentby, orderby FROM "
        "timescaledb_information.hypertable_compression_settings "
        "WHERE hypertable::text NOT LIKE '\\_timescaledb%' ORDER BY 1")
    by_table = {s["t"]: (s["segmentby"], s["orderby"]) for s in settings}
    assert by_table["features_1m"] == ("base,venue", "window_start DESC")
    assert by_table["risk_scores"] == ("base,venue", "window_start DESC")
    assert by_table["liquidation_levels"] == ("base", "window_start DESC,side,bucket")
    assert by_table["long_short_ratios"] == ("base,venue", "reported_at DESC")
    assert set(by_table) == set(SERIES)
    engine.query("INSERT INTO risk_scores (base, venue, window_start, window_end, risk, side, "
                 "long_risk, short_risk, confidence, components) VALUES "
                 "('SOL', 'all', '2026-10-01 12:00Z', '2026-10-01 12:01Z', 10, 'long', 10, 0, "
                 "1, 'funding') RETURNING 1")
    compressed = engine.query("SELECT compress_chunk(c)::text AS c FROM show_chunks("
                              "'risk_scores', older_than => TIMESTAMPTZ '2026-10-02') c")
    assert len(compressed) == 1
    assert engine.query("SELECT risk FROM risk_scores WHERE base = 'SOL'") == [{"risk": 10}]


def test_the_sink_upsert_into_a_compressed_chunk_works_for_the_writer(
        engine: TimescaleEngine) -> None:
    # Late data: the exact statement shape of the Flink JDBC sink, as the writer role, into
    # a compressed chunk (an update of a compressed row and a new row).
    engine.query("INSERT INTO features_1m (base, venue, window_start, window_end, price) "
                 "VALUES ('ADA', 'all', '2026-09-01 00:00Z', '2026-09-01 00:01Z', 0.5) "
                 "RETURNING 1")
    engine.query("SELECT compress_chunk(c) FROM show_chunks('features_1m', "
                 "older_than => TIMESTAMPTZ '2026-09-02') c")
    upsert = ("INSERT INTO features_1m (base, venue, window_start, window_end, price, events) "
              "VALUES (%s, 'all', '2026-09-01 00:00Z', '2026-09-01 00:01Z', %s, 3) "
              "ON CONFLICT (base, venue, window_start) DO UPDATE SET price = EXCLUDED.price, "
              "events = EXCLUDED.events")
    with engine.connect() as db:
        db.execute("SET ROLE lcm_writer")
        try:
            db.execute(upsert, ("ADA", 0.7))
            db.execute(upsert, ("DOT", 4.0))
        finally:
            db.execute("RESET ROLE")
    assert engine.query("SELECT base, price, events FROM features_1m "
                        "WHERE window_start = '2026-09-01 00:00Z' ORDER BY 1") == [
        {"base": "ADA", "price": 0.7, "events": 3}, {"base": "DOT", "price": 4.0, "events": 3}]


def test_the_reader_selects_from_the_aggregates(engine: TimescaleEngine) -> None:
    with engine.connect() as db:
        db.execute("SET ROLE lcm_reader")
        try:
            for rollup in dataset.ROLLUPS:
                db.execute(f"SELECT * FROM {rollup} LIMIT 1").fetchall()
        finally:
            db.execute("RESET ROLE")


def policy_ages(engine: TimescaleEngine) -> dict[tuple[str, str], str]:
    rows = engine.query(
        "SELECT proc_name, hypertable_name, coalesce(config ->> 'compress_after', "
        "config ->> 'drop_after') AS age FROM timescaledb_information.jobs "
        "WHERE proc_name IN ('policy_compression', 'policy_retention')")
    return {(r["proc_name"].removeprefix("policy_"), r["hypertable_name"]): r["age"]
            for r in rows}


def test_compression_and_retention_follow_the_settings(engine: TimescaleEngine) -> None:
    ages = policy_ages(engine)  # the defaults
    assert {t: ages[("compression", t)] for t in SERIES} == dict.fromkeys(SERIES, "7 days")
    assert ages[("retention", "features_1m")] == "90 days"
    assert ages[("retention", "risk_scores_1h")] == "365 days"
    assert ages[("retention", "alerts")] == "365 days"
    assert ("retention", "dead_letters") not in ages

    engine.apply(LCM_COMPRESS_AFTER="2d", LCM_RETAIN_RAW="30d", LCM_RETAIN_ROLLUPS="off")
    ages = policy_ages(engine)
    assert ages[("compression", "risk_scores")] == "2 days"
    assert ages[("retention", "features_1m")] == "30 days"
    assert not any(t.endswith(("_5m", "_1h")) for _, t in ages)

    refused = engine.apply(LCM_RETAIN_RAW="2d", check=False)
    assert refused.returncode != 0 and "LCM_RETAIN_RAW = 2d is too short" in refused.stderr
    engine.apply()  # back to the defaults for the other tests
    assert policy_ages(engine)[("retention", "features_5m")] == "365 days"


def test_applying_again_changes_nothing(engine: TimescaleEngine) -> None:
    before = schema_state(engine)
    out = engine.apply()
    assert "0 migration(s) applied" in out.stdout
    assert schema_state(engine) == before


def test_a_migration_changed_after_it_was_applied_is_refused_by_name(tmp_path: Path) -> None:
    sql = tmp_path / "timescale"
    shutil.copytree(SQL, sql)
    with timescale_engine() as eng:
        eng.apply(apply_sh=sql / "apply.sh")
        with (sql / "03_indexes.sql").open("a") as f:
            f.write("CREATE INDEX IF NOT EXISTS alerts_level_idx ON alerts (level);\n")
        refused = eng.apply(apply_sh=sql / "apply.sh", check=False)
        assert refused.returncode != 0
        assert "migration 03_indexes.sql changed after it was applied" in refused.stderr
        assert "nothing applied" in refused.stderr
        assert eng.query("SELECT to_regclass('alerts_level_idx') IS NULL AS absent") == [
            {"absent": True}]

        eng.apply("--reapply-changed", apply_sh=sql / "apply.sh")
        assert eng.query("SELECT to_regclass('alerts_level_idx') IS NULL AS absent") == [
            {"absent": False}]
        recorded = eng.query("SELECT checksum FROM schema_migrations "
                             "WHERE name = '03_indexes.sql'")
        assert recorded == [{"checksum": hashlib.sha256(
            (sql / "03_indexes.sql").read_bytes()).hexdigest()}]

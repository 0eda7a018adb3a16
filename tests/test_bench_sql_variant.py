"""The pure-SQL scoring variant of the benchmark (bench/sql/) computes the same columns as
the job's Python UDFs from the same inputs, in a local Flink, no services needed.

bench.pipeline runs both on the benchmark's own rows and reports any difference; this test
makes a change to the scoring (flink_jobs/scoring.py, config/monitor.yaml) that the SQL
variant does not follow fail here too, so the variant cannot silently measure something else.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from bench.pipeline import SCORE_COLUMNS, SQL_VARIANT
from flink_jobs import udfs
from flink_jobs.config import load_config
from flink_jobs.job import sql_params
from flink_jobs.sql_files import SQL_DIR, render, statements
from lcm.settings import Connections

CFG = load_config()
D, S, T = DataTypes.DOUBLE(), DataTypes.STRING(), DataTypes.TIMESTAMP(3)
T0 = datetime(2026, 11, 20, 14, 0)
INPUTS = ("funding_8h", "oi_change_pct", "price_change_pct", "long_share", "liq_long_in",
          "liq_short_in", "oi_usd", "liq_baseline_usd")


def _score_inputs(n: int = 400) -> list[tuple]:
    """score_inputs rows (43) around every threshold, each input sometimes missing."""
    rng = random.Random(11)

    def maybe(x: float) -> float | None:
        return None if rng.random() < 0.15 else x

    rows = []
    for i in range(n):
        start = T0 + timedelta(minutes=i // 5)
        liq = rng.random() > 0.2  # one feed: both sides or neither
        rows.append((start, start + timedelta(minutes=1),
                     start + timedelta(minutes=1, milliseconds=-1), f"A{i % 5}",
                     ("all", "bybit", "okx")[i % 3], maybe(rng.uniform(0, 900)),
                     maybe(rng.uniform(-0.001, 0.001)), maybe(rng.uniform(-12, 8)),
                     maybe(rng.uniform(-3, 3)), maybe(rng.choice([0.0, 1.0, rng.random()])),
                     rng.uniform(0, 2e6) if liq else None, rng.uniform(0, 2e6) if liq else None,
                     maybe(rng.uniform(1e8, 3e10)), maybe(rng.choice([0.0, rng.uniform(0, 1e6)]))))
    return rows


def _flow_rows() -> list[tuple]:
    rng = random.Random(3)
    rows = []
    for m in range(80):
        start = T0 + timedelta(minutes=m)
        inflow, outflow = (None, None) if rng.random() < 0.2 else (
            rng.choice([0.0, rng.uniform(0, 5e7)]), rng.choice([0.0, rng.uniform(0, 5e7)]))
        rows.append((start, start + timedelta(minutes=1),
                     start + timedelta(minutes=1, milliseconds=-1), inflow, outflow,
                     0.0, rng.randrange(0, 8), rng.choice([None, 0.0, rng.uniform(0, 3e7)])))
    return rows


def _risk_scores(variant: str) -> dict[tuple, tuple]:
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("parallelism.default", "1")
    env.get_config().set("table.local-time-zone", "UTC")
    udfs.register(env, CFG.scoring)
    env.create_temporary_view("score_inputs", env.from_elements(_score_inputs(), DataTypes.ROW(
        [DataTypes.FIELD(n, t) for n, t in (
            ("window_start", T), ("window_end", T), ("window_time", T), ("base", S),
            ("venue", S), ("data_age_s", D), *((i, D) for i in INPUTS))])))
    env.create_temporary_view("flow_baseline", env.from_elements(_flow_rows(), DataTypes.ROW(
        [DataTypes.FIELD(n, t) for n, t in (
            ("window_start", T), ("window_end", T), ("window_time", T), ("inflow_usd", D),
            ("outflow_usd", D), ("internal_usd", D), ("transfers", DataTypes.BIGINT()),
            ("baseline_usd", D))])))
    params = sql_params(CFG, Connections(writer_password="unused"))
    folder = SQL_VARIANT if variant == "sql" else SQL_DIR
    for name in ("50_pressure.sql", "51_risk_scores.sql"):
        for stmt in statements(render(folder / name, params)):
            env.execute_sql(stmt)
    cols = ", ".join(SCORE_COLUMNS[:-1]) + ", level_now"  # venue rows' level
    with env.execute_sql(f"SELECT base, venue, window_start, {cols} FROM risk_scores"
                         ).collect() as rows:
        return {tuple(r[:3]): tuple(r[3:]) for r in rows}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.fixture(scope="module")
def both() -> tuple[dict, dict]:
    return _risk_scores("udf"), _risk_scores("sql")


def test_sql_variant_writes_the_udfs_scores(both: tuple[dict, dict]) -> None:
    udf, sql = both
    assert udf.keys() == sql.keys() and len(udf) == 400
    names = [*SCORE_COLUMNS[:-1], "level_now"]
    diffs = [(k, name, a, b) for k in udf for name, a, b in zip(names, udf[k], sql[k],
                                                                   strict=True)
             if not _same(a, b)]
    assert not diffs, f"{len(diffs)} values differ (key, column, udf, sql), first: {diffs[:5]}"


def test_the_rows_reach_every_branch(both: tuple[dict, dict]) -> None:
    """Guard against a vacuous comparison: sides, levels, missing components, pressure."""
    udf, _ = both
    col = {n: i for i, n in enumerate([*SCORE_COLUMNS[:-1], "level_now"])}
    values = list(udf.values())
    assert {v[col["side"]] for v in values} == {"long", "short"}
    assert {v[col["level_now"]] for v in values} >= {None, "INFO", "WARNING", "CRITICAL"}
    assert any(v[col["liquidation_pts"]] is None for v in values)
    assert any(v[col["pressure"]] is None for v in values)
    assert len({v[col["components"]] for v in values}) > 4

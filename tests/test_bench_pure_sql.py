"""bench.pipeline's `sql` variant (bench/pure_sql.py, bench/sql/): the scores written as
SQL give what flink_jobs.scoring gives on the same rows, within the stated bound, in a real
local Flink (batch mode, the variant's own statements on rows written here); and the
variant's job calls no scoring UDF but keeps the alert-state UDAF."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from scipy.special import ndtr

from bench import pure_sql
from flink_jobs import scoring
from flink_jobs.config import COMPONENTS, Scoring, load_config
from flink_jobs.job import job_statements, sql_params
from flink_jobs.sql_files import render, statements
from lcm.settings import Connections

CFG = load_config()
D = DataTypes.DOUBLE()
T0 = datetime(2026, 11, 20, 14, 0)
SCORE_FILES = ("48_score_z.sql", "49_score_sides.sql", "50_score_risk.sql",
               "51_risk_scores.sql")
POINTS = {"liquidations": "liquidation_pts", "liquidations_recent": "liquidation_recent_pts"}


def _scoring(**changes: object) -> Scoring:
    return Scoring.model_validate({**CFG.scoring.model_dump(), **changes})


# --- without Flink ------------------------------------------------------------------------
def test_double_literals_read_back_as_the_same_float() -> None:
    for x in (3.0, 0.75, -1.5, 0.1 * 0.1, 1e-05, 1000000.0, 0.0, 2.0 / 3.0):
        text = pure_sql.double(x)
        assert "E" in text.upper()  # an approximate literal, never an exact DECIMAL
        assert float(text.strip("()")) == x


def test_scoring_params_follow_the_config() -> None:
    p = pure_sql.scoring_params(_scoring(risk_spread=3.0))
    assert p["risk_spread"] == "3.0E0"
    assert p["on_pressure"] == "FALSE" and p["on_liquidations"] == "TRUE"  # weight 0 / 3
    assert float(p["weight_total"]) == sum(abs(w) for w in CFG.scoring.components
                                           .weights().values())


def test_insert_override_needs_the_one_alert_level_call() -> None:
    assert "ALERT_LEVEL(" not in pure_sql.insert_without_alert_level(
        "SELECT ALERT_LEVEL(risk, confidence), x FROM risk_scores")
    with pytest.raises(SystemExit, match="exactly once"):
        pure_sql.insert_without_alert_level("SELECT level FROM risk_scores")


def test_variant_job_calls_no_scoring_udf(tmp_path: Path) -> None:
    """The whole job as the variant runs it: no LIQUIDATION_RISK, STABLECOIN_PRESSURE or
    ALERT_LEVEL left; the alert state UDAF and every INSERT of the job still there."""
    out = pure_sql.write_variant(CFG.scoring, tmp_path / "v")
    overrides = {p.name: p for p in out.glob("*.sql")}
    params = sql_params(CFG, Connections(writer_password="unused"))
    ddl, inserts = job_statements(params, overrides)
    _, job_inserts = job_statements(params)
    text = "\n".join(ddl + inserts)
    for call in pure_sql.UDF_CALLS:
        assert call not in text
    assert "ALERT_TRANSITION(" in text
    assert len(inserts) == len(job_inserts)
    assert "alert_level, liquidation_recent_pts" in text


# --- in Flink -----------------------------------------------------------------------------
def _history_rows(n: int, seed: int) -> list[tuple]:
    """score_history rows: each signal now and its history (count, sum, sum of squares),
    some missing or short, a few with no history or a flat one."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        vals: list[float | None] = []
        for _ in scoring.SIGNALS:
            k = rng.choice([0, 10, 59, 60, 80, 500])
            spread = rng.choice([0.0, 0.01, 1.0, 3.0])
            past = [rng.gauss(0, spread) for _ in range(k)]
            x = None if rng.random() < 0.15 else rng.gauss(0.5, 2 * max(spread, 0.05))
            vals += [x, float(k), sum(past) if past else None,
                     sum(v * v for v in past) if past else None]
        start = T0 + timedelta(minutes=i)
        rows.append((start, start + timedelta(minutes=1),
                     start + timedelta(minutes=1, milliseconds=-1), float(i), "BTC",
                     f"v{i}", 1.5, None, *vals))
    return rows


@pytest.fixture
def t_env() -> TableEnvironment:
    """A fresh batch environment per test: each declares the variant's views anew."""
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("parallelism.default", "1")
    env.get_config().set("table.local-time-zone", "UTC")
    return env


def _run_variant(t_env: TableEnvironment, cfg: Scoring, files: tuple[str, ...],
                 tmp: Path, query: str) -> list[tuple]:
    out = pure_sql.write_variant(cfg, tmp)
    for name in files:  # the scoring config filled in: no ${parameter} may be left
        for stmt in statements(render(out / name, {})):
            t_env.execute_sql(stmt)
    with t_env.execute_sql(query).collect() as it:
        return [tuple(r) for r in it]


@pytest.mark.parametrize("spread", [2.0, 0.5, 0.1], ids=["config", "tail", "far-tail"])
def test_sql_scores_match_scoring_py(t_env: TableEnvironment, tmp_path: Path,
                                     spread: float) -> None:
    """Every output of LIQUIDATION_RISK and ALERT_LEVEL from the SQL equals scoring.py's
    within MAX_RISK_DEVIATION; smaller spreads drive Phi's argument through both branches
    of Hart's approximation (|x| of 7.07 and beyond) up to the far tail."""
    cfg = _scoring(risk_spread=spread)
    rows = _history_rows(400, seed=int(spread * 10))
    meta = [("window_start", DataTypes.TIMESTAMP(3)), ("window_end", DataTypes.TIMESTAMP(3)),
            ("window_time", DataTypes.TIMESTAMP(3)), ("window_minute", D),
            ("base", DataTypes.STRING()), ("venue", DataTypes.STRING()),
            ("data_age_s", D), ("pressure_value", D)]
    schema = DataTypes.ROW([*(DataTypes.FIELD(n, t) for n, t in meta),
                            *(DataTypes.FIELD(n, D) for n in scoring.RISK_INPUTS)])
    t_env.create_temporary_view("score_history", t_env.from_elements(rows, schema))
    outputs = ["risk", "side", "long_risk", "short_risk",
               *(POINTS.get(c, f"{c}_pts") for c in COMPONENTS), "confidence", "components",
               "alert_level"]
    got = {r[0]: r[1:] for r in _run_variant(
        t_env, cfg, SCORE_FILES, tmp_path / "v",
        f"SELECT venue, {', '.join(outputs)} FROM risk_scores")}
    assert len(got) == len(rows)
    sides = 0
    for row in rows:
        want = scoring.liquidation_risk(dict(zip(scoring.RISK_INPUTS, row[8:], strict=True)),
                                        cfg)
        g = dict(zip(outputs, got[row[5]], strict=True))
        for name in ("risk", "long_risk", "short_risk"):
            assert abs(g[name] - getattr(want, name)) <= pure_sql.MAX_RISK_DEVIATION, name
        tie = abs(want.long_risk - want.short_risk) <= 2 * pure_sql.MAX_RISK_DEVIATION
        if not tie:
            assert g["side"] == want.side, row
            sides += 1
            for c in COMPONENTS:
                w, v = want.points[c], g[POINTS.get(c, f"{c}_pts")]
                assert (v is None) == (w is None), (c, v, w)
                if w is not None:
                    assert math.isclose(v, w, rel_tol=1e-12, abs_tol=1e-12), (c, v, w)
        assert math.isclose(g["confidence"], want.confidence, rel_tol=1e-15)
        assert g["components"] == want.present
        assert g["alert_level"] == scoring.alert_level(want.risk, want.confidence, cfg.alerts)
    # Sides compared on most rows (in the far tail many rows pin both risks at 0 or 100).
    assert sides > 0.5 * len(rows)
    levels = {g[-1] for g in got.values()}
    if spread == 2.0:
        assert {None, "INFO"} <= levels  # the level's NULL and a level both exercised
    else:  # the far tail: risks pinned near 0 and 100 still match
        assert any(min(g[2], g[3]) < 1e-6 for g in got.values())


def test_hart_phi_within_the_bound_everywhere() -> None:
    """The approximation itself, as bench/sql/50 writes it, against ndtr on a dense grid
    (the SQL test above only reaches the x its rows produce)."""
    text = (pure_sql.BENCH_SQL / "50_score_risk.sql").read_text(encoding="utf-8")
    assert "7.07106781186547E0" in text and "2.506628274631E0" in text
    x = np.concatenate([np.linspace(-40, 40, 400_001), np.linspace(-8, 8, 400_001)])
    a = np.abs(x)
    e = np.exp(-a * a / 2)
    num = ((((((3.52624965998911e-02 * a + 0.700383064443688) * a + 6.37396220353165) * a
               + 33.912866078383) * a + 112.079291497871) * a + 221.213596169931) * a
           + 220.206867912376)
    den = (((((((8.83883476483184e-02 * a + 1.75566716318264) * a + 16.064177579207) * a
                + 86.7807322029461) * a + 296.564248779674) * a + 637.333633378831) * a
            + 793.826512519948) * a + 440.413735824752)
    far = e / (a + 1 / (a + 2 / (a + 3 / (a + 4 / (a + 0.65))))) / 2.506628274631
    tail = np.where(a < 7.07106781186547, e * num / den, np.where(a <= 37, far, 0.0))
    phi = np.where(x > 0, 1 - tail, tail)
    assert np.max(np.abs(100 * (phi - ndtr(x)))) <= pure_sql.MAX_RISK_DEVIATION


def test_sql_pressure_matches_scoring_py(t_env: TableEnvironment, tmp_path: Path) -> None:
    rng = random.Random(9)
    rows = []
    for i in range(300):
        start = T0 + timedelta(minutes=i)
        rows.append((start, start + timedelta(minutes=1),
                     start + timedelta(minutes=1, milliseconds=-1), float(i),
                     rng.choice([None, 0.0, rng.uniform(0, 5e7), rng.uniform(0, 1e3)]),
                     rng.choice([None, 0.0, rng.uniform(0, 5e7), rng.uniform(0, 1e3)]),
                     0.0, 1, rng.choice([None, 0.0, rng.uniform(0, 2e7)])))
    names = ("inflow_usd", "outflow_usd", "internal_usd", "transfers", "baseline_usd")
    schema = DataTypes.ROW([
        DataTypes.FIELD("window_start", DataTypes.TIMESTAMP(3)),
        DataTypes.FIELD("window_end", DataTypes.TIMESTAMP(3)),
        DataTypes.FIELD("window_time", DataTypes.TIMESTAMP(3)),
        DataTypes.FIELD("window_minute", D),
        *(DataTypes.FIELD(n, DataTypes.BIGINT() if n == "transfers" else D) for n in names)])
    t_env.create_temporary_view("flow_baseline", t_env.from_elements(rows, schema))
    got = {r[0]: r[1] for r in _run_variant(
        t_env, CFG.scoring, ("45_pressure.sql",), tmp_path / "p",
        "SELECT window_minute, pressure FROM stablecoin_pressure")}
    assert len(got) == len(rows)
    for _, _, _, minute, inflow, outflow, _, _, baseline in rows:
        want = scoring.stablecoin_pressure(inflow, outflow, baseline, CFG.scoring.pressure)
        if want is None:
            assert got[minute] is None
        else:
            assert math.isclose(got[minute], want, rel_tol=1e-12, abs_tol=1e-12), minute


def test_bench_pipeline_sql_variant_uses_the_variants_config() -> None:
    """`sql~scoring.risk_spread=3.5`: the job gets the variant's SQL directory, in which the
    changed spread is written, and the changed config itself."""
    from bench.pipeline import parse_variant

    v = parse_variant("sql~scoring.risk_spread=3.5")
    i = v.job_args.index("--sql-variant")
    out = Path(v.job_args[i + 1])
    assert sorted(p.name for p in out.glob("*.sql")) == sorted(
        [*SCORE_FILES, "45_pressure.sql", "70_insert.sql"])
    assert "/ 3.5E0 AS l_x" in (out / "50_score_risk.sql").read_text(encoding="utf-8")
    assert v.job_args[v.job_args.index("--config") + 1] == str(v.config)
    plain = parse_variant("sql")
    assert plain.config is None
    plain_dir = Path(plain.job_args[plain.job_args.index("--sql-variant") + 1])
    assert "/ 2.0E0 AS l_x" in (plain_dir / "50_score_risk.sql").read_text(encoding="utf-8")

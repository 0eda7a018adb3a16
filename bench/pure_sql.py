"""The `sql` variant of bench.pipeline: the job with its scoring UDFs written as SQL.

Benchmark only. The monitor has one scoring path, the Python UDFs over flink_jobs.scoring;
this variant prices them: the same job, with LIQUIDATION_RISK, STABLECOIN_PRESSURE and
ALERT_LEVEL replaced by SQL expressions that compute the same numbers (bench/sql/, each
file replacing or adding the sql/flink/ file of its name, as the backtest's OVERRIDES do).

    python -m bench.pipeline --variants udf,udf-row,sql

How close: every step is the same IEEE arithmetic in the same order as scoring.py, except
the normal CDF, which SQL does not have: bench/sql/50 writes it with Hart's double-precision
rational approximation (Hart 1968, algorithm 5666, as published by West 2005), within
2.3e-14 risk points of scipy's ndtr over all inputs (MAX_RISK_DEVIATION, checked by
tests/test_bench_pure_sql.py on sample rows), and LN(1 + x) for log1p in the pressure.
`side` can differ from the UDF's only where long and short risk are that close.

What stays Python: ALERT_TRANSITION, the alert state machine (hysteresis and cooldown
replayed over the asset's last state_windows rows). It is a fold over rows, which SQL
cannot write without recursion, and it is not a score; it runs on the all-venue rows only
(one row per asset and minute), so the variant has no Python on the venue rows.

A few columns carry `+ 0E0 * RAND()`, which adds exactly 0: a planning fence, since
Flink inlines a deterministic column into every expression that reads it and the score
steps read each z, |x| and risk many times (bench/sql/48 says more).

The scoring config (weights, history, spread, pressure, alert thresholds) is written into
the SQL as DOUBLE literals when the variant's directory is made, from the variant's own
config (so `sql~scoring.risk_spread=3` works); the job fills in its own ${parameters}.
"""

from __future__ import annotations

import re
from pathlib import Path

from flink_jobs.config import COMPONENTS, Scoring
from flink_jobs.sql_files import SQL_DIR

BENCH_SQL = Path(__file__).parent / "sql"
# The job's only call of ALERT_LEVEL (venue rows' instantaneous level): in the variant it
# reads the column bench/sql/51 computes instead.
ALERT_LEVEL_CALL = "ALERT_LEVEL(risk, confidence)"
INSERT_FILE = "70_insert.sql"
UDF_CALLS = ("LIQUIDATION_RISK(", "STABLECOIN_PRESSURE(", "ALERT_LEVEL(")
# Largest |risk_sql - risk_udf| in risk points (0..100): Hart's approximation against
# ndtr, measured over [-40, 40] (2.2e-14), with room for the last bits of exp and sqrt.
MAX_RISK_DEVIATION = 1e-12
_PARAM = re.compile(r"\$\{(\w+)\}")


def double(value: float) -> str:
    """A DOUBLE literal that reads back as exactly this float (an exponent makes it an
    approximate numeric, not a DECIMAL, so no exact-decimal arithmetic differs from
    numpy's)."""
    text = repr(float(value))
    if "e" not in text and "E" not in text:
        text += "E0"
    return f"({text})" if text.startswith("-") else text


def scoring_params(cfg: Scoring) -> dict[str, str]:
    """The scoring config as SQL literals, by the ${names} bench/sql/ uses. Derived numbers
    (w^2, |w|, their total) are computed here as scoring.py computes them, in floats."""
    weights = cfg.components.weights()
    h, a = cfg.history, cfg.alerts
    out = {
        "min_windows": double(h.min_windows), "z_clip": double(h.z_clip),
        "neg_z_clip": double(-h.z_clip), "min_sd": double(h.min_sd),
        "risk_spread": double(cfg.risk_spread),
        "min_baseline_usd": double(cfg.pressure.min_baseline_usd),
        "softness": double(cfg.pressure.softness),
        "min_confidence": double(a.min_confidence), "info_risk": double(a.info_risk),
        "warning_risk": double(a.warning_risk), "critical_risk": double(a.critical_risk),
        "weight_total": double(sum(abs(w) for w in weights.values())),
    }
    for c in COMPONENTS:
        w = weights[c]
        out[f"w_{c}"] = double(w)
        out[f"w2_{c}"] = double(w * w)
        out[f"aw_{c}"] = double(abs(w))
        # TRUE when the component counts (a non-zero weight): scoring.py leaves a
        # zero-weight component out of S, the contributions and `components`.
        out[f"on_{c}"] = "TRUE" if w else "FALSE"
    return out


def render_scoring(text: str, params: dict[str, str]) -> str:
    """Fill in the scoring ${names}; leave every other ${name} to the job's own render
    (which fails naming the file if one has no value)."""
    return _PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), text)


def insert_without_alert_level(text: str) -> str:
    """sql/flink/70_insert.sql with its ALERT_LEVEL call replaced by bench/sql/51's column.
    Made from the job's own file each time, so the variant never runs a stale copy."""
    if text.count(ALERT_LEVEL_CALL) != 1:
        raise SystemExit(f"variant sql: {INSERT_FILE} must call {ALERT_LEVEL_CALL} exactly "
                         f"once (found {text.count(ALERT_LEVEL_CALL)}); update "
                         "bench/pure_sql.py to the job's SQL")
    return text.replace(ALERT_LEVEL_CALL, "alert_level")


def write_variant(cfg: Scoring, out: Path) -> Path:
    """The variant's SQL files in `out` (for the job's --sql-variant): bench/sql/ with the
    scoring config filled in, and 70_insert.sql without ALERT_LEVEL."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.sql"):
        old.unlink()
    params = scoring_params(cfg)
    for path in sorted(BENCH_SQL.glob("*.sql")):
        (out / path.name).write_text(render_scoring(path.read_text(encoding="utf-8"), params),
                                     encoding="utf-8")
    insert = (SQL_DIR / INSERT_FILE).read_text(encoding="utf-8")
    (out / INSERT_FILE).write_text(insert_without_alert_level(insert), encoding="utf-8")
    return out

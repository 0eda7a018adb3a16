"""PyFlink UDFs around flink_jobs.scoring, called on window rows only, never raw events.

Vectorized (pandas) by default: Flink hands a batch of rows as pandas Series over Arrow and
one numpy call scores them all. `register(..., vectorized=False)` registers row-at-a-time
versions of the same functions under the same names (benchmark baseline only:
`python -m bench.pipeline --variants udf,udf-row`).

Each function object holds the validated scoring config, so the TaskManager's Python
workers score with exactly the thresholds the job was submitted with.
"""

from __future__ import annotations

import math

import pandas as pd
from pyflink.common import Row
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import ScalarFunction, udaf, udf

from flink_jobs import scoring
from flink_jobs.config import COMPONENTS, Scoring

D, S = DataTypes.DOUBLE(), DataTypes.STRING()
RISK_ROW = DataTypes.ROW([DataTypes.FIELD(name, S if name in ("side", "components") else D)
                          for name in scoring.RISK_OUTPUTS])


# --- vectorized ---------------------------------------------------------------------------
class RiskFrame(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg

    def eval(self, *columns: pd.Series) -> pd.DataFrame:
        return scoring.score_frame(columns, self.cfg)


class PressureFrame(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg.pressure

    def eval(self, inflow: pd.Series, outflow: pd.Series, baseline: pd.Series) -> pd.Series:
        return pd.Series(scoring.pressure_frame(inflow, outflow, baseline, self.cfg))


class LevelFrame(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg.alerts

    def eval(self, risk: pd.Series, confidence: pd.Series) -> pd.Series:
        return pd.Series(scoring.level_frame(risk, confidence, self.cfg), dtype=object)


class AlertTransition:
    """Pandas UDAF over a bounded ROWS window of one asset's all-venue rows: replays the
    state machine over them and returns '<level>|<previous level>' for the last row."""

    def __init__(self, cfg: Scoring, window_minutes: int) -> None:
        self.cfg = cfg.alerts
        self.window = pd.Timedelta(minutes=window_minutes)

    def __call__(self, window_start: pd.Series, risk: pd.Series,
                 confidence: pd.Series) -> str:
        # Whatever unit Arrow hands over (pandas 2 keeps milliseconds), in whole windows.
        since_epoch = pd.to_datetime(window_start) - pd.Timestamp(0)
        windows = (since_epoch // self.window).tolist()
        return scoring.alert_transition(windows, _nan_list(risk), _nan_list(confidence),
                                        self.cfg)


def _nan_list(s: pd.Series) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
            for v in s.tolist()]


# --- row at a time (benchmark baseline) ------------------------------------------------------
class RiskRow(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg

    def eval(self, *values: float | None) -> Row:
        s = scoring.liquidation_risk(dict(zip(scoring.RISK_INPUTS, values, strict=True)),
                                     self.cfg)
        return Row(s.risk, s.side, s.long_risk, s.short_risk,
                   *(s.points[c] for c in COMPONENTS), s.confidence, s.present)


class PressureRow(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg.pressure

    def eval(self, inflow: float | None, outflow: float | None,
             baseline: float | None) -> float | None:
        return scoring.stablecoin_pressure(inflow, outflow, baseline, self.cfg)


class LevelRow(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg.alerts

    def eval(self, risk: float | None, confidence: float | None) -> str | None:
        return scoring.alert_level(risk, confidence, self.cfg)


def register(t_env: TableEnvironment, cfg: Scoring, vectorized: bool = True,
             window_minutes: int = 1) -> None:
    """Register the scoring UDFs under the names the SQL in sql/flink/ uses."""
    kind = "pandas" if vectorized else "general"
    risk, pressure, level = ((RiskFrame, PressureFrame, LevelFrame) if vectorized
                             else (RiskRow, PressureRow, LevelRow))
    fn = t_env.create_temporary_system_function
    fn("LIQUIDATION_RISK", udf(risk(cfg), input_types=[D] * len(scoring.RISK_INPUTS),
                               result_type=RISK_ROW, func_type=kind))
    fn("STABLECOIN_PRESSURE", udf(pressure(cfg), input_types=[D] * 3, result_type=D,
                                  func_type=kind))
    fn("ALERT_LEVEL", udf(level(cfg), input_types=[D] * 2, result_type=S, func_type=kind))
    # The alert state is always the pandas UDAF: it needs the window's rows at once.
    fn("ALERT_TRANSITION", udaf(AlertTransition(cfg, window_minutes), result_type=S,
                                input_types=[DataTypes.TIMESTAMP(3), D, D],
                                func_type="pandas"))

"""Thin PyFlink UDF wrappers around flink_jobs.scoring, called on window rows only.

Each wrapper holds the validated scoring config, so the TaskManager's Python workers
score with exactly the thresholds the job was submitted with.
"""

from __future__ import annotations

from pyflink.common import Row
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import ScalarFunction, udf

from flink_jobs import scoring
from flink_jobs.config import Scoring

RISK_ROW = DataTypes.ROW(
    [
        DataTypes.FIELD("risk", DataTypes.DOUBLE()),
        DataTypes.FIELD("funding_pts", DataTypes.DOUBLE()),
        DataTypes.FIELD("oi_buildup_pts", DataTypes.DOUBLE()),
        DataTypes.FIELD("imbalance_pts", DataTypes.DOUBLE()),
        DataTypes.FIELD("liquidation_pts", DataTypes.DOUBLE()),
        DataTypes.FIELD("confidence", DataTypes.DOUBLE()),
        DataTypes.FIELD("components", DataTypes.STRING()),
    ]
)


class LiquidationRisk(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg

    def eval(
        self,
        funding_8h: float | None,
        oi_change_pct: float | None,
        price_change_pct: float | None,
        long_share: float | None,
        liq_usd: float | None,
        oi_usd: float | None,
        liq_baseline_usd: float | None,
    ) -> Row:
        s = scoring.liquidation_risk(
            funding_8h=funding_8h,
            oi_change_pct=oi_change_pct,
            price_change_pct=price_change_pct,
            long_share=long_share,
            liq_usd=liq_usd,
            oi_usd=oi_usd,
            liq_baseline_usd=liq_baseline_usd,
            cfg=self.cfg,
        )
        return Row(
            risk=s.risk,
            funding_pts=s.funding,
            oi_buildup_pts=s.oi_buildup,
            imbalance_pts=s.imbalance,
            liquidation_pts=s.liquidations,
            confidence=s.confidence,
            components=s.present,
        )


class StablecoinPressure(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg.pressure

    def eval(self, inflow_usd: float, outflow_usd: float, baseline_usd: float) -> float | None:
        return scoring.stablecoin_pressure(inflow_usd, outflow_usd, baseline_usd, self.cfg)


class AlertLevel(ScalarFunction):
    def __init__(self, cfg: Scoring) -> None:
        self.cfg = cfg.alerts

    def eval(self, risk: float, pressure: float | None, confidence: float) -> str | None:
        return scoring.alert_level(risk, pressure, confidence, self.cfg)


def register(t_env: TableEnvironment, cfg: Scoring) -> None:
    """Register the scoring UDFs under the names the SQL in sql/flink/ uses."""
    d = DataTypes.DOUBLE()
    t_env.create_temporary_system_function(
        "LIQUIDATION_RISK", udf(LiquidationRisk(cfg), result_type=RISK_ROW)
    )
    t_env.create_temporary_system_function(
        "STABLECOIN_PRESSURE", udf(StablecoinPressure(cfg), input_types=[d, d, d], result_type=d)
    )
    t_env.create_temporary_system_function(
        "ALERT_LEVEL", udf(AlertLevel(cfg), input_types=[d, d, d], result_type=DataTypes.STRING())
    )

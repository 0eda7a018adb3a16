"""The PyFlink wrapper of the liquidation-level map (flink_jobs/liquidation_map.py): a pandas
UDAF over a bounded ROWS window of one asset's minute rows (sql/flink/55), never raw events.
It replays the window on every call, so a replay or a restart writes the same map."""

from __future__ import annotations

import pandas as pd
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import udaf

from flink_jobs import liquidation_map as lm


class LiquidationLevels:
    """LIQUIDATION_LEVELS(base, window_start, venues) OVER (...): the asset's map at the
    window's last minute, as 'side:bucket:price_low:price_high:notional;...'."""

    def __init__(self, cfg: lm.MapConfig) -> None:
        self.cfg = cfg

    def __call__(self, base: pd.Series, window_start: pd.Series, venues: pd.Series) -> str:
        if len(base) == 0:
            return ""
        since_epoch = pd.to_datetime(window_start) - pd.Timestamp(0)
        minutes = (since_epoch // pd.Timedelta(minutes=1)).tolist()
        return lm.levels_text(minutes, venues.tolist(), str(base.iloc[-1]), self.cfg)


def register(t_env: TableEnvironment, cfg: lm.MapConfig) -> None:
    """Register LIQUIDATION_LEVELS under the name sql/flink/55_liquidation_map.sql uses."""
    t_env.create_temporary_system_function(
        "LIQUIDATION_LEVELS",
        udaf(LiquidationLevels(cfg), result_type=DataTypes.STRING(),
             input_types=[DataTypes.STRING(), DataTypes.TIMESTAMP(3), DataTypes.STRING()],
             func_type="pandas"))


def sql_params(cfg: lm.MapConfig, window_minutes: int) -> dict[str, object]:
    """The map's ${...} parameters of sql/flink/."""
    rows = max(1, -(-cfg.window.horizon_minutes // window_minutes))
    return {"map_preceding": rows - 1}

"""Load and validate config/monitor.yaml: the job's timing (lcm.pipeline) and its scoring.

A bad value fails at start-up with the key, the file and the allowed range, never later
inside a running job.
"""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from lcm.pipeline import DEFAULT_MONITOR_CONFIG, Pipeline, monitor_config_path
from lcm.settings import Strict, load_yaml_model

DEFAULT_CONFIG = DEFAULT_MONITOR_CONFIG


class Funding(Strict):
    neutral_8h: float = Field(ge=0, le=0.01)
    extreme_8h: float = Field(gt=0, le=0.05)
    max_points: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Funding:
        if self.extreme_8h <= self.neutral_8h:
            raise ValueError("extreme_8h must be greater than neutral_8h")
        return self


class OiBuildup(Strict):
    start_pct: float = Field(ge=0, le=100)
    full_pct: float = Field(gt=0, le=100)
    price_flat_pct: float = Field(ge=0, le=100)
    price_moved_pct: float = Field(gt=0, le=100)
    moved_discount: float = Field(ge=0, le=1)
    max_points: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> OiBuildup:
        if self.full_pct <= self.start_pct:
            raise ValueError("full_pct must be greater than start_pct")
        if self.price_moved_pct <= self.price_flat_pct:
            raise ValueError("price_moved_pct must be greater than price_flat_pct")
        return self


class Imbalance(Strict):
    start_ratio: float = Field(ge=1, le=100)
    full_ratio: float = Field(gt=1, le=100)
    max_points: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Imbalance:
        if self.full_ratio <= self.start_ratio:
            raise ValueError("full_ratio must be greater than start_ratio")
        return self


class Liquidations(Strict):
    start_bp_of_oi: float = Field(ge=0, le=10000)
    full_bp_of_oi: float = Field(gt=0, le=10000)
    start_surge: float = Field(ge=1, le=1000)
    full_surge: float = Field(gt=1, le=1000)
    oi_drop_start_pct: float = Field(ge=0, le=100)
    oi_drop_full_pct: float = Field(gt=0, le=100)
    max_points: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Liquidations:
        if self.full_bp_of_oi <= self.start_bp_of_oi:
            raise ValueError("full_bp_of_oi must be greater than start_bp_of_oi")
        if self.full_surge <= self.start_surge:
            raise ValueError("full_surge must be greater than start_surge")
        if self.oi_drop_full_pct <= self.oi_drop_start_pct:
            raise ValueError("oi_drop_full_pct must be greater than oi_drop_start_pct")
        return self


class Pressure(Strict):
    min_baseline_usd: float = Field(gt=0)
    softness: float = Field(gt=0, le=100)


class Alerts(Strict):
    critical_risk: float = Field(ge=0, le=100)
    critical_pressure: float = Field(ge=-100, le=100)
    warning_risk: float = Field(ge=0, le=100)
    warning_pressure: float = Field(ge=-100, le=100)
    info_risk: float = Field(ge=0, le=100)
    min_confidence: float = Field(ge=0, le=1)
    risk_margin: float = Field(ge=0, le=50)
    pressure_margin: float = Field(ge=0, le=100)
    cooldown_minutes: int = Field(ge=0, le=1440)
    state_windows: int = Field(ge=1, le=1440)

    @model_validator(mode="after")
    def _ordered(self) -> Alerts:
        if not self.info_risk <= self.warning_risk <= self.critical_risk:
            raise ValueError("need info_risk <= warning_risk <= critical_risk")
        if self.state_windows <= self.cooldown_minutes:
            raise ValueError("state_windows must be greater than cooldown_minutes, so the "
                             "replayed state sees the whole cooldown")
        return self


class Scoring(Strict):
    funding: Funding
    oi_buildup: OiBuildup
    imbalance: Imbalance
    liquidations: Liquidations
    pressure: Pressure
    alerts: Alerts

    @model_validator(mode="after")
    def _points_sum_to_100(self) -> Scoring:
        total = (
            self.funding.max_points
            + self.oi_buildup.max_points
            + self.imbalance.max_points
            + self.liquidations.max_points
        )
        if abs(total - 100) > 1e-9:
            raise ValueError(f"the risk components' max_points must add up to 100, not {total:g}")
        return self


class MonitorConfig(Strict):
    pipeline: Pipeline
    scoring: Scoring


def load_config(path: str | os.PathLike[str] | None = None) -> MonitorConfig:
    """Read the YAML file (default: $LCM_CONFIG or config/monitor.yaml) and validate it."""
    return load_yaml_model(monitor_config_path(path), MonitorConfig)

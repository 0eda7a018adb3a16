"""Load and validate config/monitor.yaml: the job's timing (lcm.pipeline) and its scoring.

A bad value fails at start-up with the key, the file and the allowed range, never later
inside a running job.
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import Field, model_validator

from lcm.pipeline import DEFAULT_MONITOR_CONFIG, Pipeline, monitor_config_path
from lcm.settings import Strict, load_yaml_model, ordered

DEFAULT_CONFIG = DEFAULT_MONITOR_CONFIG

# The components of a side's score, in the order of the UDF's outputs. Each is an input
# judged against the asset's own trailing history (docs/scoring.md).
COMPONENTS = ("liquidations", "liquidations_recent", "price_move", "oi_buildup", "funding",
              "imbalance", "top_imbalance", "pressure")


class Component(Strict):
    """One component's weight in the side's combined score (a z-score times its weight)."""

    weight: float = Field(ge=-10, le=10)


class Components(Strict):
    liquidations: Component
    liquidations_recent: Component
    price_move: Component
    oi_buildup: Component
    funding: Component
    imbalance: Component
    top_imbalance: Component
    pressure: Component

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        if not any(getattr(self, name).weight for name in COMPONENTS):
            raise ValueError("at least one component needs a non-zero weight")
        return self

    def weights(self) -> dict[str, float]:
        return {name: getattr(self, name).weight for name in COMPONENTS}


class History(Strict):
    """How each input is judged against the asset's own trailing history."""

    min_windows: int = Field(ge=2, le=100_000)   # warm-up: fewer past values = not judged
    z_clip: float = Field(gt=0, le=20)           # |z| beyond this counts as this
    min_sd: float = Field(gt=0, le=10)           # floor of the history's spread (input units)


class Pressure(Strict):
    min_baseline_usd: float = Field(gt=0)
    softness: float = Field(gt=0, le=100)


class Alerts(Strict):
    info_risk: float = Field(ge=0, le=100)
    warning_risk: float = Field(ge=0, le=100)
    critical_risk: float = Field(ge=0, le=100)
    min_confidence: float = Field(ge=0, le=1)
    risk_margin: float = Field(ge=0, le=50)
    cooldown_windows: int = Field(ge=0, le=1440)
    state_windows: int = Field(ge=1, le=1440)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        ordered(self, ("info_risk", "warning_risk", "critical_risk"), strict=False)
        if self.state_windows <= self.cooldown_windows:
            raise ValueError("state_windows must be greater than cooldown_windows, so the "
                             "replayed state sees the whole cooldown")
        return self


class Scoring(Strict):
    history: History
    components: Components
    # risk = 100 x Phi(S / risk_spread): S of several aligned components reaches 5 to 9,
    # which Phi(S) would squeeze into 99.99..100 (ties at the top, the saturation this
    # replaced); dividing by the spread keeps the top of the scale ordered.
    risk_spread: float = Field(gt=0, le=10)
    pressure: Pressure
    alerts: Alerts


class MonitorConfig(Strict):
    pipeline: Pipeline
    scoring: Scoring

    @model_validator(mode="after")
    def _warm_up_within_history(self) -> Self:
        if self.scoring.history.min_windows >= self.pipeline.history_windows:
            raise ValueError(
                f"scoring.history.min_windows ({self.scoring.history.min_windows}) must be "
                f"less than pipeline.history_windows ({self.pipeline.history_windows})")
        return self


def load_config(path: str | os.PathLike[str] | None = None) -> MonitorConfig:
    """Read the YAML file (default: $LCM_CONFIG or config/monitor.yaml) and validate it."""
    return load_yaml_model(monitor_config_path(path), MonitorConfig)

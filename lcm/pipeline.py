"""The job's timing, from the `pipeline:` section of config/monitor.yaml: window length,
watermark delay, idleness, lookbacks and how long periodic inputs are carried forward.

Producers obey it too (a replay's last heartbeat must close the final window), and the
harnesses need the job's consumer group, so it lives in the kernel; the scoring section
of the same file belongs to the job (flink_jobs/config.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from lcm.paths import CONFIG_DIR
from lcm.settings import Strict, load_yaml_model

DEFAULT_MONITOR_CONFIG = CONFIG_DIR / "monitor.yaml"
# The shipped config with a history short enough for the 15-minute recorded sample (make
# demo, the end-to-end test and the dashboard fixture replay it).
SAMPLE_MONITOR_CONFIG = CONFIG_DIR / "monitor-sample.yaml"


def monitor_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The monitor config to use: `path`, else $LCM_CONFIG, else config/monitor.yaml."""
    return Path(path or os.environ.get("LCM_CONFIG") or DEFAULT_MONITOR_CONFIG)


class MaxInputAge(Strict):
    """How long a periodic input may be carried forward (seconds since its last event,
    measured at the window end). Beyond this it is missing, never a stale value."""

    price: int = Field(ge=0, le=604800)
    funding: int = Field(ge=0, le=604800)
    open_interest: int = Field(ge=0, le=604800)
    long_short: int = Field(ge=0, le=604800)


class Pipeline(Strict):
    # One minute to one day: live minute scores and backtests of hourly or daily history
    # run the same SQL with the same config, only this number differs.
    window_minutes: int = Field(1, ge=1, le=1440)
    watermark_delay_s: int = Field(5, ge=0, le=600)
    # 0 = a data partition never counts as idle: producers send heartbeats to every data
    # partition, so a quiet one still moves, and after a Kafka outage no partition is
    # skipped while it still holds unread records (docs/operations.md).
    idle_timeout_s: int = Field(0, ge=0, le=3600)
    oi_lookback_windows: int = Field(15, ge=1, le=1440)
    baseline_windows: int = Field(60, ge=2, le=10080)
    # Liquidations "recently": the side's liquidations summed over the last this many windows.
    recent_windows: int = Field(5, ge=1, le=1440)
    # Each input is judged against the asset's own values over the last this many windows.
    history_windows: int = Field(1440, ge=10, le=100_000)
    startup_mode: Literal["earliest-offset", "latest-offset", "group-offsets"] = "earliest-offset"
    consumer_group: str = Field("lcm-monitor", min_length=1)
    max_input_age_s: MaxInputAge
    # How long the JDBC sinks wait for an unreachable PostgreSQL before the job fails and
    # restarts (flink_jobs/java PatientPostgresDriver). Below Flink's task cancellation
    # timeout (180 s), so a cancelled job never hangs in the wait.
    db_outage_wait_s: int = Field(120, ge=0, le=150)

    @model_validator(mode="after")
    def _carry_within_lookback(self) -> Pipeline:
        # Inputs are carried forward inside the open-interest lookback window (one OVER
        # window in sql/flink/41), so a longer carry could not be honoured.
        limit = self.oi_lookback_windows * self.window_minutes * 60
        for name, age in self.max_input_age_s.model_dump().items():
            if age > limit:
                raise ValueError(
                    f"max_input_age_s.{name} = {age} must be at most oi_lookback_windows x "
                    f"window_minutes x 60 = {limit} s")
        return self

    @property
    def close_after_ms(self) -> int:
        """How far past the last event a heartbeat must be to close the final window:
        one window plus the watermark delay, plus a second."""
        return (self.window_minutes * 60 + self.watermark_delay_s + 1) * 1000


def load_pipeline(path: str | os.PathLike[str] | None = None) -> Pipeline:
    """The `pipeline:` section of the monitor config, validated."""
    return load_yaml_model(monitor_config_path(path), Pipeline, section="pipeline")

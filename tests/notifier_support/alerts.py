"""Alerts in the shape of the `alerts` topic contract, and notifier configs for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from notifier.config import NotifierConfig, load_config

GRAFANA = "http://localhost:3000"
# Fast retries for tests: the waits are real, so they are kept short.
FAST_RETRY = {"max_attempts": 4, "initial_backoff_s": 0.05, "max_backoff_s": 0.2,
              "jitter_s": 0.01, "max_total_s": 30, "timeout_s": 5}


def alert(level: str = "WARNING", previous: str | None = "INFO", base: str = "BTC",
          minute: int = 9, **overrides: Any) -> dict[str, Any]:
    """The contract's example alert (docs/contract.md, alerts topic), with its level changed."""
    value = {
        "alert_id": f"{base}:2026-11-20T14:{minute:02d}:00Z:{level}", "base": base,
        "level": level, "previous_level": previous, "side": "long", "risk": 57.3,
        "long_risk": 57.3, "short_risk": 12.0, "funding_pts": 20.1, "oi_buildup_pts": 15.0,
        "imbalance_pts": 9.2, "liquidation_pts": 13.0, "pressure": -12.5, "confidence": 1.0,
        "components": "funding,oi_buildup,imbalance,liquidations",
        "window_start": f"2026-11-20 14:{minute:02d}:00",
        "window_end": f"2026-11-20 14:{minute + 1:02d}:00",
    }
    value.update(overrides)
    return value


def config_dict(channels: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"grafana_url": GRAFANA, "retry": FAST_RETRY, "channels": channels, **top}


def make_config(channels: list[dict[str, Any]], tmp_path: Path, **top: Any) -> NotifierConfig:
    """Written to a file and loaded the way the service loads it."""
    path = tmp_path / "notifier.yaml"
    path.write_text(yaml.safe_dump(config_dict(channels, **top)), encoding="utf-8")
    return load_config(path)

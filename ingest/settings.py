"""config/ingest.yaml: every ingest setting, validated at start-up.

A bad value stops the process with the file, the key and what is allowed
("config/ingest.yaml: sources.bybit.budget.requests: Input should be greater than 0").
API keys are never in the file: a source names the environment variable that holds it.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from lcm.paths import CONFIG_DIR
from lcm.settings import ConfigError, environment, load_yaml_model, validation_problems

DEFAULT_INGEST_CONFIG = CONFIG_DIR / "ingest.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SourceOptions(Strict):
    """Base of each source module's `Options` (unknown keys are errors)."""


class Budget(Strict):
    """At most `requests` per `per_seconds` (set below the venue's published limit)."""

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class SourceSettings(Strict):
    enabled: bool = True
    rest_url: str | None = None
    ws_url: str | None = None
    budget: Budget | None = None
    poll_seconds: float = Field(default=60.0, gt=0, le=86_400)
    symbols: list[str] = Field(default_factory=list)  # empty = every perpetual
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    options: dict[str, Any] = Field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key from the environment or .env (never from this file, never logged)."""
        return environment().get(self.api_key_env) or None if self.api_key_env else None


class SpoolSettings(Strict):
    dir: Path = Path(".state/ingest/spool")
    segment_bytes: int = Field(default=16 * 1024 * 1024, ge=4096)
    max_bytes: int = Field(default=4 * 1024**3, ge=1024 * 1024)  # disk cap: then publish blocks
    in_flight: int = Field(default=20_000, ge=1, le=1_000_000)  # handed to librdkafka at once
    fsync_ms: int = Field(default=200, ge=0, le=60_000)  # 0 = fsync every append


class RecordSettings(Strict):
    rotate_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)  # uncompressed bytes per file
    rotate_seconds: float = Field(default=3600, gt=0)
    compress_level: int = Field(default=6, ge=1, le=9)


class HealthSettings(Strict):
    report_seconds: float = Field(default=5, gt=0, le=300)  # ingest_health records
    heartbeat_seconds: float = Field(default=1, gt=0, le=60)  # job-clock heartbeats
    heartbeat_lag_ms: int = Field(default=2000, ge=0, le=600_000)  # clock = now - lag
    stale_after_seconds: float = Field(default=120, gt=0)  # no event since: degraded
    down_after_seconds: float = Field(default=600, gt=0)  # no event since: down
    prometheus_port: int | None = Field(default=None, ge=1024, le=65535)
    # Address the metrics listen on: loopback natively; 0.0.0.0 inside a container, so the
    # compose network or a Kubernetes pod's scraper reaches it (the port is not published).
    prometheus_bind: IPvAnyAddress = Field(default=IPv4Address("127.0.0.1"))

    @classmethod
    def env_overrides(cls, env: dict[str, str]) -> dict[str, Any]:
        """LCM_METRICS_PORT / LCM_METRICS_BIND from the environment (containers) win over
        the file's prometheus_port / prometheus_bind."""
        out: dict[str, Any] = {}
        if env.get("LCM_METRICS_PORT"):
            out["prometheus_port"] = env["LCM_METRICS_PORT"]
        if env.get("LCM_METRICS_BIND"):
            out["prometheus_bind"] = env["LCM_METRICS_BIND"]
        return out


class IngestSettings(Strict):
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    spool: SpoolSettings = SpoolSettings()
    record: RecordSettings = RecordSettings()
    health: HealthSettings = HealthSettings()
    _path: Path = PrivateAttr(default=DEFAULT_INGEST_CONFIG)

    @field_validator("sources", mode="before")
    @classmethod
    def _no_sources_yet(cls, value: Any) -> Any:
        return {} if value is None else value  # `sources:` with every section commented out

    @property
    def path(self) -> Path:
        """The file these settings came from (for error messages)."""
        return self._path


def load_settings(path: str | os.PathLike[str] | None = None) -> IngestSettings:
    """Read and validate the file (default: $LCM_INGEST_CONFIG or config/ingest.yaml)."""
    path = Path(path or os.environ.get("LCM_INGEST_CONFIG") or DEFAULT_INGEST_CONFIG)
    settings = load_yaml_model(path, IngestSettings, empty_ok=True)
    overrides = HealthSettings.env_overrides(environment())
    if overrides:
        try:
            health = HealthSettings.model_validate(
                {**settings.health.model_dump(), **overrides})
        except ValidationError as exc:
            raise ConfigError(validation_problems(
                exc, Path("LCM_METRICS_PORT/LCM_METRICS_BIND (environment)"), "health.")
            ) from None
        settings = settings.model_copy(update={"health": health})
    settings._path = path
    return settings


def validate_options(model: type[BaseModel] | None, source: str, settings: SourceSettings,
                     path: Path | None = None) -> BaseModel | None:
    """The source module's Options from its `options:` mapping, errors naming the key."""
    if model is None:
        if settings.options:
            raise ConfigError(f"{path or DEFAULT_INGEST_CONFIG}: sources.{source}.options: "
                              f"this source takes no options (got {sorted(settings.options)})")
        return None
    try:
        return model.model_validate(settings.options)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, path or DEFAULT_INGEST_CONFIG,
                                              f"sources.{source}.options.")) from None

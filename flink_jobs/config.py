"""Load and validate config/monitor.yaml and the connection settings from the environment.

A bad value fails at start-up with the key, the file and the allowed range, never later
inside a running job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_DIR / "config" / "monitor.yaml"


class ConfigError(ValueError):
    """Raised with a message that names the file, the key and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MaxInputAge(_Strict):
    """How long a periodic input may be carried forward (seconds since its last event,
    measured at the window end). Beyond this it is missing, never a stale value."""

    price: int = Field(ge=0, le=86400)
    funding: int = Field(ge=0, le=86400)
    open_interest: int = Field(ge=0, le=86400)
    long_short: int = Field(ge=0, le=86400)


class Pipeline(_Strict):
    window_minutes: int = Field(1, ge=1, le=60)
    watermark_delay_s: int = Field(5, ge=0, le=600)
    idle_timeout_s: int = Field(10, ge=1, le=3600)
    oi_lookback_windows: int = Field(15, ge=1, le=1440)
    baseline_windows: int = Field(60, ge=2, le=10080)
    startup_mode: Literal["earliest-offset", "latest-offset", "group-offsets"] = "earliest-offset"
    consumer_group: str = Field("lcm-monitor", min_length=1)
    max_input_age_s: MaxInputAge

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


class Funding(_Strict):
    neutral_8h: float = Field(ge=0, le=0.01)
    extreme_8h: float = Field(gt=0, le=0.05)
    max_points: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Funding:
        if self.extreme_8h <= self.neutral_8h:
            raise ValueError("extreme_8h must be greater than neutral_8h")
        return self


class OiBuildup(_Strict):
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


class Imbalance(_Strict):
    start_ratio: float = Field(ge=1, le=100)
    full_ratio: float = Field(gt=1, le=100)
    max_points: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Imbalance:
        if self.full_ratio <= self.start_ratio:
            raise ValueError("full_ratio must be greater than start_ratio")
        return self


class Liquidations(_Strict):
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


class Pressure(_Strict):
    min_baseline_usd: float = Field(gt=0)
    softness: float = Field(gt=0, le=100)


class Alerts(_Strict):
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


class Scoring(_Strict):
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


class MonitorConfig(_Strict):
    pipeline: Pipeline
    scoring: Scoring


Model = TypeVar("Model", bound=BaseModel)


def validation_problems(exc: ValidationError, path: Path, prefix: str = "",
                        what: str = "config") -> str:
    """One line per problem: the file, the dotted key, what is allowed, what was found."""
    lines = []
    for err in exc.errors():
        key = prefix + ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = repr(err.get("input"))
        got = got if len(got) <= 120 else got[:117] + "..."
        lines.append(f"{path}: {key}: {err['msg']} (got {got})")
    return f"invalid {what}:\n  " + "\n  ".join(lines)


def load_yaml_model(path: Path, model: type[Model], what: str = "config",
                    empty_ok: bool = False) -> Model:
    """Read a YAML file and validate it into `model`; every failure is a ConfigError that
    names the file (and the key, for a value out of range). An empty file is an empty
    mapping only where every setting has a default (empty_ok)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if raw is None and empty_ok:
            raw = {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, path, what=what)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> MonitorConfig:
    """Read the YAML file (default: $LCM_CONFIG or config/monitor.yaml) and validate it."""
    return load_yaml_model(Path(path or os.environ.get("LCM_CONFIG") or DEFAULT_CONFIG),
                           MonitorConfig)


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment (or `env`) over the repository's git-ignored .env: where
    ports, passwords, API keys and notifier tokens come from. The environment wins."""
    env = dict(os.environ if env is None else env)
    env_file = REPO_DIR / ".env"
    if env_file.exists():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                env.setdefault(key.strip(), value.strip().strip("'\""))
    return env


class Connections(BaseModel):
    """Where the services are. Read from the environment (make setup writes .env)."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_db: str = "lcm"
    writer_user: str = "lcm_writer"
    writer_password: str = ""
    reader_user: str = "lcm_reader"
    reader_password: str = ""
    flink_rest: str = "http://127.0.0.1:8081"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Connections:
        env = environment(env)
        kafka_port = env.get("KAFKA_PORT", "9092")
        if not env.get("PGPORT", "5432").isdigit():
            raise ConfigError(f"PGPORT must be a port number, got {env['PGPORT']!r}")
        return cls(
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP", f"127.0.0.1:{kafka_port}"),
            pg_host=env.get("PGHOST", "127.0.0.1"),
            pg_port=int(env.get("PGPORT", "5432")),
            pg_db=env.get("LCM_DB", "lcm"),
            writer_user=env.get("LCM_WRITER_USER", "lcm_writer"),
            writer_password=env.get("LCM_WRITER_PASSWORD", ""),
            reader_user=env.get("LCM_READER_USER", "lcm_reader"),
            reader_password=env.get("LCM_READER_PASSWORD", ""),
            flink_rest=f"http://127.0.0.1:{env.get('FLINK_REST_PORT', '8081')}",
        )

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.pg_host}:{self.pg_port}/{self.pg_db}"

    def dsn(self, role: Literal["writer", "reader"] = "writer") -> str:
        user, password = (
            (self.writer_user, self.writer_password)
            if role == "writer"
            else (self.reader_user, self.reader_password)
        )
        if not password:
            raise ConfigError(
                f"no password for the {role} role: set LCM_{role.upper()}_PASSWORD "
                "(make setup generates it into .env)"
            )
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_db} "
            f"user={user} password={password}"
        )

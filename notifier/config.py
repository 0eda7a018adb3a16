"""Load and validate config/notifier.yaml. A bad value fails at start-up naming the file,
the key and what is allowed; secrets are never in the file, only the names of the
environment variables that hold them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lcm import links
from lcm.paths import CONFIG_DIR
from lcm.settings import load_yaml_model

DEFAULT_CONFIG = CONFIG_DIR / "notifier.yaml"
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RetryPolicy(_Strict):
    """Bounded retries: exponential backoff with jitter, or the wait the server asked for
    (429 Retry-After, Discord/Telegram retry_after). A channel gives up on an alert after
    max_attempts or when the next wait would pass max_total_s, whichever comes first."""

    max_attempts: int = Field(8, ge=1, le=100)
    initial_backoff_s: float = Field(1.0, gt=0, le=600)
    max_backoff_s: float = Field(60.0, gt=0, le=3600)
    jitter_s: float = Field(1.0, ge=0, le=600)
    max_total_s: float = Field(300.0, gt=0, le=86400)
    timeout_s: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _ordered(self) -> RetryPolicy:
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("max_backoff_s must be at least initial_backoff_s")
        return self


class ChannelBase(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    enabled: bool = True
    # The lowest level sent. "Back to normal" (NONE, or a drop below min_level after an
    # alert this channel did get) is sent only with send_recovery.
    min_level: Literal["INFO", "WARNING", "CRITICAL"] = "WARNING"
    send_recovery: bool = True
    retry: RetryPolicy | None = None  # None: the top-level retry policy


class WebhookChannel(ChannelBase):
    type: Literal["webhook"]
    url_env: EnvName


class TelegramChannel(ChannelBase):
    type: Literal["telegram"]
    token_env: EnvName
    chat_id_env: EnvName
    # Tests point this at a local server; a self-hosted Bot API server works the same way.
    api_base: str = Field("https://api.telegram.org", pattern=r"^https?://[^/\s]+(/\S*)?$")


class DiscordChannel(ChannelBase):
    type: Literal["discord"]
    url_env: EnvName
    style: Literal["content", "embed"] = "embed"
    username: str | None = Field(None, min_length=1, max_length=80)


class SlackChannel(ChannelBase):
    type: Literal["slack"]
    url_env: EnvName
    style: Literal["text", "blocks"] = "blocks"


Channel = Annotated[
    WebhookChannel | TelegramChannel | DiscordChannel | SlackChannel, Field(discriminator="type")
]


class Consumer(_Strict):
    group: str = Field("lcm-notifier", min_length=1, max_length=200)  # after the topic prefix
    # Where a group with no committed offset starts: "latest" keeps a first start from
    # replaying every alert the topic still holds.
    auto_offset_reset: Literal["earliest", "latest"] = "latest"
    poll_timeout_s: float = Field(1.0, gt=0, le=60)
    # How soon a crashed notifier's partition goes to a new one (the broker allows 6..1800 s
    # by default). Heartbeats run on librdkafka's own thread, so long retries do not count.
    session_timeout_s: int = Field(10, ge=6, le=1800)


class NotifierConfig(_Strict):
    consumer: Consumer = Consumer()
    state_dir: Path = Path(".state/notifier")
    ledger_retention_days: int = Field(14, ge=1, le=3650)
    # Where Grafana is; each message links to the asset drill-down around the alert's
    # window. None: LCM_GRAFANA_URL from the environment or .env, else 127.0.0.1 (lcm.links).
    grafana_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    channels: list[Channel] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "dashboard_url" in data:
            raise ValueError("dashboard_url was replaced by grafana_url: the Grafana address "
                             "only, e.g. http://127.0.0.1:3000 (links go to the asset "
                             "drill-down at the alert's window)")
        return data

    @field_validator("grafana_url")
    @classmethod
    def _grafana_url(cls, value: str | None) -> str | None:
        return None if value is None else links.check_grafana_url(value)

    def drill_down_base(self) -> str:
        """The Grafana address the links use: this config's, else the environment's."""
        return self.grafana_url or links.grafana_url()

    @model_validator(mode="after")
    def _unique_names(self) -> NotifierConfig:
        names = [c.name for c in self.channels]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"channel names must be unique, repeated: {dupes}")
        return self

    def policy(self, channel: ChannelBase) -> RetryPolicy:
        return channel.retry or self.retry

    @property
    def enabled_channels(self) -> list[ChannelBase]:
        return [c for c in self.channels if c.enabled]


def load_config(path: str | os.PathLike[str] | None = None) -> NotifierConfig:
    """Read the YAML file (default: $LCM_NOTIFIER_CONFIG or config/notifier.yaml), validate it."""
    path = Path(path or os.environ.get("LCM_NOTIFIER_CONFIG") or DEFAULT_CONFIG)
    return load_yaml_model(path, NotifierConfig, "notifier config")

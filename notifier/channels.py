"""The four channel types: how an alert becomes an HTTP request, and how each API's answer
is read (delivered, worth retrying after some wait, or failed for good).

API references (request and response shapes, rate-limit answers):
- Telegram: https://core.telegram.org/bots/api#making-requests and #sendmessage
- Discord: https://discord.com/developers/docs/resources/webhook#execute-webhook and
  https://discord.com/developers/docs/topics/rate-limits
- Slack: https://api.slack.com/messaging/webhooks (errors: #handling_errors) and
  https://api.slack.com/apis/rate-limits
"""

from __future__ import annotations

import email.utils
import math
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from lcm.settings import ConfigError, environment
from notifier.alert import LEVEL_RANK, Alert
from notifier.config import (
    ChannelBase,
    DiscordChannel,
    NotifierConfig,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from notifier.message import COLOURS, Message
from notifier.redact import Redactor

USER_AGENT = "lcm-notifier/0.1"
# Statuses worth another try: timeout, too early, rate limited, and server-side trouble.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Retryable(Exception):
    """The attempt failed but may work later; retry_after is the server's own wait (s)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(Exception):
    """Retrying the same request cannot help (bad URL, revoked token, unknown chat...)."""


@dataclass(frozen=True)
class Outbound:
    url: str
    json: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Sender:
    """One configured channel with its secrets resolved."""

    def __init__(self, config: ChannelBase, secrets: Mapping[str, str]) -> None:
        self.config = config
        self.secrets = dict(secrets)

    @property
    def name(self) -> str:
        return self.config.name

    def wants(self, alert: Alert) -> tuple[bool, bool]:
        """(send it, as a recovery). A level at or above min_level is sent. A drop below
        it (NONE or a lower level) is a recovery, sent with send_recovery when the level
        before was one this channel was sent."""
        floor = LEVEL_RANK[self.config.min_level]
        if alert.level != "NONE" and alert.rank >= floor:
            return True, False
        was = alert.previous_level
        if self.config.send_recovery and was is not None and LEVEL_RANK[was] >= floor:
            return True, True
        return False, False

    def request(self, alert: Alert, message: Message) -> Outbound:
        raise NotImplementedError

    def body_retry_after(self, body: Any) -> float | None:
        """A wait the API puts in its JSON body (Discord, Telegram); None elsewhere."""
        return None

    def check(self, response: httpx.Response) -> None:
        """Return if delivered; raise Retryable or Permanent otherwise."""
        status = response.status_code
        if 200 <= status < 300:
            self.check_success(response)
            return
        reason = f"HTTP {status}: {response.text[:200].strip()}"
        if status in RETRY_STATUSES:
            hints = [parse_retry_after(response.headers.get("Retry-After")),
                     self.body_retry_after(_json_or_none(response))]
            known = [h for h in hints if h is not None]
            raise Retryable(reason, max(known) if known else None)
        raise Permanent(reason)

    def check_success(self, response: httpx.Response) -> None:
        """Some APIs answer 2xx and still say no; the default accepts any 2xx."""


def header_safe_id(alert_id: str) -> str:
    """alert_id as an HTTP header value: unchanged when it is plain ASCII (the job's ids
    are: BTC:2026-11-20T14:09:00Z:WARNING), else percent-encoded as UTF-8 (a venue's
    non-ASCII ticker), which keeps different ids different."""
    return urllib.parse.quote(alert_id, safe=":@!$&'()*+,;=/?")


class WebhookSender(Sender):
    """Any HTTP endpoint: the alert as the contract has it, plus the rendered text.
    Idempotency-Key = alert_id (header_safe_id) lets the receiver drop a repeat (see
    docs/notifier.md)."""

    def request(self, alert: Alert, message: Message) -> Outbound:
        return Outbound(
            url=self.secrets["url"],
            json={"alert": alert.model_dump(mode="json"), "text": message.text,
                  "title": message.title, "dashboard_url": message.link,
                  "channel": self.name},
            headers={"Idempotency-Key": header_safe_id(alert.alert_id)},
        )


class TelegramSender(Sender):
    def request(self, alert: Alert, message: Message) -> Outbound:
        assert isinstance(self.config, TelegramChannel)
        base = self.config.api_base.rstrip("/")
        return Outbound(
            url=f"{base}/bot{self.secrets['token']}/sendMessage",
            json={
                "chat_id": self.secrets["chat_id"],
                "text": message.text,
                "link_preview_options": {"is_disabled": True},
                # INFO and recoveries arrive silently; WARNING and CRITICAL ring.
                "disable_notification": message.level in ("INFO", "NONE"),
            },
        )

    def body_retry_after(self, body: Any) -> float | None:
        params = body.get("parameters") if isinstance(body, dict) else None
        wait = params.get("retry_after") if isinstance(params, dict) else None
        return float(wait) if isinstance(wait, int | float) else None

    def check_success(self, response: httpx.Response) -> None:
        body = _json_or_none(response)
        if not (isinstance(body, dict) and body.get("ok") is True):
            raise Permanent(f"HTTP {response.status_code} without ok=true: "
                            f"{response.text[:200].strip()}")


class DiscordSender(Sender):
    def request(self, alert: Alert, message: Message) -> Outbound:
        assert isinstance(self.config, DiscordChannel)
        payload: dict[str, Any] = {"allowed_mentions": {"parse": []}}  # never ping anyone
        if self.config.username:
            payload["username"] = self.config.username
        if self.config.style == "embed":
            payload["embeds"] = [{
                "title": message.title,
                "description": "\n".join(message.lines),
                "url": message.link,
                "color": COLOURS[message.level],
                "timestamp": alert.window_end.isoformat().replace("+00:00", "Z"),
            }]
        else:
            payload["content"] = message.text
        # wait=true: Discord answers once the message exists (200 + message), a real confirmation.
        return Outbound(url=self.secrets["url"], json=payload, params={"wait": "true"})

    def body_retry_after(self, body: Any) -> float | None:
        wait = body.get("retry_after") if isinstance(body, dict) else None
        return float(wait) if isinstance(wait, int | float) else None


def _slack_escape(text: str) -> str:
    # The three characters Slack's mrkdwn needs escaped: no <!channel>, <@U..> or
    # <url|label> written by a value can reach the channel as markup.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str) -> str:
    """A URL inside Slack's <url|label>: the characters that would end it encoded."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")


class SlackSender(Sender):
    def request(self, alert: Alert, message: Message) -> Outbound:
        assert isinstance(self.config, SlackChannel)
        # text is also the notification's fallback, parsed as mrkdwn: escaped too (the
        # link, our own URL, only where it could end the link)
        text = "\n".join([*map(_slack_escape, (message.title, *message.lines)),
                          _slack_link(message.link)])
        payload: dict[str, Any] = {"text": text}
        if self.config.style == "blocks":
            body = "\n".join(_slack_escape(line) for line in message.lines)
            payload["blocks"] = [
                {"type": "section",
                 "text": {"type": "mrkdwn",
                          "text": f"*{_slack_escape(message.title)}*\n{body}"}},
                {"type": "context",
                 "elements": [{"type": "mrkdwn",
                               "text": f"<{_slack_link(message.link)}|Open dashboard>"}]},
            ]
        return Outbound(url=self.secrets["url"], json=payload)


SENDERS: dict[type[ChannelBase], type[Sender]] = {
    WebhookChannel: WebhookSender,
    TelegramChannel: TelegramSender,
    DiscordChannel: DiscordSender,
    SlackChannel: SlackSender,
}


def _secret_names(channel: ChannelBase) -> dict[str, str]:
    """secret role -> environment variable name, as configured."""
    if isinstance(channel, TelegramChannel):
        return {"token": channel.token_env, "chat_id": channel.chat_id_env}
    return {"url": channel.url_env}  # type: ignore[attr-defined]


def build_senders(config: NotifierConfig, redactor: Redactor, source: str,
                  env: Mapping[str, str] | None = None) -> list[Sender]:
    """The enabled channels with their secrets from the environment. A missing or malformed
    secret is named by its variable, never shown."""
    env = environment() if env is None else env
    senders, problems = [], []
    for index, channel in enumerate(config.channels):
        if not channel.enabled:
            continue
        secrets = {}
        for role, var in _secret_names(channel).items():
            value = env.get(var, "").strip()
            where = f"{source}: channels.{index} ({channel.name})"
            if not value:
                problems.append(f"{where}: environment variable {var} is not set")
                continue
            if role == "url":
                parts = urllib.parse.urlsplit(value)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    problems.append(f"{where}: {var} is not an http(s) URL")
                    continue
            if role != "chat_id":  # a chat id alone grants nothing; masking "42" would
                redactor.add(value)  # garble every log line with that number in it
            secrets[role] = value
        senders.append(SENDERS[type(channel)](channel, secrets))
    if problems:
        raise ConfigError("notifier channels cannot start:\n  " + "\n  ".join(problems))
    if not senders:
        raise ConfigError(f"{source}: no channel is enabled (set enabled: true on at least one)")
    return senders

"""Who gets what (minimum level, recoveries), retries (5xx, 429 and the APIs' own retry
hints), a channel that keeps failing, secrets kept out of logs, and a restart that must
not send anything twice. Real HTTP to local servers; no Kafka here (see
test_notifier_kafka.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from harness import recorded
from harness.local_servers import HttpServer, Reply
from notifier.alert import Alert
from notifier.channels import Sender, build_senders, parse_retry_after
from notifier.config import NotifierConfig
from notifier.ledger import Ledger
from notifier.redact import MASK, RedactingFilter, Redactor
from notifier.service import Dispatcher
from tests.notifier_support.alerts import FAST_RETRY, alert, make_config

TELEGRAM = recorded.load("notifier", "telegram_sendMessage.json", exact=False)
DISCORD = recorded.load("notifier", "discord_execute_webhook.json", exact=False)
SLACK = recorded.load("notifier", "slack_incoming_webhook.json", exact=False)
OK = Reply(200, {"received": True})


def webhook(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url_env": f"URL_{name.upper()}", **extra}


def dispatcher(config: NotifierConfig, env: dict[str, str], ledger_path: Path,
               redactor: Redactor | None = None) -> Dispatcher:
    redactor = redactor or Redactor()
    return Dispatcher(config, build_senders(config, redactor, "test", env),
                      Ledger(ledger_path), redactor)


def handle(d: Dispatcher, value: dict[str, Any]) -> dict[str, Any]:
    return d.handle(Alert.model_validate(value))


# ---------------------------------------------------------------- who gets what

LEVELS = ["INFO", "WARNING", "CRITICAL"]


@pytest.mark.parametrize(
    ("min_level", "recovery", "level", "previous", "expected"),
    [
        # at or above the floor: sent; below: not
        ("INFO", False, "INFO", None, (True, False)),
        ("WARNING", False, "INFO", None, (False, False)),
        ("WARNING", False, "WARNING", "INFO", (True, False)),
        ("WARNING", False, "CRITICAL", "WARNING", (True, False)),
        ("CRITICAL", False, "WARNING", "INFO", (False, False)),
        ("CRITICAL", False, "CRITICAL", None, (True, False)),
        # back to normal: only with send_recovery, and only after a level the channel got
        ("INFO", True, "NONE", "INFO", (True, True)),
        ("INFO", False, "NONE", "INFO", (False, False)),
        ("WARNING", True, "NONE", "INFO", (False, False)),
        ("WARNING", True, "NONE", "CRITICAL", (True, True)),
        ("WARNING", True, "NONE", None, (False, False)),
        # a drop below the floor is that channel's recovery
        ("WARNING", True, "INFO", "CRITICAL", (True, True)),
        ("CRITICAL", True, "WARNING", "CRITICAL", (True, True)),
        ("CRITICAL", False, "WARNING", "CRITICAL", (False, False)),
        ("WARNING", True, "WARNING", "CRITICAL", (True, False)),  # still at the floor
    ],
)
def test_min_level_and_recovery(tmp_path, min_level, recovery, level, previous, expected):
    config = make_config([webhook("a", min_level=min_level, send_recovery=recovery)], tmp_path)
    (sender,) = build_senders(config, Redactor(), "test", {"URL_A": "http://127.0.0.1:9/x"})
    assert isinstance(sender, Sender)
    assert sender.wants(Alert.model_validate(alert(level, previous))) == expected


def test_a_day_of_alerts_per_channel_floor(tmp_path):
    """One asset's level changes through a day; each channel gets its share, once."""
    day = [("INFO", None), ("WARNING", "INFO"), ("CRITICAL", "WARNING"), ("WARNING", "CRITICAL"),
           ("INFO", "WARNING"), ("NONE", "INFO")]
    with (HttpServer(default=OK) as all_, HttpServer(default=OK) as warn,
          HttpServer(default=OK) as crit):
        config = make_config([webhook("all", min_level="INFO", send_recovery=True),
                              webhook("warn", min_level="WARNING", send_recovery=False),
                              webhook("crit", min_level="CRITICAL", send_recovery=True)],
                             tmp_path)
        env = {"URL_ALL": all_.url, "URL_WARN": warn.url, "URL_CRIT": crit.url}
        d = dispatcher(config, env, tmp_path / "ledger.sqlite3")
        try:
            for minute, (level, previous) in enumerate(day):
                handle(d, alert(level, previous, minute=minute))
        finally:
            d.close()
        got = {name: [(s.json["alert"]["level"], s.json["title"]) for s in server.requests]
               for name, server in (("all", all_), ("warn", warn), ("crit", crit))}
    assert [level for level, _ in got["all"]] == ["INFO", "WARNING", "CRITICAL", "WARNING",
                                                 "INFO", "NONE"]
    assert got["warn"] == [("WARNING", "🟠 BTC WARNING · long cascade"),
                           ("CRITICAL", "🔴 BTC CRITICAL · long cascade"),
                           ("WARNING", "🟠 BTC WARNING · long cascade")]
    assert got["crit"] == [("CRITICAL", "🔴 BTC CRITICAL · long cascade"),
                           ("WARNING", "✅ BTC eased to WARNING")]
    assert d.stats.counts["filtered[warn]"] == 3 and d.stats.counts["delivered[crit]"] == 2


# ---------------------------------------------------------------- retries


def test_5xx_then_success(tmp_path):
    with HttpServer(default=OK) as hook:
        hook.then(Reply.of(DISCORD["responses"]["server_error"]), Reply(502, "bad gateway"),
                  Reply(503, "unavailable"))
        config = make_config([webhook("a", min_level="INFO")], tmp_path)
        d = dispatcher(config, {"URL_A": hook.url}, tmp_path / "ledger.sqlite3")
        try:
            result = handle(d, alert())
        finally:
            d.close()
        assert [s.status for s in hook.requests] == [500, 502, 503, 200]
        # every attempt carries the same key, so a receiver that saw one can drop the rest
        assert {s.headers["idempotency-key"] for s in hook.requests} == {alert()["alert_id"]}
    assert result["a"].delivered and result["a"].attempts == 4
    waits = d.deliverers["a"].waits
    # exponential backoff (0.05 s doubling, capped at 0.2 s) plus up to 0.01 s of jitter
    for wait, base in zip(waits, [0.05, 0.1, 0.2], strict=True):
        assert base <= wait <= base + FAST_RETRY["jitter_s"]
    assert Ledger(tmp_path / "ledger.sqlite3").rows() == [("a", alert()["alert_id"], "sent", 4,
                                                           None)]


@pytest.mark.parametrize(
    ("kind", "channel", "env_key", "reply", "expected_wait"),
    [
        # Slack: the Retry-After header (seconds)
        ("slack", {"type": "slack"}, "url", Reply(429, "rate_limited", {"Retry-After": "1"}), 1.0),
        # Discord: body retry_after (float seconds) below the header's rounded-up value: the
        # longer one is kept
        ("discord", {"type": "discord"}, "url",
         Reply(429, {**DISCORD["responses"]["rate_limited"]["body"], "retry_after": 0.4},
               {"Retry-After": "1", "X-RateLimit-Scope": "user"}), 1.0),
        # Discord: body only
        ("discord", {"type": "discord"}, "url",
         Reply(429, {**DISCORD["responses"]["rate_limited"]["body"], "retry_after": 0.4}), 0.4),
        # Telegram: parameters.retry_after in the body, no header
        ("telegram", {"type": "telegram"}, "token",
         Reply(429, {**TELEGRAM["responses"]["flood_control"]["body"],
                     "parameters": {"retry_after": 1}}), 1.0),
        # a 503 with Retry-After is honoured too
        ("webhook", {"type": "webhook"}, "url", Reply(503, "busy", {"Retry-After": "1"}), 1.0),
    ],
    ids=["slack-header", "discord-header-and-body", "discord-body", "telegram-body",
         "webhook-503"],
)
def test_429_waits_as_long_as_the_server_asks(tmp_path, kind, channel, env_key, reply,
                                              expected_wait):
    """The fixtures' numbers are made smaller (same shape) to keep the test short."""
    ok = {"telegram": Reply.of(TELEGRAM["responses"]["ok"]),
          "discord": Reply.of(DISCORD["responses"]["ok_wait"]),
          "slack": Reply.of(SLACK["responses"]["ok"]), "webhook": OK}[kind]
    with HttpServer(default=ok) as api:
        api.then(reply)
        if kind == "telegram":
            spec = {**channel, "token_env": "TOK", "chat_id_env": "CHAT", "api_base": api.url}
            env = {"TOK": "123:abc", "CHAT": "42"}
        else:
            spec, env = {**channel, "url_env": "URL"}, {"URL": api.url + "/hook"}
        config = make_config([{"name": "ch", "min_level": "INFO", **spec}], tmp_path)
        d = dispatcher(config, env, tmp_path / "ledger.sqlite3")
        try:
            result = handle(d, alert())
        finally:
            d.close()
        first, second = api.requests
    assert result["ch"].delivered and result["ch"].attempts == 2
    assert d.deliverers["ch"].waits == [expected_wait]
    assert second.at - first.at >= expected_wait  # it really waited (a lower bound only)


def test_a_wait_past_the_budget_gives_up_at_once(tmp_path):
    """A 429 asking for an hour: the channel gives up now instead of holding every other
    alert back for an hour."""
    with HttpServer(default=Reply(429, "slow down", {"Retry-After": "3600"})) as hook:
        config = make_config([webhook("a", min_level="INFO")], tmp_path)
        d = dispatcher(config, {"URL_A": hook.url}, tmp_path / "ledger.sqlite3")
        try:
            result = handle(d, alert())
        finally:
            d.close()
        assert len(hook.requests) == 1
    assert not result["a"].delivered and d.deliverers["a"].waits == []
    assert result["a"].error.startswith("gave up: HTTP 429")


@pytest.mark.parametrize(("raw", "seconds"), [
    ("3", 3.0), (" 0 ", 0.0), ("-5", 0.0), ("soon", None), ("", None), (None, None),
    ("Fri, 20 Nov 2026 14:10:30 GMT", 30.0), ("inf", None),
])
def test_parse_retry_after(raw, seconds):
    now = 1795183800.0  # 2026-11-20 14:10:00 UTC
    assert parse_retry_after(raw, now=now) == seconds


def test_a_failing_channel_does_not_block_the_others(tmp_path):
    """Slack refuses for good (404 no_service), the webhook fails every time (500): both are
    given up on after bounded tries, logged, counted and recorded; Discord gets every alert
    without waiting for them."""
    slow_retry = {**FAST_RETRY, "max_attempts": 3, "initial_backoff_s": 0.5, "max_backoff_s": 1,
                  "jitter_s": 0}
    with HttpServer(default=Reply.of(SLACK["responses"]["no_service"])) as slack, \
            HttpServer(default=Reply(500, "boom")) as hook, \
            HttpServer(default=Reply.of(DISCORD["responses"]["ok_wait"])) as discord:
        config = make_config([
            {"name": "slack", "type": "slack", "url_env": "SL", "min_level": "INFO"},
            webhook("hook", min_level="INFO", retry=slow_retry),
            {"name": "discord", "type": "discord", "url_env": "DC", "min_level": "INFO"},
        ], tmp_path)
        env = {"SL": slack.url + "/services/T/B/SECRETSLACK",
               "URL_HOOK": hook.url + "/h", "DC": discord.url + "/api/webhooks/1/t"}
        d = dispatcher(config, env, tmp_path / "ledger.sqlite3")
        try:
            results = [handle(d, alert(minute=m)) for m in (1, 2)]
        finally:
            d.close()
        assert len(slack.requests) == 2  # one try per alert: a 404 is not retried
        assert len(hook.requests) == 6  # three tries per alert, then given up
        assert len(discord.delivered()) == 2
        # Discord's first alert arrived before the webhook's second try
        assert discord.requests[0].at < hook.requests[1].at
    for result in results:
        assert result["discord"].delivered
        assert result["slack"].error.startswith("refused: HTTP 404: no_service")
        assert result["hook"].error.startswith("gave up: HTTP 500: boom")
    assert d.stats.counts["failed[slack]"] == 2 and d.stats.counts["failed[hook]"] == 2
    statuses = {(c, s, n) for c, _, s, n, _ in Ledger(tmp_path / "ledger.sqlite3").rows()}
    assert statuses == {("slack", "failed", 1), ("hook", "failed", 3), ("discord", "sent", 1)}


def test_unreachable_channel_is_retried_then_given_up(tmp_path):
    config = make_config([webhook("a", min_level="INFO")], tmp_path)
    with HttpServer(default=Reply()) as closed:
        url = closed.url
    d = dispatcher(config, {"URL_A": url}, tmp_path / "ledger.sqlite3")  # nothing listens
    try:
        result = handle(d, alert())
    finally:
        d.close()
    assert not result["a"].delivered and result["a"].attempts == FAST_RETRY["max_attempts"]
    assert "ConnectError" in result["a"].error


# ---------------------------------------------------------------- secrets


def test_tokens_and_webhook_urls_never_reach_logs_or_the_ledger(tmp_path, caplog):
    token = "7012345678:AAH-secret-bot-token-xyz"
    with HttpServer(default=Reply.of(TELEGRAM["responses"]["unauthorized"])) as api:
        closed = HttpServer(default=Reply())
        dead_url = closed.url + "/services/T0/B0/slack-secret-path"
        closed.stop()  # nothing listens there: httpx names the URL in errors
        config = make_config([
            {"name": "tg", "type": "telegram", "token_env": "TOK", "chat_id_env": "CHAT",
             "api_base": api.url, "min_level": "INFO"},
            {"name": "sl", "type": "slack", "url_env": "SL", "min_level": "INFO",
             "retry": {**FAST_RETRY, "max_attempts": 2}},
        ], tmp_path)
        redactor = Redactor()
        caplog.set_level(logging.DEBUG)
        caplog.handler.addFilter(RedactingFilter(redactor))
        d = dispatcher(config, {"TOK": token, "CHAT": "42", "SL": dead_url},
                       tmp_path / "ledger.sqlite3", redactor)
        try:
            result = handle(d, alert())
        finally:
            d.close()
        assert api.requests[0].path == f"/bot{token}/sendMessage"  # it was used...
    assert "Unauthorized" in result["tg"].error
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    stored = repr(Ledger(tmp_path / "ledger.sqlite3").rows())
    for secret in (token, "AAH-secret-bot-token-xyz", dead_url, "slack-secret-path"):
        assert secret not in logged and secret not in stored  # ...and never shown
    assert "channel sl" in caplog.text and "channel tg" in caplog.text


def test_redactor_masks_urls_in_other_forms():
    r = Redactor(["https://hooks.example.test/services/T1/B2/abcdefgh?x=1"])
    assert r("POST https://hooks.example.test:443/services/T1/B2/abcdefgh failed") == \
        f"POST https://hooks.example.test:443{MASK} failed"


# ---------------------------------------------------------------- restart


def test_restart_resends_only_to_channels_that_had_not_confirmed(tmp_path):
    """A confirms, B fails; a new process (new objects, same ledger file) handles the same
    alert again, as it would after a restart before the offset commit: only B is sent."""
    ledger_path = tmp_path / "state" / "ledger.sqlite3"
    with HttpServer(default=OK) as a, HttpServer(default=Reply(503, "down")) as b:
        config = make_config([webhook("a", min_level="INFO"),
                              webhook("b", min_level="INFO",
                                      retry={**FAST_RETRY, "max_attempts": 2})], tmp_path)
        env = {"URL_A": a.url, "URL_B": b.url}
        first = dispatcher(config, env, ledger_path)
        try:
            one = handle(first, alert())
        finally:
            first.close()
        assert one["a"].delivered and not one["b"].delivered
        b.fallback = OK  # B is back
        second = dispatcher(config, env, ledger_path)
        try:
            two = handle(second, alert())
            three = handle(second, alert())  # and once more: nobody gets it again
        finally:
            second.close()
        assert len(a.delivered()) == 1 and len(b.delivered()) == 1
    assert two["a"] == "already sent" and two["b"].delivered
    assert three == {"a": "already sent", "b": "already sent"}

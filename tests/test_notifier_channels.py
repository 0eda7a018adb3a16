"""What each channel sends, checked against the API's documented request parameters, with
the documented answers (harness/recorded/notifier, origin in each file) served by a
local HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import recorded
from harness.local_servers import HttpServer, Reply
from notifier.alert import Alert
from notifier.channels import build_senders
from notifier.ledger import Ledger
from notifier.message import render
from notifier.redact import Redactor
from notifier.service import Dispatcher
from tests.notifier_support.alerts import GRAFANA, alert, make_config

TELEGRAM = recorded.load("notifier", "telegram_sendMessage.json", exact=False)
DISCORD = recorded.load("notifier", "discord_execute_webhook.json", exact=False)
SLACK = recorded.load("notifier", "slack_incoming_webhook.json", exact=False)
TOKEN = "7012345678:AAH-test-token-not-real_0123456789"
CHAT = "-1001234567890"


def send_one(tmp_path: Path, channel: dict[str, Any], env: dict[str, str],
             value: dict[str, Any]) -> dict[str, Any]:
    config = make_config([{"name": "ch", "min_level": "INFO", **channel}], tmp_path)
    redactor = Redactor()
    dispatcher = Dispatcher(config, build_senders(config, redactor, "test", env),
                            Ledger(tmp_path / "ledger.sqlite3"), redactor)
    try:
        return dispatcher.handle(Alert.model_validate(value))
    finally:
        dispatcher.close()


def only(server: HttpServer):
    seen = server.requests
    assert len(seen) == 1, seen
    return seen[0]


def assert_phone_text(text: str) -> None:
    """The facts a trader needs, in the order they read them."""
    lines = text.splitlines()
    assert lines[0] == "🟠 BTC WARNING · long cascade"
    assert lines[1] == "Risk 57.3/100 (was INFO)"
    assert lines[2] == "Top: funding 20.1, OI build-up 15.0"  # the two biggest components
    assert lines[3] == "Stablecoin pressure \u221212.5 (inflow to exchanges)"
    assert lines[4] == "Confidence 100%"
    assert lines[5] == "Window 2026-11-20 14:09-14:10 UTC"
    assert lines[6].startswith("http://localhost:3000/d/lcm-asset?var-asset=BTC&from=")


def test_webhook_posts_the_alert_the_text_and_an_idempotency_key(tmp_path):
    with HttpServer(default=Reply(200, {"received": True})) as hook:
        url = f"{hook.url}/hooks/lcm?token=s3cr3t-query"
        result = send_one(tmp_path, {"type": "webhook", "url_env": "HOOK"}, {"HOOK": url},
                          alert())
        seen = only(hook)
    assert result["ch"].delivered
    assert seen.path == "/hooks/lcm" and seen.query == {"token": "s3cr3t-query"}
    assert seen.headers["idempotency-key"] == "BTC:2026-11-20T14:09:00Z:WARNING"
    assert seen.headers["content-type"] == "application/json"
    body = seen.json
    assert set(body) == {"alert", "text", "title", "dashboard_url", "channel"}
    sent = body["alert"]
    source = alert()
    for key in ("alert_id", "base", "level", "previous_level", "side", "risk", "long_risk",
                "short_risk", "funding_pts", "oi_buildup_pts", "imbalance_pts",
                "liquidation_pts", "pressure", "confidence", "components"):
        assert sent[key] == source[key], key
    assert sent["window_start"] == "2026-11-20T14:09:00Z"
    assert sent["window_end"] == "2026-11-20T14:10:00Z"
    assert_phone_text(body["text"])
    # from/to: an hour either side of the window, epoch ms
    assert body["dashboard_url"].endswith("&from=1795180140000&to=1795187400000")


def test_telegram_send_message(tmp_path):
    with HttpServer(default=Reply.of(TELEGRAM["responses"]["ok"])) as api:
        channel = {"type": "telegram", "token_env": "TG_TOKEN", "chat_id_env": "TG_CHAT",
                   "api_base": api.url}
        result = send_one(tmp_path, channel, {"TG_TOKEN": TOKEN, "TG_CHAT": CHAT}, alert())
        seen = only(api)
    assert result["ch"].delivered
    assert seen.path == f"/bot{TOKEN}/sendMessage"
    body = seen.json
    assert set(body) <= set(TELEGRAM["send_message_parameters"]), body
    assert body["chat_id"] == CHAT
    assert len(body["text"]) <= TELEGRAM["text_max_chars"]
    assert "parse_mode" not in body  # plain text: nothing in an alert can break the markup
    assert body["link_preview_options"] == {"is_disabled": True}
    assert body["disable_notification"] is False  # WARNING rings the phone
    assert_phone_text(body["text"])


@pytest.mark.parametrize(("level", "silent"), [("INFO", True), ("CRITICAL", False)])
def test_telegram_info_arrives_silently(tmp_path, level, silent):
    with HttpServer(default=Reply.of(TELEGRAM["responses"]["ok"])) as api:
        channel = {"type": "telegram", "token_env": "T", "chat_id_env": "C",
                   "api_base": api.url}
        send_one(tmp_path, channel, {"T": TOKEN, "C": CHAT}, alert(level, None))
        assert only(api).json["disable_notification"] is silent


def test_telegram_200_without_ok_is_not_delivered(tmp_path):
    with HttpServer(default=Reply(200, {"ok": False, "description": "odd"})) as api:
        channel = {"type": "telegram", "token_env": "T", "chat_id_env": "C",
                   "api_base": api.url}
        result = send_one(tmp_path, channel, {"T": TOKEN, "C": CHAT}, alert())
    assert not result["ch"].delivered and "without ok=true" in result["ch"].error


def test_discord_embed(tmp_path):
    with HttpServer(default=Reply.of(DISCORD["responses"]["ok_wait"])) as api:
        url = f"{api.url}/api/webhooks/1300000000000000000/tok-en_secret"
        channel = {"type": "discord", "url_env": "DC", "style": "embed", "username": "LCM"}
        result = send_one(tmp_path, channel, {"DC": url}, alert("CRITICAL", "WARNING"))
        seen = only(api)
    assert result["ch"].delivered
    assert seen.path == "/api/webhooks/1300000000000000000/tok-en_secret"
    assert seen.query == {"wait": "true"}
    body = seen.json
    assert set(body) <= set(DISCORD["execute_parameters"]), body
    assert body["allowed_mentions"] == {"parse": []} and body["username"] == "LCM"
    (embed,) = body["embeds"]
    assert set(embed) <= set(DISCORD["embed_fields"]), embed
    assert embed["title"] == "🔴 BTC CRITICAL · long cascade"
    assert len(embed["title"]) <= DISCORD["embed_title_max_chars"]
    assert len(embed["description"]) <= DISCORD["embed_description_max_chars"]
    assert embed["description"].splitlines()[0] == "Risk 57.3/100 (was WARNING)"
    assert embed["color"] == 0xD32F2F
    assert embed["url"].startswith("http://localhost:3000/d/lcm-asset?var-asset=BTC")
    assert embed["timestamp"] == "2026-11-20T14:10:00Z"


def test_discord_content_and_204_answer(tmp_path):
    with HttpServer(default=Reply.of(DISCORD["responses"]["ok_no_wait"])) as api:
        url = f"{api.url}/api/webhooks/1/abc"
        result = send_one(tmp_path, {"type": "discord", "url_env": "DC", "style": "content"},
                          {"DC": url}, alert())
        body = only(api).json
    assert result["ch"].delivered
    assert set(body) == {"content", "allowed_mentions"}
    assert len(body["content"]) <= DISCORD["content_max_chars"]
    assert_phone_text(body["content"])


def test_slack_blocks(tmp_path):
    """Slack reads `text` (the notification fallback) and the section as mrkdwn: both are
    escaped, and the base in the link is percent-encoded. (A base with markup cannot be an
    alert at all, lcm.names; the escaping is checked on one built without validation.)"""
    with pytest.raises(ValueError, match="not an asset name"):
        Alert.model_validate(alert(base="A&B<"))
    with HttpServer(default=Reply.of(SLACK["responses"]["ok"])) as api:
        url = f"{api.url}/services/T000/B000/XXXXSECRET"
        config = make_config([{"name": "ch", "min_level": "INFO", "type": "slack",
                               "url_env": "SL", "style": "blocks"}], tmp_path)
        redactor = Redactor()
        dispatcher = Dispatcher(config, build_senders(config, redactor, "test", {"SL": url}),
                                Ledger(tmp_path / "ledger.sqlite3"), redactor)
        try:
            valid = Alert.model_validate(alert())
            result = dispatcher.handle(valid.model_copy(update={"base": "A&B<"}))
        finally:
            dispatcher.close()
        body = only(api).json
    assert result["ch"].delivered
    assert set(body) <= set(SLACK["payload_fields"])
    assert body["text"].startswith("🟠 A&amp;B&lt; WARNING")  # the fallback: escaped too
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith("*🟠 A&amp;B&lt; WARNING · long cascade*\n")
    assert len(section["text"]["text"]) <= SLACK["section_text_max_chars"]
    assert context["type"] == "context"
    link = context["elements"][0]["text"]
    assert link.startswith("<http://localhost:3000/d/lcm-asset?var-asset=A%26B%3C&from=")
    assert link.endswith("|Open dashboard>")


def test_slack_text(tmp_path):
    with HttpServer(default=Reply.of(SLACK["responses"]["ok"])) as api:
        result = send_one(tmp_path, {"type": "slack", "url_env": "SL", "style": "text"},
                          {"SL": f"{api.url}/services/T/B/X"}, alert())
        body = only(api).json
    assert result["ch"].delivered and set(body) == {"text"}
    assert_phone_text(body["text"])


@pytest.mark.parametrize("answer", ["invalid_payload", "no_service", "channel_is_archived"])
def test_slack_documented_errors_are_permanent(tmp_path, answer):
    with HttpServer(default=Reply.of(SLACK["responses"][answer])) as api:
        result = send_one(tmp_path, {"type": "slack", "url_env": "SL"},
                          {"SL": f"{api.url}/services/T/B/X"}, alert())
        assert len(api.requests) == 1  # no retry can fix these
    assert not result["ch"].delivered and answer in result["ch"].error


# ---------------------------------------------------------------- the text itself


def test_text_short_squeeze_missing_inputs_and_iso_times():
    value = alert("INFO", None, side="short", funding_pts=None, liquidation_pts=None,
                  oi_buildup_pts=4.0, imbalance_pts=11.5, pressure=None, confidence=0.5,
                  window_start="2026-11-20T23:59:00Z", window_end="2026-11-21T00:00:00+00:00")
    text = render(Alert.model_validate(value), GRAFANA).text.splitlines()
    assert text[0] == "🔵 BTC INFO · short squeeze"
    assert text[1] == "Risk 57.3/100"
    assert text[2] == "Top: long/short imbalance 11.5, OI build-up 4.0"  # missing: not zero
    assert text[3] == "Stablecoin pressure n/a"
    assert text[4] == "Confidence 50%"
    assert text[5] == "Window 2026-11-20 23:59-00:00 UTC"


def test_text_back_to_normal_and_eased():
    normal = render(Alert.model_validate(alert("NONE", "WARNING", side=None)), GRAFANA)
    assert normal.title == "✅ BTC back to normal" and normal.level == "NONE"
    assert normal.lines[0] == "Risk 57.3/100 (was WARNING)"
    eased = render(Alert.model_validate(alert("INFO", "CRITICAL")), GRAFANA, recovery=True)
    assert eased.title == "✅ BTC eased to INFO" and eased.level == "NONE"

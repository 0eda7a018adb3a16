"""A poison alert never stops the notifier (issue 12, items 3 and 5): an alert the job
builds from a venue's non-ASCII ticker is delivered with a header-safe id; one that no
channel can send is recorded as failed for that channel and the next alert goes out; a
message that is not an alert (a year-1 window, markup for a base) is dead-lettered; on the
real Kafka the offset moves past all of them."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import hostile
from harness.local_servers import HttpServer, Reply
from notifier.alert import Alert
from notifier.channels import build_senders, header_safe_id
from notifier.ledger import Ledger
from notifier.redact import Redactor
from notifier.service import Dispatcher, parse_alert
from tests.notifier_support.alerts import alert, make_config

TICKER = "\u5e01\u5b89\u4eba\u751f"  # a Binance perpetual's base (2025)


def dispatcher(tmp_path: Path, url: str, **channel: Any) -> Dispatcher:
    config = make_config([{"name": "hook", "type": "webhook", "url_env": "HOOK",
                           "min_level": "INFO", **channel}], tmp_path)
    redactor = Redactor()
    return Dispatcher(config, build_senders(config, redactor, "test", {"HOOK": url}),
                      Ledger(tmp_path / "ledger.sqlite3"), redactor)


def test_a_non_ascii_ticker_is_delivered_with_a_header_safe_idempotency_key(
        tmp_path: Path) -> None:
    value = alert(base=TICKER)
    with HttpServer(default=Reply(200, {"ok": True})) as hook:
        d = dispatcher(tmp_path, f"{hook.url}/hook")
        try:
            result = d.handle(parse_alert(json.dumps(value).encode()))
        finally:
            d.close()
        (seen,) = hook.requests
    assert result["hook"].delivered
    key = seen.headers["idempotency-key"]
    assert key.isascii() and key == header_safe_id(value["alert_id"])
    assert key.startswith("%E5%B8%81") and key.endswith(":2026-11-20T14:09:00Z:WARNING")
    assert seen.json["alert"]["alert_id"] == value["alert_id"]  # the body keeps it as it is
    assert header_safe_id("BTC:2026-11-20T14:09:00Z:WARNING") == (
        "BTC:2026-11-20T14:09:00Z:WARNING")  # the job's ASCII ids are unchanged


def test_an_alert_no_channel_can_send_is_recorded_failed_and_the_next_goes_out(
        tmp_path: Path, monkeypatch) -> None:
    from notifier import channels

    real = channels.WebhookSender.request

    def request(self, a: Alert, message: Any) -> Any:
        if a.base == "ETH":
            raise OverflowError("date value out of range")  # what year 9999 did
        return real(self, a, message)

    monkeypatch.setattr(channels.WebhookSender, "request", request)
    with HttpServer(default=Reply(200, {"ok": True})) as hook:
        d = dispatcher(tmp_path, f"{hook.url}/hook")
        try:
            poison = d.handle(Alert.model_validate(alert(base="ETH")))
            after = d.handle(Alert.model_validate(alert(base="BTC", minute=10)))
        finally:
            d.close()
        assert len(hook.requests) == 1
    assert not poison["hook"].delivered and "OverflowError" in poison["hook"].error
    assert after["hook"].delivered
    rows = {(r[1], r[2]) for r in Ledger(tmp_path / "ledger.sqlite3").rows()}
    assert ("ETH:2026-11-20T14:09:00Z:WARNING", "failed") in rows
    assert ("BTC:2026-11-20T14:10:00Z:WARNING", "sent") in rows


@pytest.mark.parametrize(("override", "why"), [
    ({"window_start": "0001-01-01 00:00:00"}, "window_start"),
    ({"window_end": "9999-12-31 23:59:00"}, "window_end"),
    ({"base": "<!channel>"}, "base"), ({"base": "<@U024BE7LH>"}, "base"),
    ({"base": "../../x"}, "base"), ({"alert_id": "BTC\r\nX-Injected: 1"}, "alert_id"),
    ({"alert_id": "a\ud800"}, "surrogate"), ({"risk": float("inf")}, "not JSON|risk")])
def test_what_cannot_be_an_alert_is_refused_by_name(override: dict, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_alert(hostile.dumps(alert(**override)))


@settings(max_examples=150, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.randoms(use_true_random=False))
def test_any_message_is_an_alert_every_channel_can_send_or_a_refusal(rnd) -> None:
    """Mutated alerts through the notifier's path for one message: parse (a refusal is a
    dead letter), then every channel type renders it and builds its HTTP request (headers
    checked by httpx); Slack never receives unescaped markup."""
    with contextlib.suppress(hostile.NotAnAlert):
        hostile.notifier_path(hostile.dumps(hostile.mutate(alert(), rnd)))


@pytest.mark.stack
def test_on_kafka_poison_alerts_are_passed_and_the_next_one_is_delivered(tmp_path: Path
                                                                        ) -> None:
    """The alerts topic has one partition: before, one alert with a non-ASCII base killed
    the notifier for good (UnicodeEncodeError in the header), and so did a year-9999
    window. Now the process keeps running, commits past them, dead-letters what is not an
    alert and delivers everything else."""
    import orjson

    from lcm import kafka_io
    from lcm.settings import Connections
    from lcm.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC
    from tests.conftest import wait_for
    from tests.test_notifier_kafka import (
        GROUP,
        NotifierProcess,
        committed,
        produce_alerts,
        read_topic,
    )

    bootstrap = Connections.from_env().kafka_bootstrap
    prefix = f"test_poison_{tmp_path.name[-8:].replace('-', '')}_"
    created = kafka_io.ensure_topics(bootstrap, prefix, timeout_s=15)
    try:
        day = [alert(base=TICKER, minute=1), alert(window_end="9999-12-31 23:59:00", minute=2),
               alert(base="<!channel>", minute=3), b'{"alert_id": ["x"]}',
               alert(base="BTC", minute=4)]
        produce_alerts(bootstrap, prefix + ALERTS_TOPIC, day)
        with HttpServer(default=Reply(200, {"ok": True})) as hook:
            notifier = NotifierProcess(tmp_path, bootstrap, prefix, [
                {"name": "hook", "type": "webhook", "url_env": "HOOK", "min_level": "INFO"}],
                {"HOOK": hook.url + "/in"})
            notifier.start()
            try:
                wait_for(lambda: committed(bootstrap, prefix) == 5, 90,
                         "the notifier to commit past every message")
            finally:
                code = notifier.stop()
            delivered = [(s.json["alert"]["base"], s.headers["idempotency-key"])
                         for s in hook.delivered()]
        assert code == 0, notifier.log()
        assert delivered == [(TICKER, header_safe_id(day[0]["alert_id"])),
                             ("BTC", "BTC:2026-11-20T14:04:00Z:WARNING")]
        dead = [orjson.loads(v) for v in read_topic(bootstrap, prefix + DEAD_LETTER_TOPIC,
                                                     want=3)]
        assert [d["where"].rsplit("@", 1)[1] for d in dead] == ["1", "2", "3"]
        assert "window_end" in dead[0]["reason"] and "base" in dead[1]["reason"]
    finally:
        kafka_io.delete_topics(bootstrap, created)
        kafka_io.delete_consumer_groups(bootstrap, [prefix + GROUP])

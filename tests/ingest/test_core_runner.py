"""SourceContext, the runner (supervision, health, heartbeats), health state, Prometheus
metrics and the CLI's --help."""

from __future__ import annotations

import asyncio
import types
import urllib.request
from typing import Any

import pytest

from harness.local_servers import HttpServer, Reply
from ingest import __main__ as cli
from ingest import runner
from ingest.contract import PayloadError, price_msg
from ingest.health import SourceHealth, serve_prometheus
from ingest.settings import HealthSettings, IngestSettings, SourceOptions, SourceSettings
from ingest.source import SOURCES, SourceContext

from .kafka_broker import free_port

TS = 1_795_183_200_000


class Collect:
    """A sink that keeps everything (the Publisher's API without Kafka)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict]] = []
        self.dead: list[tuple] = []
        self.healths: list[dict] = []
        self.beats: list[tuple[str, int]] = []

    def publish(self, topic: str, msg: dict, *, key: bytes | None = None,
                partition: int = -1) -> None:
        self.published.append((topic, msg))

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        self.dead.append((source, reason, raw, where))

    def health(self, record: dict) -> None:
        self.healths.append(record)

    def heartbeat(self, source: str, ts: int) -> None:
        self.beats.append((source, ts))

    @property
    def backlog(self) -> int:
        return 0

    def own_health(self) -> list:
        return []

    def close(self, timeout_s: float = 0) -> None:
        pass


def test_context_publish_and_dead_letter() -> None:
    sink = Collect()
    ctx = SourceContext("bybit", SourceSettings(), sink)
    ctx.publish("prices", price_msg("bybit", "BTCUSDT", "BTC", TS, "1"))
    ctx.dead_letter("fundingRate: not a number", b'{"fundingRate":"x"}', "GET /v5/market/tickers")
    err = PayloadError("okx: not JSON", raw="<html>", where="GET /api/v5/x")
    ctx.payload_error(err)
    assert ctx.health.messages == 1 and ctx.health.last_event_ts == TS
    assert ctx.health.dead_letters == 2
    assert sink.dead == [
        ("bybit", "fundingRate: not a number", '{"fundingRate":"x"}', "GET /v5/market/tickers"),
        ("bybit", "okx: not JSON", "<html>", "GET /api/v5/x")]


class _Opts(SourceOptions):
    period: str = "5min"


def test_context_create_validates_options(tmp_path) -> None:
    settings = IngestSettings(sources={"bybit": SourceSettings(options={"period": "1h"})})
    module = types.SimpleNamespace(Options=_Opts)
    ctx = SourceContext.create("bybit", settings, Collect(), module)
    assert ctx.options.period == "1h"
    with pytest.raises(SystemExit, match=r"sources\.okx: no such section"):
        SourceContext.create("okx", settings, Collect(), module)


def test_context_http_uses_the_source_budget_and_health(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(500, "no"), Reply(200, '{"a": "1"}'))
    settings = SourceSettings(rest_url=http_server.url,
                              budget={"requests": 10, "per_seconds": 1})
    ctx = SourceContext("okx", settings, Collect())

    async def go():
        client = ctx.http(backoff_s=0.01)
        doc = await client.get_json("/x")
        await ctx.aclose()
        return doc, client

    doc, client = asyncio.run(go())
    assert doc == {"a": "1"} and client.bucket.capacity == 10 and ctx.health.errors == 1


def test_context_sleep_and_every_stop_promptly() -> None:
    ctx = SourceContext("x", SourceSettings(), Collect())

    async def go():
        ticks = []

        async def loop():
            async for n in ctx.every(0.05):
                ticks.append(n)

        task = asyncio.create_task(loop())
        await asyncio.sleep(0.22)
        ctx.stopping.set()
        await asyncio.wait_for(task, 1)
        return ticks, await ctx.sleep(10)

    ticks, go_on = asyncio.run(go())
    assert len(ticks) >= 2 and ticks == list(range(len(ticks))) and go_on is False


def test_supervise_restarts_a_failing_source(monkeypatch) -> None:
    runs = []

    async def run(ctx) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("venue answered nonsense")
        ctx.publish("prices", price_msg("x", "S", "B", TS, "1"))

    ctx = SourceContext("x", SourceSettings(), Collect())
    monkeypatch.setattr(runner, "RESTART_BACKOFF_MAX_S", 0.05)
    asyncio.run(runner.supervise(ctx, run))
    assert len(runs) == 3 and ctx.health.errors == 2 and ctx.health.messages == 1
    assert "venue answered nonsense" in ctx.health.last_error and not ctx.health.running


def test_health_state() -> None:
    h = SourceHealth("bybit", started_at=1000.0)
    assert h.state(1001, 120, 600) == "down"  # task not running
    h.running = True
    assert h.state(1001, 120, 600) == "up"  # just started
    assert h.state(1200, 120, 600) == "degraded"  # nothing for 200 s
    assert h.state(1700, 120, 600) == "down"  # nothing for 700 s
    h.event(TS)
    h.error("HTTP 429")
    now = h.last_event_at + 1
    rec = h.report(now, 120, 600)
    assert rec == {"source": "bybit", "ts": int(now * 1000), "last_event_ts": TS,
                   "messages": 1, "errors": 1, "dead_letters": 0, "state": "degraded"}
    assert h.report(now, 120, 600)["state"] == "up"  # no new error since the last report


def test_report_health_sends_records_and_heartbeats() -> None:
    sink = Collect()
    h = SourceHealth("okx")
    h.running = True
    cfg = HealthSettings(report_seconds=0.1, heartbeat_seconds=0.03, heartbeat_lag_ms=2000)
    stopping = asyncio.Event()

    async def go():
        task = asyncio.create_task(runner.report_health(sink, [h], cfg, stopping,
                                                        clock=lambda: 1_795_183_200.5))
        await asyncio.sleep(0.35)
        stopping.set()
        await task

    asyncio.run(go())
    assert len(sink.beats) >= 5 and sink.beats[0] == ("ingest", 1_795_183_200_500 - 2000)
    assert 1 <= len(sink.healths) <= 5 and sink.healths[0]["source"] == "okx"


def test_run_sources_once_with_health_at_the_end() -> None:
    async def run(ctx) -> None:
        async for _ in ctx.every(3600):  # --once: one tick, no hour-long wait
            ctx.publish("prices", price_msg("x", "S", "B", TS, "1"))

    sink = Collect()
    settings = IngestSettings(sources={"bybit": SourceSettings()})
    code = asyncio.run(runner.run_sources(["bybit"], settings, sink, once=True,
                                          modules={"bybit": types.SimpleNamespace(run=run)}))
    assert code == 0 and [t for t, _ in sink.published] == ["prices"]
    assert sink.healths[-1]["source"] == "bybit" and sink.healths[-1]["state"] == "down"
    assert sink.healths[-1]["messages"] == 1


def test_prometheus_metrics_on_loopback() -> None:
    h = SourceHealth("hyperliquid", messages=7, errors=2, running=True)
    h.event(TS)
    port = free_port()
    serve_prometheus(port, [h], lambda: 42)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'lcm_ingest_messages_total{source="hyperliquid"} 8.0' in text
    assert 'lcm_ingest_errors_total{source="hyperliquid"} 2.0' in text
    assert 'lcm_ingest_last_event_age_seconds{source="hyperliquid"}' in text
    assert 'lcm_ingest_source_running{source="hyperliquid"} 1.0' in text
    assert "lcm_ingest_spool_backlog 42.0" in text


@pytest.mark.parametrize("argv", [[], *[[c] for c in [*SOURCES, "all", "record", "backfill",
                                                      "topics", "replay"]]])
def test_help_everywhere(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    assert "usage: python -m ingest" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys) -> None:
    bad = tmp_path / "ingest.yaml"
    bad.write_text("sources:\n  bybit:\n    poll_seconds: 0\n")
    assert cli.main(["--ingest-config", str(bad), "bybit"]) == 2
    assert "sources.bybit.poll_seconds: Input should be greater than 0" in capsys.readouterr().err
    # a usage error: exit 2 and one line, like every other usage error (lcm.cli)
    assert cli.main(["backfill", "okx", "--from", "2026-11-02", "--to", "2026-11-01",
                     "--out", str(tmp_path)]) == 2
    assert "--to must be after --from" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:  # argparse: an unknown command
        cli.main(["nosuchsource"])
    assert unknown.value.code == 2
    with pytest.raises(SystemExit, match="no Binance data files"):
        cli.main(["backfill", "binance-files", "--from", "2026-11-01", "--to", "2026-11-02",
                  "--out", str(tmp_path / "o"), "--data", str(tmp_path), "--quiet"])


def test_live_start_goes_on_when_kafka_is_down(monkeypatch, caplog) -> None:
    def unreachable(*_a, **_k):
        raise SystemExit("Kafka at 127.0.0.1:9 is unreachable (timed out).")

    monkeypatch.setattr(cli.kafka_io, "ensure_topics", unreachable)
    args = types.SimpleNamespace(bootstrap="127.0.0.1:9", topic_prefix="")
    cli._topics_or_spool(args)  # no SystemExit: the spool takes the messages
    assert "Starting anyway: messages are spooled on disk" in caplog.text

"""Per-source health: message/error/dead-letter counts and the age of the last event.

One SourceHealth per source is updated by its SourceContext, RestClient and WsStream; the
runner turns it into an ingest_health record every few seconds (docs/contract.md) and,
optionally, Prometheus metrics (on 127.0.0.1 unless health.prometheus_bind says otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["up", "degraded", "down"]


@dataclass
class SourceHealth:
    source: str
    messages: int = 0
    errors: int = 0
    dead_letters: int = 0
    gaps: int = 0
    last_event_ts: int | None = None  # event time (ms) of the newest message published
    last_event_at: float | None = None  # time.time() when it was published
    last_error: str | None = None
    running: bool = False  # the source's task is alive
    started_at: float = field(default_factory=time.time)
    _errors_reported: int = 0

    def event(self, ts: int | None) -> None:
        self.messages += 1
        self.last_event_at = time.time()
        if isinstance(ts, int) and (self.last_event_ts is None or ts > self.last_event_ts):
            self.last_event_ts = ts

    def error(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason

    def state(self, now: float, stale_after_s: float, down_after_s: float) -> State:
        """down: task dead or silent past down_after; degraded: silent past stale_after or
        new errors since the previous report; else up."""
        since = now - (self.last_event_at or self.started_at)
        if not self.running or since > down_after_s:
            return "down"
        if since > stale_after_s or self.errors > self._errors_reported:
            return "degraded"
        return "up"

    def report(self, now: float, stale_after_s: float, down_after_s: float) -> dict[str, Any]:
        """The ingest_health record (and it marks the errors as reported)."""
        record = {
            "source": self.source, "ts": int(now * 1000), "last_event_ts": self.last_event_ts,
            "messages": self.messages, "errors": self.errors, "dead_letters": self.dead_letters,
            "state": self.state(now, stale_after_s, down_after_s),
        }
        self._errors_reported = self.errors
        return record


class HealthCollector:
    """prometheus_client collector reading the live SourceHealth objects (no second set
    of counters to keep in step)."""

    def __init__(self, healths: Iterable[SourceHealth],
                 backlog: Callable[[], int] | None = None) -> None:
        self.healths = list(healths)
        self.backlog = backlog  # the Publisher's spooled, unacknowledged messages

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = time.time()
        fams = {
            "messages": CounterMetricFamily("lcm_ingest_messages", "messages published",
                                            labels=["source"]),
            "errors": CounterMetricFamily("lcm_ingest_errors", "upstream errors",
                                          labels=["source"]),
            "dead_letters": CounterMetricFamily("lcm_ingest_dead_letters",
                                                "payloads sent to ingest_dead_letter",
                                                labels=["source"]),
            "gaps": CounterMetricFamily("lcm_ingest_stream_gaps", "WebSocket reconnects",
                                        labels=["source"]),
        }
        age = GaugeMetricFamily("lcm_ingest_last_event_age_seconds",
                                "seconds since the source last published", labels=["source"])
        up = GaugeMetricFamily("lcm_ingest_source_running", "1 while the source task runs",
                               labels=["source"])
        for h in self.healths:
            for name, fam in fams.items():
                fam.add_metric([h.source], getattr(h, name))
            if h.last_event_at is not None:
                age.add_metric([h.source], now - h.last_event_at)
            up.add_metric([h.source], 1.0 if h.running else 0.0)
        yield from fams.values()
        yield age
        yield up
        if self.backlog is not None:
            spooled = GaugeMetricFamily("lcm_ingest_spool_backlog",
                                        "messages published but not yet acknowledged by Kafka")
            spooled.add_metric([], self.backlog())
            yield spooled


def serve_prometheus(port: int, healths: Iterable[SourceHealth],
                     backlog: Callable[[], int] | None = None, addr: str = "127.0.0.1") -> None:
    """Metrics on http://<addr>:<port>/metrics (health.prometheus_bind: loopback unless a
    container asks for its network interface)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(HealthCollector(healths, backlog))
    start_http_server(port, addr=addr, registry=registry)

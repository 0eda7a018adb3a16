"""Run sources in one asyncio process: their `run(ctx)` tasks, the health reports, the
job-clock heartbeats, and a clean stop on SIGINT/SIGTERM.

A source task that raises is logged, marked down in health and restarted after a backoff:
one venue's failure never stops the others or the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable
from types import ModuleType

from ingest.health import SourceHealth, serve_prometheus
from ingest.publisher import Publisher
from ingest.settings import HealthSettings, IngestSettings
from ingest.sink import Sink, SinkRefused
from ingest.source import SourceContext, load_module
from lcm.paths import REPO_DIR

log = logging.getLogger("ingest.runner")
RESTART_BACKOFF_MAX_S = 300.0
STABLE_RUN_S = 120.0  # a run this long was healthy: the next failure backs off from 2 s again


async def supervise(ctx: SourceContext, run: Callable[[SourceContext], Awaitable[None]],
                    once: bool = False) -> None:
    """Run the source; restart it with backoff if it fails (never on a clean return). The
    backoff doubles with failures in a row (2, 4, ... 300 s) and starts again from 2 s after
    a run that lasted STABLE_RUN_S."""
    failures = 0
    while not ctx.stopping.is_set():
        ctx.health.running = True
        started = time.monotonic()
        try:
            await run(ctx)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one venue's bug or outage must not stop the others
            if time.monotonic() - started >= STABLE_RUN_S:
                failures = 0
            failures += 1
            ctx.health.error(f"{type(exc).__name__}: {exc}")
            log.exception("source %s failed (%d in a row)", ctx.name, failures)
            if once:
                raise
        finally:
            ctx.health.running = False
            await ctx.aclose()
        wait = min(RESTART_BACKOFF_MAX_S, 2.0 ** failures)
        if not await ctx.sleep(random.uniform(wait / 2, wait)):
            return


async def report_health(sink: Sink, healths: list[SourceHealth], cfg: HealthSettings,
                        stopping: asyncio.Event, clock: Callable[[], float] = time.time) -> None:
    """ingest_health records (docs/contract.md) and job-clock heartbeats, until stopping."""
    next_report = 0.0
    warned_backlog = 0
    refused_logged = float("-inf")
    while not stopping.is_set():
        now = clock()
        try:
            sink.heartbeat("ingest", int(now * 1000) - cfg.heartbeat_lag_ms)
            if now >= next_report:
                for h in [*healths, *sink.own_health()]:
                    record = h.report(now, cfg.stale_after_seconds, cfg.down_after_seconds)
                    sink.health(record)
                    log.debug("health %s", record)
        except SinkRefused as exc:  # the spool's disk is full: said once in 10 s, go on
            if time.monotonic() - refused_logged >= 10:
                refused_logged = time.monotonic()
                log.error("heartbeat or health record not kept: %s", exc)
        if now >= next_report:
            next_report = now + cfg.report_seconds
            backlog = sink.backlog
            if backlog >= max(1000, 2 * warned_backlog):  # Kafka away: say so, not per report
                log.warning("%d messages spooled on disk, waiting for Kafka", backlog)
                warned_backlog = backlog
            elif backlog < 1000 and warned_backlog:
                log.info("spool drained")
                warned_backlog = 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), cfg.heartbeat_seconds)


async def run_sources(names: list[str], settings: IngestSettings, sink: Sink, *,
                      once: bool = False, grace_s: float = 10.0,
                      modules: dict[str, ModuleType] | None = None) -> int:
    """Run the named sources until SIGINT/SIGTERM (or, with once=True, until each run()
    returns). Returns the process exit code."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    contexts = []
    for name in names:
        module = (modules or {}).get(name) or load_module(name)
        ctx = SourceContext.create(name, settings, sink, module)
        ctx.stopping = stopping
        ctx.once = once
        contexts.append((ctx, module))
    healths = [ctx.health for ctx, _ in contexts]
    if settings.health.prometheus_port:
        serve_prometheus(settings.health.prometheus_port, [*healths, *sink.own_health()],
                         lambda: sink.backlog, addr=str(settings.health.prometheus_bind))
    reporter = asyncio.create_task(report_health(sink, healths, settings.health, stopping))
    tasks = [asyncio.create_task(supervise(ctx, module.run, once), name=ctx.name)
             for ctx, module in contexts]
    code = 0
    try:
        if once:
            results = await asyncio.gather(*tasks, return_exceptions=True)
            code = 1 if any(isinstance(r, Exception) for r in results) else 0
            stopping.set()
        else:
            await stopping.wait()
            log.info("stopping: waiting up to %.0f s for sources", grace_s)
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
    finally:
        stopping.set()
        await reporter
        for h in healths:  # a last report: the dashboard sees the stop
            h.running = False
            with contextlib.suppress(SinkRefused):
                sink.health(h.report(time.time(), settings.health.stale_after_seconds,
                                     settings.health.down_after_seconds))
    return code


def make_publisher(settings: IngestSettings, bootstrap: str, process: str,
                   topic_prefix: str = "") -> Publisher:
    """The Kafka publisher with its spool at <spool.dir>/<prefix><process>."""
    s = settings.spool
    base = s.dir if s.dir.is_absolute() else REPO_DIR / s.dir
    return Publisher(bootstrap, base / f"{topic_prefix}{process}", topic_prefix=topic_prefix,
                     segment_bytes=s.segment_bytes, max_bytes=s.max_bytes,
                     in_flight=s.in_flight, fsync_ms=s.fsync_ms)

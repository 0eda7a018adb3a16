"""What a source module gets (SourceContext) and the registry of source modules.

A source module ingest/sources/<name>.py provides pure `parse_*` functions, an
`async def run(ctx)` (poll loops and streams until ctx.stopping), optionally
`async def history(ctx, start_ms, end_ms)` (an async iterator of messages, or of
(topic, message) pairs, for backfill) and `class Options(SourceOptions)` for its
`options:` in config/ingest.yaml.

Every source does its plumbing through the context, one way:
- poll: `ctx.repeat(seconds, poll, ...)` (a loop on `ctx.every(seconds)`), each call of an
  endpoint through `await ctx.fetch(http.get_json(...), where)`, which never ends a loop;
- stream: `async for msg in ctx.ws(url, subscribe)`;
- run both: `await ctx.run_tasks(polls, streams)` (a task that dies restarts the source);
- parse: `ctx.parse(where, raw, parser, *args)` returns what the pure parser returned or,
  after dead-lettering `raw` with the reason, None; `ctx.publish_all(pairs)` publishes
  its (topic, message) pairs;
- dead-letter: `ctx.dead_letter(reason, raw, where)`: any raw object, bounded text;
- health: `ctx.error(reason)` counts and logs an upstream error (the clients count their
  own); messages and dead letters are counted as they are published.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel

from ingest.contract import PayloadError, now_ms, short
from ingest.health import SourceHealth
from ingest.http import HttpError, RestClient
from ingest.settings import Budget, IngestSettings, SourceSettings, validate_options
from ingest.sink import Sink, SinkRefused
from ingest.ws import Subscribe, WsStream
from lcm.deadletter import RAW_LIMIT, raw_text, safe_text

T = TypeVar("T")
STOP_GRACE_S = 5.0  # on stop, how long a poll pass in flight may take to finish
O = TypeVar("O", bound=BaseModel)  # noqa: E741 (a source's Options class)
Out = list[tuple[str, dict[str, Any]]]  # what every parser returns: (topic, contract message)

SOURCES: dict[str, str] = {
    "bybit": "ingest.sources.bybit",
    "okx": "ingest.sources.okx",
    "binance": "ingest.sources.binance",
    "hyperliquid": "ingest.sources.hyperliquid",
    "dydx": "ingest.sources.dydx",
    "coingecko": "ingest.sources.coingecko",
    "etherscan": "ingest.sources.etherscan",
}


def load_module(name: str) -> ModuleType:
    """The source's module (imported only when that source runs)."""
    if name not in SOURCES:
        raise SystemExit(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
    return importlib.import_module(SOURCES[name])


@dataclass
class SourceContext:
    name: str
    settings: SourceSettings
    sink: Sink
    options: BaseModel | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    health: SourceHealth = None  # type: ignore[assignment]  # set in __post_init__
    log: logging.Logger = None  # type: ignore[assignment]
    once: bool = False  # --once: one pass of each poll loop; sources skip their streams
    _clients: list[RestClient] = field(default_factory=list)
    _logged: set[tuple[str, str]] = field(default_factory=set)
    _refused_logged: float = float("-inf")

    def __post_init__(self) -> None:
        self.health = self.health or SourceHealth(self.name)
        self.log = self.log or logging.getLogger(f"ingest.{self.name}")

    @classmethod
    def create(cls, name: str, settings: IngestSettings, sink: Sink,
               module: ModuleType | None = None) -> SourceContext:
        """The context for source `name` from the loaded settings (options validated by
        the module's Options class; errors name the key and the file)."""
        if name not in settings.sources:
            raise SystemExit(f"{settings.path}: sources.{name}: no such section")
        section = settings.sources[name]
        module = module or load_module(name)
        options = validate_options(getattr(module, "Options", None), name, section,
                                   settings.path)
        return cls(name=name, settings=section, sink=sink, options=options)

    def options_as(self, model: type[O]) -> O:
        """The validated `options:` of this source as its Options class (the defaults when
        the context was made without them)."""
        if self.options is None:
            return model()
        if not isinstance(self.options, model):
            raise TypeError(f"sources.{self.name}.options: validated as "
                            f"{type(self.options).__name__}, not {model.__name__}")
        return self.options

    # -------------------------------------------------------------- clients
    @property
    def api_key(self) -> str | None:
        """The API key from the environment variable the config names (never log it)."""
        return self.settings.api_key()

    def http(self, base_url: str | None = None, *, budget: Budget | None = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> RestClient:
        """A RestClient on base_url (default rest_url) with the source's budget; closed
        when the source stops."""
        url = base_url or self.settings.rest_url
        if not url:
            raise SystemExit(f"sources.{self.name}.rest_url: not set")
        client = RestClient(self.name, url, budget or self.settings.budget, health=self.health,
                            headers=headers, log=self.log, **kwargs)
        self._clients.append(client)
        return client

    def ws(self, url: str | None = None, subscribe: Subscribe = (), **kwargs: Any) -> WsStream:
        """A WsStream (default ws_url) that dead-letters frames that are not JSON."""
        url = url or self.settings.ws_url
        if not url:
            raise SystemExit(f"sources.{self.name}.ws_url: not set")
        return WsStream(self.name, url, subscribe, health=self.health, stopping=self.stopping,
                        on_bad=lambda raw, reason: self.dead_letter(reason, raw, url),
                        log=self.log, **kwargs)

    # -------------------------------------------------------------- output
    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        try:
            self.sink.publish(topic, msg)
        except SinkRefused as exc:  # not kept (full disk): counted, never blocks the loop
            self._refused(exc)
            return
        self.health.event(msg.get("ts"))

    def _refused(self, exc: SinkRefused) -> None:
        self.health.error(f"message not kept: {exc}")
        now = time.monotonic()
        if now - self._refused_logged >= 10:
            self._refused_logged = now
            self.log.error("%s: messages are not being kept: %s", self.name, exc)

    def publish_all(self, pairs: Iterable[tuple[str, dict[str, Any]]] | None) -> int:
        """Publish a parser's (topic, message) pairs (None: nothing); returns how many."""
        n = 0
        for topic, msg in pairs or ():
            self.publish(topic, msg)
            n += 1
        return n

    def error(self, reason: str, *, level: int = logging.WARNING) -> None:
        """An upstream error (a refused subscription, a venue saying 'slow down'): counted
        in health (the source shows as degraded) and logged."""
        self.health.error(reason)
        self.log.log(level, "%s: %s", self.name, reason)

    def dead_letter(self, reason: str, raw: Any, where: str) -> None:
        """Send an upstream payload that could not be normalized to ingest_dead_letter:
        `raw` is what came (text, bytes or the decoded JSON; None for nothing), kept as
        bounded text (ingest.sink.raw_text)."""
        self.health.dead_letters += 1
        self.log.warning("dead letter from %s: %s", safe_text(str(where), 300),
                         safe_text(str(reason), 500))
        try:
            self.sink.dead_letter(self.name, reason, safe_text(raw_text(raw), RAW_LIMIT), where)
        except SinkRefused as exc:
            self._refused(exc)

    def payload_error(self, exc: PayloadError, raw: Any = None, where: str = "") -> None:
        """Dead-letter a PayloadError (raw/where from the exception when it carries them)."""
        self.dead_letter(exc.reason, exc.raw if exc.raw is not None else raw,
                         exc.where or where)

    def parse(self, where: str, raw: Any, parser: Callable[..., T], /, *args: Any,
              **kwargs: Any) -> T | None:
        """parser(*args, **kwargs), or None after sending `raw` to the dead-letter topic
        with the reason: one bad payload costs only itself."""
        try:
            return parser(*args, **kwargs)
        except PayloadError as exc:
            self.dead_letter(exc.reason, raw, where)
        except Exception as exc:  # a shape nobody foresaw: the payload goes, the source stays
            self._unexpected(getattr(parser, "__name__", "parser"), exc)
            self.dead_letter(f"{where}: cannot be read ({type(exc).__name__}: "
                             f"{short(str(exc), 200)})", raw, where)
        return None

    def _unexpected(self, what: str, exc: Exception) -> None:
        """Log the traceback of an unexpected exception once per (what, type); every
        occurrence is counted by the caller (a dead letter or a health error)."""
        key = (what, type(exc).__name__)
        if key not in self._logged:
            self._logged.add(key)
            self.log.error("%s: %s raised %s (logged once; each is counted)", self.name, what,
                           type(exc).__name__, exc_info=exc)

    async def fetch(self, call: Awaitable[T], where: str) -> T | None:
        """Await one request. A body that is not JSON is dead-lettered with its text; an
        HTTP failure (already retried and counted by the client) is logged; neither ends
        the loop that asked. Returns the call's result or None."""
        try:
            return await call
        except PayloadError as exc:
            self.payload_error(exc, where=where)
        except HttpError as exc:
            self.log.warning("%s", exc)
        return None

    # -------------------------------------------------------------- time and loops
    @staticmethod
    def clock_ms() -> int:
        return now_ms()

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until stopping; True if the source should go on."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))
        return not self.stopping.is_set()

    async def every(self, seconds: float) -> AsyncIterator[int]:
        """Async iterator ticking every `seconds` until stopping (once with --once): a pass
        starts `seconds` after the previous one started, at once if that one took longer
        (missed ticks are not made up in a burst).
        `async for _ in ctx.every(ctx.settings.poll_seconds):`"""
        n = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            yield n
            n += 1
            if self.once:
                return
            if not await self.sleep(started + seconds - time.monotonic()):
                return

    async def repeat(self, seconds: float, fn: Callable[..., Awaitable[Any]],
                     *args: Any) -> None:
        """await fn(*args) on every tick of every(seconds): a source's poll loop. A pass
        that raises (what the per-request and per-payload guards did not catch) is
        counted as an error and logged; the next pass runs on time."""
        name = getattr(fn, "__name__", "poll")
        async for _ in self.every(seconds):
            try:
                await fn(*args)
            except Exception as exc:  # a poll loop never dies of one pass
                self._unexpected(name, exc)
                self.error(f"{name}: {type(exc).__name__}: {short(str(exc), 300)}",
                           level=logging.ERROR)

    async def run_tasks(self, polls: list[Coroutine[Any, Any, Any]],
                        streams: list[Coroutine[Any, Any, Any]] | None = None, *,
                        refresh: tuple[float, Callable[[], Awaitable[bool]]] | None = None,
                        once_stream_seconds: float = 0.0) -> bool:
        """Run a source's poll loops and streams together until stopping.

        refresh = (seconds, fn): every `seconds` await fn(); when it returns True the tasks
        are stopped and run_tasks returns True (the caller rebuilds them, e.g. with a new
        symbol set). A task that dies re-raises here (the runner restarts the source). On
        stop, a poll pass in flight gets STOP_GRACE_S to finish (what it fetched is
        published), the streams are closed at once. With --once the polls make one pass;
        the streams are skipped unless once_stream_seconds > 0, then they listen that long
        after the polls' pass."""
        streams = list(streams or [])
        if self.once and once_stream_seconds <= 0:
            for c in streams:
                c.close()  # never started: no "coroutine was never awaited" warning
            streams = []
        poll_tasks = [asyncio.create_task(c) for c in polls]
        tasks = poll_tasks + [asyncio.create_task(c) for c in streams]
        try:
            if self.once:
                await asyncio.gather(*poll_tasks)
                if streams:
                    await self.sleep(once_stream_seconds)
                return False
            seconds = refresh[0] if refresh else None
            while not self.stopping.is_set():
                ended = await self._first_ended(tasks, seconds)
                if ended:
                    for t in ended:
                        if t.exception() is not None:
                            raise t.exception()  # type: ignore[misc]
                    if not self.stopping.is_set():
                        raise RuntimeError(f"{self.name}: a poll loop or stream ended "
                                           "unexpectedly")
                elif refresh and not self.stopping.is_set() and await refresh[1]():
                    return True
            return False
        finally:
            in_flight = [t for t in poll_tasks if not t.done()]
            if self.stopping.is_set() and in_flight:  # a clean stop: let a pass finish
                await asyncio.wait(in_flight, timeout=STOP_GRACE_S)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _first_ended(self, tasks: list[asyncio.Task[Any]],
                           timeout: float | None) -> set[asyncio.Task[Any]]:
        """Wait until stopping, a task ends, or timeout; return the tasks that ended."""
        stop = asyncio.create_task(self.stopping.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stop], timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return done - {stop}

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()

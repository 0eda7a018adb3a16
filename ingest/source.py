"""What a source module gets (SourceContext) and the registry of source modules.

A source module ingest/sources/<name>.py provides pure `parse_*` functions, an
`async def run(ctx)` (poll loops and streams until ctx.stopping), optionally
`async def history(ctx, start_ms, end_ms)` (an async iterator of messages, or of
(topic, message) pairs, for backfill) and `class Options(SourceOptions)` for its
`options:` in config/ingest.yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from ingest.contract import PayloadError, now_ms
from ingest.health import SourceHealth
from ingest.http import RestClient
from ingest.publisher import Sink
from ingest.settings import Budget, IngestSettings, SourceSettings, validate_options
from ingest.ws import Subscribe, WsStream

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
    health: SourceHealth | None = None
    log: logging.Logger = None  # type: ignore[assignment]
    _clients: list[RestClient] = field(default_factory=list)

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
        self.sink.publish(topic, msg)
        self.health.event(msg.get("ts"))

    def publish_all(self, topic: str, msgs: list[dict[str, Any]]) -> None:
        for msg in msgs:
            self.publish(topic, msg)

    def dead_letter(self, reason: str, raw: str | bytes | Any, where: str) -> None:
        """Send an upstream payload that could not be normalized to ingest_dead_letter."""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        elif not isinstance(raw, str):
            raw = repr(raw)
        self.health.dead_letters += 1
        self.log.warning("dead letter from %s: %s", where, reason)
        dl = getattr(self.sink, "dead_letter", None)
        if dl is not None:
            dl(self.name, reason, raw, where)

    def payload_error(self, exc: PayloadError, raw: Any = None, where: str = "") -> None:
        """Dead-letter a PayloadError (raw/where from the exception when it carries them)."""
        self.dead_letter(exc.reason, exc.raw if exc.raw is not None else raw,
                         exc.where or where)

    # -------------------------------------------------------------- time
    @staticmethod
    def clock_ms() -> int:
        return now_ms()

    async def sleep(self, seconds: float) -> bool:
        """Wait `seconds` or until stopping; True if the source should go on."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        return not self.stopping.is_set()

    async def every(self, seconds: float):
        """Async iterator ticking every `seconds` (aligned to the start, no drift) until
        stopping: `async for _ in ctx.every(ctx.settings.poll_seconds): ...`."""
        start = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            yield n
            n += 1
            if not await self.sleep(max(0.0, start + n * seconds - time.monotonic())):
                return

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()

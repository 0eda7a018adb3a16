"""WebSocket stream that survives the venue: keepalive, reconnect with backoff, resubscribe,
and a gap record for every outage.

`async for msg in WsStream(...)` yields decoded JSON messages (non-integer numbers as exact
Decimals) across reconnects until `stopping` is set. Keepalive is the protocol ping/pong
(`ping_interval`) and/or an application ping the venue asks for (Bybit {"op":"ping"},
OKX "ping" text) sent every `app_ping_interval` seconds. When the connection drops the
stream reconnects with exponential backoff and full jitter, sends the subscriptions again,
and logs a gap record {source, url, down_from_ms, down_to_ms} counted in health: the
liquidations a venue pushed in that window are missing, and the record says when.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ingest.contract import MAX_FRAME_BYTES, PayloadError, loads
from ingest.health import SourceHealth

Subscribe = Sequence[Any] | Callable[[], Sequence[Any]]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(msg: Any) -> str:
    return msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":"))


class WsStream:
    def __init__(self, source: str, url: str, subscribe: Subscribe = (), *,
                 ping_interval: float | None = 20.0, ping_timeout: float | None = 20.0,
                 app_ping: Callable[[], Any] | None = None, app_ping_interval: float = 20.0,
                 is_control: Callable[[str | bytes], bool] | None = None,
                 on_bad: Callable[[str, str], None] | None = None,
                 health: SourceHealth | None = None, stopping: asyncio.Event | None = None,
                 backoff_s: float = 1.0, backoff_max_s: float = 60.0,
                 stable_after_s: float = 30.0, open_timeout_s: float = 15.0,
                 max_frame_bytes: int = MAX_FRAME_BYTES,
                 log: logging.Logger | None = None) -> None:
        """subscribe: messages sent after every (re)connect (dicts are sent as JSON), or a
        callable returning them (when the symbol list can change between connects).
        is_control: raw frames to skip (e.g. OKX "pong"). on_bad(raw, reason): frames that
        are not JSON, and frames over max_frame_bytes (the connection is closed with 1009
        and reopened; their text is not read, the dead letter says how big they were)."""
        self.source = source
        self.url = url
        self.subscribe = subscribe
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.app_ping = app_ping
        self.app_ping_interval = app_ping_interval
        self.is_control = is_control
        self.on_bad = on_bad
        self.health = health
        self.stopping = stopping or asyncio.Event()
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stable_after_s = stable_after_s
        self.open_timeout_s = open_timeout_s
        self.max_frame_bytes = max_frame_bytes
        self.log = log or logging.getLogger(f"ingest.{source}.ws")
        self.connects = 0
        self.gaps: list[dict[str, Any]] = []

    def _subscriptions(self) -> Sequence[Any]:
        return self.subscribe() if callable(self.subscribe) else self.subscribe

    async def _pinger(self, ws: ClientConnection) -> None:
        assert self.app_ping is not None
        while True:
            await asyncio.sleep(self.app_ping_interval)
            await ws.send(_text(self.app_ping()))

    def _gap(self, down_from_ms: int, reason: str) -> None:
        gap = {"source": self.source, "url": self.url, "down_from_ms": down_from_ms,
               "down_to_ms": _now_ms(), "reason": reason}
        self.gaps.append(gap)
        if self.health is not None:
            self.health.gaps += 1
        self.log.warning("stream gap %s", json.dumps(gap))

    async def __aiter__(self) -> AsyncIterator[Any]:
        attempt = 0
        down_from: int | None = None  # set while the stream is down after having been up
        reason = ""
        while not self.stopping.is_set():
            if attempt:
                cap = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
                await asyncio.sleep(random.uniform(cap / 2, cap))
            attempt += 1
            pinger: asyncio.Task[None] | None = None
            try:
                async with connect(self.url, ping_interval=self.ping_interval,
                                   ping_timeout=self.ping_timeout, open_timeout=self.open_timeout_s,
                                   max_size=self.max_frame_bytes, close_timeout=2) as ws:
                    for sub in self._subscriptions():
                        await ws.send(_text(sub))
                    self.connects += 1
                    if down_from is not None:
                        self._gap(down_from, reason)
                        down_from = None
                    connected_at = time.monotonic()
                    if self.app_ping is not None:
                        pinger = asyncio.create_task(self._pinger(ws))
                    async for raw in ws:
                        if time.monotonic() - connected_at > self.stable_after_s:
                            attempt = 0  # a healthy connection resets the backoff
                        if self.is_control is not None and self.is_control(raw):
                            continue
                        try:
                            yield loads(raw, f"{self.source} ws {self.url}")
                        except PayloadError as exc:
                            if self.health is not None:
                                self.health.error(exc.reason)
                            if self.on_bad is not None:
                                self.on_bad(raw if isinstance(raw, str)
                                            else raw.decode("utf-8", "replace"), exc.reason)
                        if self.stopping.is_set():
                            return
                    reason = f"closed by server ({ws.close_code} {ws.close_reason or ''})".strip()
            except (ConnectionClosed, OSError, TimeoutError, InvalidHandshake) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if (isinstance(exc, ConnectionClosed) and exc.sent is not None
                        and exc.sent.code == 1009 and self.on_bad is not None):
                    self.on_bad("", f"{self.source} ws {self.url}: a frame over "
                                    f"{self.max_frame_bytes} bytes (not read; the connection "
                                    "was closed with 1009 and is reopened)")
            except InvalidURI:
                raise
            finally:
                if pinger is not None:
                    pinger.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await pinger
            if self.stopping.is_set():
                return
            if self.health is not None:
                self.health.error(f"ws {self.url}: {reason}")
            self.log.warning("%s ws %s: %s; reconnecting", self.source, self.url, reason)
            if down_from is None:
                down_from = _now_ms()

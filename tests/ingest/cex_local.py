"""A local stand-in for a venue, started by the test: an HTTP server answering scripted
responses per path (recorded fixtures, throttles, 5xx, broken bodies) and a WebSocket
server replaying recorded frames after the client subscribes (optionally dropping the
first connection). The real source module runs against both through its real clients."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve

from ingest.settings import Budget, SourceSettings
from ingest.source import SourceContext
from tests.ingest.source_harness import CollectSink


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class LocalHttp:
    """Per path: a queue of one-off replies, then a default reply served every time.
    Every request is logged as (monotonic time, path, query dict)."""

    def __init__(self) -> None:
        self.once: dict[str, deque[Reply]] = defaultdict(deque)
        self.default: dict[str, Reply] = {}
        self.by_query: dict[tuple[str, str, str], Reply] = {}
        self.log: list[tuple[float, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                outer.log.append((time.monotonic(), url.path, query))
                reply = outer._reply(url.path, query)
                data = reply.body.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _reply(self, path: str, query: dict[str, str]) -> Reply:
        if self.once[path]:
            return self.once[path].popleft()
        for (p, k, v), reply in self.by_query.items():
            if p == path and query.get(k) == v:
                return reply
        return self.default.get(path, Reply(404, '{"error":"no fixture for this path"}'))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def calls(self, path: str) -> list[tuple[float, dict[str, str]]]:
        return [(t, q) for t, p, q in self.log if p == path]

    def __enter__(self) -> LocalHttp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class LocalWs:
    """Replays `frames` to each connection once it has subscribed (`needs_subscribe`),
    answers application pings, and closes the FIRST connection after `drop_after` frames
    (the rest are sent on the next connection, after its resubscribe)."""

    def __init__(self, frames: list[str], *, needs_subscribe: bool = True,
                 drop_after: int | None = None) -> None:
        self.frames = frames
        self.needs_subscribe = needs_subscribe
        self.drop_after = drop_after
        self.received: list[tuple[int, str]] = []  # (connection number, text)
        self.connections = 0
        self.sent = 0
        self._server: Any = None

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        conn = self.connections
        subscribed = asyncio.Event()
        if not self.needs_subscribe:
            subscribed.set()

        async def reader() -> None:
            async for text in ws:
                self.received.append((conn, text))
                if text == "ping":  # OKX
                    await ws.send("pong")
                elif '"op":"ping"' in text.replace(" ", ""):  # Bybit
                    await ws.send(json.dumps({"success": True, "ret_msg": "pong",
                                              "op": "ping"}))
                elif "subscribe" in text:
                    subscribed.set()

        task = asyncio.create_task(reader())
        try:
            await asyncio.wait_for(subscribed.wait(), 10)
            while self.sent < len(self.frames):
                if conn == 1 and self.drop_after is not None and self.sent >= self.drop_after:
                    await ws.close(1011, "test drops the stream")
                    return
                await ws.send(self.frames[self.sent])
                self.sent += 1
            await ws.wait_closed()  # stay open and quiet, like a venue between events
        finally:
            task.cancel()

    async def __aenter__(self) -> LocalWs:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def subscribes(self, conn: int) -> list[str]:
        return [t for c, t in self.received if c == conn and "subscribe" in t]


def context(name: str, module: Any, http: LocalHttp, ws_url: str, sink: CollectSink, *,
            options: dict[str, Any] | None = None, poll_seconds: float = 0.3,
            budget: Budget | None = None) -> SourceContext:
    settings = SourceSettings(rest_url=http.url, ws_url=ws_url, poll_seconds=poll_seconds,
                              budget=budget or Budget(requests=1000, per_seconds=1))
    opts = module.Options.model_validate(options or {})
    return SourceContext(name=name, settings=settings, sink=sink, options=opts)

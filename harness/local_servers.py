"""Local stand-ins for the services the project talks to, on 127.0.0.1 and an ephemeral
port, for tests and bench (no internet): an HTTP server with scripted replies and a
WebSocket server with scripted frames.

HTTP (threads):
    server = HttpServer().start()
    server.add("/v5/market/tickers", Reply(200, recorded.text("bybit", "tickers.json")))
    server.add("/api", Reply(429, "", {"Retry-After": "1"}), Reply(200, "{}"))
    ... server.url, server.requests  # [Seen(method, path, query, headers, body, at)]
    server.stop()
  Replies queued for a path are served in order; the last one repeats.

WebSocket (async, inside the caller's event loop):
    async with WsServer(on_message=...) as ws:
        ws.url; await ws.push(frame); await ws.drop(); ws.received  # [(conn no, text)]
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve


@dataclass
class Reply:
    status: int = 200
    body: str | bytes | Any = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


class HttpServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply | Callable[[Seen], Reply]]] = (
            defaultdict(list))
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parts.path, dict(parse_qsl(parts.query)),
                            {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length) if length else b"", time.monotonic())
                server.requests.append(seen)
                queue = server.routes.get((self.command, parts.path))
                if not queue:
                    reply = Reply(404, f"no route {self.command} {parts.path}")
                else:
                    item = queue.pop(0) if len(queue) > 1 else queue[0]
                    reply = item(seen) if callable(item) else item
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.payload()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, *replies: Reply | Callable[[Seen], Reply],
            method: str = "GET") -> None:
        self.routes[(method, path)].extend(replies)

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class WsServer:
    """A WebSocket server in the running loop. on_message(conn_no, text) may return a
    reply frame (str or JSON-able) or None. Frames pushed go to the newest connection."""

    def __init__(self, on_message: Callable[[int, str], Any] | None = None,
                 on_connect: Callable[[int], list[Any]] | None = None) -> None:
        self.on_message = on_message
        self.on_connect = on_connect
        self.received: list[tuple[int, str]] = []
        self.connections: list[ServerConnection] = []
        self.connected = asyncio.Event()
        self._server: Any = None

    async def _handler(self, conn: ServerConnection) -> None:
        self.connections.append(conn)
        n = len(self.connections)
        self.connected.set()
        for frame in (self.on_connect(n) if self.on_connect else []):
            await conn.send(frame if isinstance(frame, str) else json.dumps(frame))
        async for text in conn:
            self.received.append((n, text if isinstance(text, str) else text.decode()))
            if self.on_message is not None:
                reply = self.on_message(n, text)
                if reply is not None:
                    await conn.send(reply if isinstance(reply, str) else json.dumps(reply))

    async def __aenter__(self) -> WsServer:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}"

    async def wait_connections(self, n: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.connections) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.connections)} connections, wanted {n}")
            await asyncio.sleep(0.01)

    async def push(self, frame: Any) -> None:
        await self.connections[-1].send(frame if isinstance(frame, str) else json.dumps(frame))

    async def drop(self) -> None:
        """Cut the newest connection without a close handshake (as a network failure)."""
        self.connections[-1].transport.abort()

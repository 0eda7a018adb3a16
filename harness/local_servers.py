"""Local stand-ins for the services the project talks to (venues, chains, notifier
endpoints), on 127.0.0.1 and an ephemeral port, for tests and bench: no internet. One HTTP
server with scripted replies, one WebSocket server with scripted frames, one Reply, one
Seen.

HTTP (threads; a context manager, or start()/stop(); keep_alive=True for HTTP/1.1):
    with HttpServer() as http:                       # unrouted requests: 404
        http.add("/v5/market/tickers", Reply(body=recorded.text("bybit", "tickers_linear.json")))
        http.add("/api", Reply(429, "", {"Retry-After": "1"}), Reply(200, "{}"))
        http.add("/v5/market/account-ratio", Reply(body=page), query={"symbol": "BTCUSDT"})
        http.add("/info", Reply(body="{}"), method="POST")
        ... http.url, http.requests            # [Seen(method, path, query, ..., status)]
  Per path: the one-off replies queued in `once[path]` are served first, in order; then a
  reply routed by query (`by_query[(path, key, value)]`); then the path's `default`.
  add(path, *replies) queues all but the last and makes the last the default, so "served
  in order, the last one repeats", for one method (GET unless told). A reply may be a
  function of the Seen request. HttpServer(default=Reply(200)) answers every other path
  too (webhooks); then(*replies) queues one-off replies for whatever path comes next.

WebSocket (async, in the caller's event loop):
    async with WsServer(on_message=..., on_connect=...) as ws:
        ws.url; await ws.push(frame); await ws.drop(); ws.received  # [(conn no, text)]
    async with WsServer(frames, drop_after=2) as ws:  # a venue's stream, replayed
  With `frames`, each connection gets them after it subscribes (the first connection is
  closed after `drop_after` frames, the rest go to the next one, after its resubscribe),
  and the venues' application pings are answered (venue_keepalive).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # recorded payloads are read with exact decimals
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a str or bytes body is sent as is, anything else as JSON."""

    status: int = 200
    body: str | bytes | Any = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def of(cls, recorded: dict[str, Any]) -> Reply:
        """From a recorded answer {"status", "headers", "body"} (harness/recorded/)."""
        return cls(recorded["status"], recorded.get("body", ""), recorded.get("headers", {}))

    def payload(self) -> bytes:
        if self.status == 204:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, default=_json_default).encode()

    def content_type(self) -> str:
        if not isinstance(self.body, str | bytes):
            return "application/json"
        head = self.body[:1]
        return "application/json" if head in ("{", "[", b"{", b"[") else "text/plain; charset=utf-8"


@dataclass
class Seen:
    """One request the server got, and the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Answer = Reply | Callable[[Seen], Reply]


class HttpServer:
    def __init__(self, default: Reply | None = None, *, keep_alive: bool = False) -> None:
        self.once: defaultdict[str, deque[Answer]] = defaultdict(deque)
        self.by_query: dict[tuple[str, str, str], Answer] = {}
        self.default: dict[str, Answer] = {}
        self.script: deque[Answer] = deque()
        self.methods: dict[str, str] = {}  # path -> the only method add() routed for it
        self.fallback = default or Reply(404, '{"error":"no reply scripted for this path"}')
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parts.path, dict(parse_qsl(parts.query)),
                            {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length) if length else b"", time.monotonic())
                with server._lock:
                    server.requests.append(seen)  # in arrival order
                    answer = server._answer(seen)
                reply = answer(seen) if callable(answer) else answer
                seen.status = reply.status
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.payload()
                self.send_response(reply.status)
                for k, v in {"Content-Type": reply.content_type(), **reply.headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve
            # HTTP/1.1 keeps connections open, as the venues' servers do (bench.ingest_live).
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    def _answer(self, seen: Seen) -> Answer:
        if self.script:
            return self.script.popleft()
        if self.methods.get(seen.path, seen.method) != seen.method:
            return self.fallback
        if self.once[seen.path]:
            return self.once[seen.path].popleft()
        for (path, key, value), answer in self.by_query.items():
            if path == seen.path and seen.query.get(key) == value:
                return answer
        return self.default.get(seen.path, self.fallback)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, *replies: Answer, method: str = "GET",
            query: dict[str, str] | None = None) -> None:
        """Replies to `method` requests for `path`: served in order, the last one repeats
        (after any added before). With `query` (one key and value): only for requests
        that carry it."""
        if not replies:
            raise ValueError("add() needs at least one reply")
        with self._lock:
            self.methods[path] = method
            if query is not None:
                ((key, value),) = query.items()
                self.by_query[(path, key, value)] = replies[-1]
                return
            if path in self.default:
                self.once[path].append(self.default[path])
            self.once[path].extend(replies[:-1])
            self.default[path] = replies[-1]

    def then(self, *replies: Answer) -> HttpServer:
        """One-off replies for the next requests, whatever their path."""
        with self._lock:
            self.script.extend(replies)
        return self

    def calls(self, path: str) -> list[tuple[float, dict[str, str]]]:
        """(time.monotonic(), query) of each request for `path`."""
        return [(s.at, s.query) for s in self.requests if s.path == path]

    def delivered(self) -> list[Seen]:
        """The requests this server accepted (2xx)."""
        return [s for s in self.requests if 200 <= s.status < 300]

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (also for a server never started)."""
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def venue_keepalive(text: str) -> str | None:
    """The answer to a venue client's application ping: OKX "ping", Bybit op "ping"."""
    if text == "ping":
        return "pong"
    if '"op":"ping"' in text.replace(" ", ""):
        return json.dumps({"success": True, "ret_msg": "pong", "op": "ping"})
    return None


class WsServer:
    """A WebSocket server in the running loop. on_connect(conn_no) may return frames to
    send first; on_message(conn_no, text) may return a reply (str or JSON-able) or None;
    on_close(conn_no) is told when a connection ends. push() sends to the newest
    connection. With `frames`: a venue's stream replayed (see the module's doc)."""

    def __init__(self, frames: list[str] | None = None, *,
                 on_message: Callable[[int, str], Any] | None = None,
                 on_connect: Callable[[int], list[Any]] | None = None,
                 on_close: Callable[[int], None] | None = None,
                 needs_subscribe: bool = True, drop_after: int | None = None,
                 max_size: int = 2**20) -> None:
        self.frames = frames
        self.on_message = on_message or (
            (lambda _n, text: venue_keepalive(text)) if frames is not None else None)
        self.on_connect = on_connect
        self.on_close = on_close
        self.needs_subscribe = needs_subscribe
        self.drop_after = drop_after
        self.max_size = max_size
        self.received: list[tuple[int, str]] = []  # (connection number, text)
        self.connections: list[ServerConnection] = []
        self.connected = asyncio.Event()
        self.sent = 0  # frames of `frames` sent so far, over all connections
        self._server: Any = None

    @staticmethod
    def _text(frame: Any) -> str:
        return frame if isinstance(frame, str) else json.dumps(frame)

    async def _read(self, conn: ServerConnection, n: int, subscribed: asyncio.Event) -> None:
        async for raw in conn:
            text = raw if isinstance(raw, str) else raw.decode()
            self.received.append((n, text))
            reply = self.on_message(n, text) if self.on_message is not None else None
            if reply is not None:
                await conn.send(self._text(reply))
            elif "subscribe" in text:
                subscribed.set()

    async def _replay(self, conn: ServerConnection, n: int, subscribed: asyncio.Event) -> None:
        assert self.frames is not None
        await asyncio.wait_for(subscribed.wait(), 10)
        while self.sent < len(self.frames):
            if n == 1 and self.drop_after is not None and self.sent >= self.drop_after:
                await conn.close(1011, "the test drops the stream")
                return
            await conn.send(self.frames[self.sent])
            self.sent += 1

    async def _handler(self, conn: ServerConnection) -> None:
        self.connections.append(conn)
        n = len(self.connections)
        self.connected.set()
        subscribed = asyncio.Event()
        if not self.needs_subscribe or self.frames is None:
            subscribed.set()
        reader: asyncio.Task[None] | None = None
        try:
            for frame in (self.on_connect(n) if self.on_connect else []):
                await conn.send(self._text(frame))
            reader = asyncio.create_task(self._read(conn, n, subscribed))
            if self.frames is not None:
                await self._replay(conn, n, subscribed)
            await reader  # open and quiet until the client goes, like a venue between events
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            if reader is not None:
                reader.cancel()
            if self.on_close is not None:
                self.on_close(n)

    async def __aenter__(self) -> WsServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, max_size=self.max_size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        return next(iter(self._server.sockets)).getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def path(self, n: int) -> str:
        """The request path connection `n` (from 1) opened."""
        request = self.connections[n - 1].request
        return request.path if request is not None else "/"

    def subscribes(self, n: int) -> list[str]:
        """The subscribe messages connection `n` sent."""
        return [t for c, t in self.received if c == n and "subscribe" in t]

    async def wait_connections(self, n: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.connections) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.connections)} connections, wanted {n}")
            await asyncio.sleep(0.01)

    async def push(self, frame: Any, n: int | None = None) -> None:
        """Send a frame to connection `n`, or to the newest."""
        await self.connections[(n or len(self.connections)) - 1].send(self._text(frame))

    async def drop(self) -> None:
        """Cut the newest connection without a close handshake (as a network failure)."""
        self.connections[-1].transport.abort()

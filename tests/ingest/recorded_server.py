"""A local HTTP server that answers with recorded venue payloads, for source tests.

Routes map (method, path) to a list of scripted answers served in order (the last one
repeats); every request is recorded (path, query, headers, JSON body) so tests can check
what the client sent. Runs in a background thread on 127.0.0.1 with a free port.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(source: str, name: str) -> bytes:
    return (FIXTURES / source / name).read_bytes()


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
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
    body: Any


class RecordedServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(method, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()},
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw) if raw else None)
                answer = server.next_answer(seen)
                payload = answer.encoded()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, method: str, path: str, *answers: Answer) -> None:
        with self._lock:
            self.routes[(method, path)] = list(answers)

    def next_answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            queue = self.routes.get((seen.method, seen.path))
            if not queue:
                return Answer(404, {"error": f"no route {seen.method} {seen.path}"})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> RecordedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- running a source


class CollectSink:
    """The Sink a SourceContext writes to, keeping messages in memory (the Kafka path is
    covered by the stack test)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.dead_letters: list[dict[str, Any]] = []

    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        self.messages.append((topic, msg))

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        self.dead_letters.append({"source": source, "reason": reason, "raw": raw,
                                  "where": where})

    def close(self, timeout_s: float = 30) -> None:
        pass

    def topic(self, name: str) -> list[dict[str, Any]]:
        return [m for t, m in self.messages if t == name]


def make_ctx(name: str, module: Any, url: str, *, options: dict[str, Any] | None = None,
             **settings: Any) -> Any:
    """A real SourceContext for `module` pointed at the local server."""
    from ingest.settings import SourceSettings
    from ingest.source import SourceContext

    section = SourceSettings(rest_url=url, **settings)
    opts = module.Options.model_validate(options or {})
    return SourceContext(name=name, settings=section, sink=CollectSink(), options=opts)


async def run_until(ctx: Any, run: Any, done: Any, timeout_s: float = 20.0) -> None:
    """Run `run(ctx)` until `done()` is true (checked every 20 ms), then stop it cleanly;
    fails if it does not happen within timeout_s or if the source raised."""
    import asyncio

    task = asyncio.create_task(run(ctx))
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not done():
            if task.done():
                task.result()  # re-raise what the source raised
                raise AssertionError("the source returned before the condition held")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not reached within {timeout_s} s")
            await asyncio.sleep(0.02)
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(task, 10)
        await ctx.aclose()

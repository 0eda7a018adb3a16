"""A local HTTP server for the notifier tests: answers each request with the next scripted
response (then the default one) and records every request it got."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = ""  # a str is sent as text, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, recorded: dict[str, Any]) -> Reply:
        """From a fixture entry {"status", "headers", "body"}."""
        return cls(recorded["status"], recorded.get("body", ""), recorded.get("headers", {}))


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float
    status: int  # what the server answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class RecordingServer:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.script: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls do_<METHOD>
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    reply = owner.script.popleft() if owner.script else owner.default
                    parts = urllib.parse.urlsplit(self.path)
                    owner.seen.append(Seen(
                        "POST", parts.path, urllib.parse.parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()}, body,
                        time.monotonic(), reply.status))
                text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                payload = b"" if reply.status == 204 else text.encode()
                self.send_response(reply.status)
                ctype = "text/plain" if isinstance(reply.body, str) else "application/json"
                for name, value in {"Content-Type": ctype, **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def then(self, *replies: Reply) -> RecordingServer:
        with self._lock:
            self.script.extend(replies)
        return self

    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def delivered(self) -> list[Seen]:
        """The requests this server accepted (2xx)."""
        return [s for s in self.requests() if 200 <= s.status < 300]

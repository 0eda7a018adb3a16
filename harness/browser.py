"""Headless Chromium (the Debian package `chromium`, installed by `make setup`) driven over
its DevTools protocol, so a test can open a page the project writes and check what a person
would see: every image loaded, no console error, nothing fetched from the network, and a
screenshot. No browser download and no Node: one WebSocket (the `websockets` package).

    with Browser() as b:
        page = b.open(path.as_uri())
        assert page.images_ok and not page.errors
        b.screenshot(tmp / "page.png")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Without the networking flags Chromium's own background connections are refused on a
# closed network and logged; a fresh profile per run keeps runs independent.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-port=0")


class BrowserError(RuntimeError):
    pass


def executable() -> str:
    """The Chromium binary, or a BrowserError saying how to install it."""
    for name in (os.environ.get("LCM_CHROMIUM"), *CANDIDATES):
        if name and (path := shutil.which(name)):
            return path
    raise BrowserError("no Chromium found: install the Debian package (apt-get install "
                       "chromium; `make setup` does it as root) or set LCM_CHROMIUM")


@dataclass
class Page:
    url: str
    images: list[dict[str, Any]]  # src, loaded, width, height of every <img>
    errors: list[str]  # console errors, uncaught exceptions, failed loads
    requests: list[str]  # every URL the page asked for
    text: str  # document.body.innerText
    links: list[str] = field(default_factory=list)  # every <a href>, resolved

    @property
    def images_ok(self) -> bool:
        return bool(self.images) and all(i["loaded"] for i in self.images)


class Browser:
    def __init__(self, width: int = 1280, height: int = 900, timeout_s: float = 60) -> None:
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile = ""
        self._ws: Any = None
        self._sockets = contextlib.ExitStack()
        self._id = 0
        self._events: list[dict[str, Any]] = []

    # --- process ------------------------------------------------------------------------
    def __enter__(self) -> Browser:
        self._profile = tempfile.mkdtemp(prefix="lcm-chromium-")
        self._proc = subprocess.Popen(
            [executable(), *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port = self._port()
            target = self._http(port, "/json/list")
            page = next(t for t in target if t.get("type") == "page")
            self._ws = self._sockets.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024,
                        open_timeout=self.timeout_s))
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=self.width,
                      height=self.height, deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._sockets.close()
        self._ws = None
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)  # the browser and its helpers
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
            self._proc = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = ""

    def _port(self) -> int:
        """Chromium writes the port it chose into the profile once it listens."""
        marker = Path(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrowserError(f"Chromium exited at start with status {self._proc.returncode}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(marker.read_text().splitlines()[0])
            time.sleep(0.1)
        raise BrowserError(f"Chromium did not open its DevTools port in {self.timeout_s:.0f} s")

    @staticmethod
    def _http(port: int, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return json.load(r)

    # --- protocol -------------------------------------------------------------------------
    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events meanwhile are kept."""
        self._id += 1
        my_id = self._id
        self._ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout_s
        while True:
            msg = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._events.append(msg)

    def _wait_for(self, method: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not any(e.get("method") == method for e in self._events):
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no {method} within {self.timeout_s:.0f} s")
            with contextlib.suppress(TimeoutError):
                self._events.append(json.loads(self._ws.recv(timeout=left)))

    def evaluate(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression[:60]}...: {r['exceptionDetails']}")
        return r["result"].get("value")

    # --- what a test asks -----------------------------------------------------------------
    def open(self, url: str, settle_s: float = 0.5) -> Page:
        """Load the page, wait for its load event (every image fetched or failed), then
        report images, errors, requests, text and links."""
        self._events.clear()
        nav = self.call("Page.navigate", url=url)
        if nav.get("errorText"):
            raise BrowserError(f"{url}: {nav['errorText']}")
        self._wait_for("Page.loadEventFired")
        time.sleep(settle_s)
        self.evaluate("1")  # drain what arrived meanwhile
        images = self.evaluate(
            "Array.from(document.images).map(i => ({src: i.getAttribute('src'), "
            "loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth, "
            "height: i.naturalHeight}))")
        text = self.evaluate("document.body ? document.body.innerText : ''")
        hrefs = self.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        return Page(url, images, self._errors(), self._requests(), text, hrefs)

    def _errors(self) -> list[str]:
        out = []
        for e in self._events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                  for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                out.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
            elif m == "Network.loadingFailed":
                out.append(f"load failed: {p.get('errorText')} ({p.get('type')})")
        return out

    def _requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._events
                if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the window, as PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"],
                               "height": size["height"], "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

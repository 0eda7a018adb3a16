"""REST client for venue APIs: a request budget below the venue's limit, throttling
answers honoured, transient failures retried with backoff and jitter.

- Budget: a token bucket (`requests` per `per_seconds`, a call may cost more than 1, e.g.
  Binance weights). Every request of one client waits for a token.
- 429 (rate limited), 418 (Binance IP ban) and 403 (Bybit "access too frequent", also
  CloudFront geo blocks) pause the WHOLE client until Retry-After (seconds or HTTP date)
  or, without it, a default window per status; then the request is retried.
- 5xx and transport errors: retried with exponential backoff and full jitter (tenacity).
- 451 (restricted location) and other 4xx: no retry, HttpError naming status and path.
- A body that is not JSON: PayloadError carrying the raw text (the caller dead-letters it).
Query parameters whose names look like secrets are redacted in every log line and error.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from ingest.contract import MAX_PAYLOAD_BYTES, PayloadError, loads
from ingest.health import SourceHealth
from ingest.settings import Budget

SECRET_PARAM = re.compile(r"key|token|secret|sign|pass", re.IGNORECASE)
# Default pause when a throttle answer has no Retry-After (seconds).
THROTTLE_DEFAULTS = {429: 5.0, 418: 120.0, 403: 600.0}
# httpx logs every request URL at INFO, query string included (Etherscan's apikey): keep it
# quiet; this module logs redacted lines itself.
logging.getLogger("httpx").setLevel(logging.WARNING)
RAW_LIMIT = 100_000  # characters of a bad body kept for the dead letter
MAX_RETRY_AFTER_S = 3600.0  # a longer (or absurd: 1e9, inf) Retry-After waits this long


class HttpError(RuntimeError):
    """A request that failed for good (after retries, or a status not worth retrying)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Retry(Exception):
    """A failure worth retrying; `throttled` ones wait on the bucket's pause instead of
    the backoff."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


class TokenBucket:
    """`requests` tokens per `per_seconds`, refilled continuously; a pause (throttle or ban)
    blocks every caller until it ends."""

    def __init__(self, requests: int, per_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(requests)
        self.rate = requests / per_seconds
        self.tokens = float(requests)
        self.clock = clock
        self.updated = clock()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause_until(self, deadline: float) -> None:
        self.paused_until = max(self.paused_until, deadline)
        self.tokens = 0.0  # after a ban, start slowly again

    async def acquire(self, cost: float = 1.0) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:  # FIFO: callers get tokens in the order they asked
            while True:
                now = self.clock()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= cost:
                    self.tokens -= cost
                    return
                await asyncio.sleep((cost - self.tokens) / self.rate)


def retry_after_seconds(value: str | None, now: float | None = None,
                        cap_s: float = MAX_RETRY_AFTER_S) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3), at most
    cap_s (a venue asking for more is asked again after cap_s); None when unreadable
    (NaN, text), so the status's default applies."""
    if not value:
        return None
    value = value.strip()[:64]
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(cap_s, max(0.0, seconds))


def redact(params: dict[str, Any] | None) -> dict[str, Any]:
    return {k: ("***" if SECRET_PARAM.search(k) else v) for k, v in (params or {}).items()}


class RestClient:
    """Async JSON client for one venue; one per base URL, shared by the source's loops."""

    def __init__(self, source: str, base_url: str, budget: Budget | None = None, *,
                 health: SourceHealth | None = None, headers: dict[str, str] | None = None,
                 timeout_s: float = 15.0, max_attempts: int = 5, backoff_s: float = 0.5,
                 backoff_max_s: float = 60.0, throttle_defaults: dict[int, float] | None = None,
                 max_body_bytes: int = MAX_PAYLOAD_BYTES, log: logging.Logger | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.bucket = TokenBucket(budget.requests, budget.per_seconds) if budget else None
        self.health = health
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.throttle_defaults = {**THROTTLE_DEFAULTS, **(throttle_defaults or {})}
        self.log = log or logging.getLogger(f"ingest.{source}.http")
        self.max_body_bytes = max_body_bytes
        self.requests = 0
        self.throttled = 0
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                         timeout=timeout_s, transport=transport,
                                         follow_redirects=False)

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, path: str, params: dict[str, Any] | None = None,
                       headers: dict[str, str] | None = None, *, cost: float = 1.0) -> Any:
        """GET base_url+path and decode JSON (non-integer numbers as exact Decimals)."""
        return await self.request_json("GET", path, params=params, headers=headers, cost=cost)

    async def post_json(self, path: str, body: Any, headers: dict[str, str] | None = None, *,
                        cost: float = 1.0) -> Any:
        """POST a JSON body (Hyperliquid /info) and decode the JSON answer."""
        return await self.request_json("POST", path, json_body=body, headers=headers, cost=cost)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.throttled:
            return 0.0  # the bucket's pause does the waiting, for every caller at once
        cap = min(self.backoff_max_s, self.backoff_s * 2 ** (state.attempt_number - 1))
        return random.uniform(0, cap)  # full jitter: clients that failed together spread out

    async def request_json(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                           json_body: Any = None, headers: dict[str, str] | None = None,
                           cost: float = 1.0) -> Any:
        where = f"{method} {path} {redact(params)}" if params else f"{method} {path}"
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retry), wait=self._wait,
            stop=stop_after_attempt(self.max_attempts), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, path, params, json_body, headers, cost, where)
        except _Retry as exc:
            self._error(f"{where}: gave up after {self.max_attempts} attempts: {exc}")
            raise HttpError(f"{self.source}: {where}: gave up after {self.max_attempts} "
                            f"attempts: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, reason: str) -> None:
        if self.health is not None:
            self.health.error(reason)

    async def _once(self, method: str, path: str, params: dict[str, Any] | None,
                    json_body: Any, headers: dict[str, str] | None, cost: float,
                    where: str) -> Any:
        if self.bucket is not None:
            await self.bucket.acquire(cost)
        self.requests += 1
        try:
            request = self._client.build_request(method, path, params=params, json=json_body,
                                                 headers=headers)
            resp = await self._client.send(request, stream=True)
            try:
                body = await self._read(resp, where)
            finally:
                await resp.aclose()
        except httpx.TransportError as exc:
            self._error(f"{where}: {type(exc).__name__}")
            self.log.warning("%s %s: %s, will retry", self.source, where, type(exc).__name__)
            raise _Retry(f"{type(exc).__name__}") from None
        except httpx.DecodingError as exc:  # a body its Content-Encoding cannot undo
            self._error(f"{where}: undecodable body")
            raise PayloadError(f"{self.source} {where}: body cannot be decoded ({exc})",
                               raw="", where=where) from None
        status = resp.status_code
        text = body[:RAW_LIMIT * 4].decode("utf-8", "replace")
        if status in self.throttle_defaults:
            wait = retry_after_seconds(resp.headers.get("Retry-After"))
            if wait is None:
                wait = self.throttle_defaults[status]
            self.throttled += 1
            self._error(f"{where}: HTTP {status}, paused {wait:.0f} s")
            self.log.warning("%s %s: HTTP %s (%s), pausing every request for %.1f s",
                             self.source, where, status,
                             "IP ban" if status == 418 else "throttled or forbidden"
                             if status == 403 else "rate limited", wait)
            if self.bucket is None:  # no shared bucket: this request waits alone
                await asyncio.sleep(wait)
            else:
                self.bucket.pause_until(self.bucket.clock() + wait)
            raise _Retry(f"HTTP {status}", throttled=True)
        if status >= 500:
            self._error(f"{where}: HTTP {status}")
            self.log.warning("%s %s: HTTP %s, will retry", self.source, where, status)
            raise _Retry(f"HTTP {status}")
        if status >= 400:
            self._error(f"{where}: HTTP {status}")
            hint = " (restricted location: run from an allowed region)" if status == 451 else ""
            raise HttpError(f"{self.source}: {where}: HTTP {status}{hint}: "
                            f"{text[:200]}", status)
        try:
            return loads(body, f"{self.source} {where}")
        except PayloadError as exc:
            self._error(exc.reason)
            exc.raw = text[:RAW_LIMIT]  # the caller dead-letters it
            exc.where = where
            raise

    async def _read(self, resp: httpx.Response, where: str) -> bytes:
        """The body, read up to max_body_bytes: a larger one is refused (PayloadError with
        its beginning) without reading the rest."""
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > self.max_body_bytes:
                head = b"".join(chunks)[:RAW_LIMIT].decode("utf-8", "replace")
                self._error(f"{where}: body over {self.max_body_bytes} bytes")
                raise PayloadError(f"{self.source} {where}: body over {self.max_body_bytes} "
                                   "bytes (not read further)", raw=head, where=where)
            chunks.append(chunk)
        return b"".join(chunks)

"""The loop plumbing shared by the Bybit, OKX and Binance sources: parse-or-dead-letter,
publish a parser's (topic, message) pairs, a GET that never breaks a poll loop, and a
stoppable periodic loop. Parsing stays in the venue modules (pure functions)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from ingest.contract import PayloadError
from ingest.http import HttpError

Out = list[tuple[str, dict[str, Any]]]  # what every parser returns: (topic, contract message)


def raw_text(raw: Any) -> str:
    """The upstream payload as text for the dead-letter topic (decoded JSON back to JSON;
    exact Decimals are written as their digits)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return json.dumps(raw, default=str, separators=(",", ":"))


def guard(ctx: Any, where: str, raw: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), or None after sending `raw` to the dead-letter topic with the reason."""
    try:
        return fn(*args)
    except PayloadError as exc:
        ctx.dead_letter(exc.reason, raw_text(raw), where)
        return None


def split_data(msg: Any) -> list[Any]:
    """A push whose `data` is an array, as one push per element (same envelope), so a
    parser rejects only the element it cannot read; anything else is returned whole."""
    data = msg.get("data") if isinstance(msg, dict) else None
    if not isinstance(data, list) or len(data) < 2:
        return [msg]
    return [{**msg, "data": [item]} for item in data]


def publish(ctx: Any, out: Iterable[tuple[str, dict[str, Any]]] | None) -> int:
    n = 0
    for topic, msg in out or ():
        ctx.publish(topic, msg)
        n += 1
    return n


async def get(ctx: Any, http: Any, path: str, params: dict[str, Any] | None = None, *,
              cost: float = 1.0) -> Any | None:
    """GET JSON, or None: a body that is not JSON goes to the dead letters, an HTTP failure
    (after the client's retries) is logged; the poll loop carries on either way."""
    try:
        return await http.get_json(path, params, cost=cost)
    except PayloadError as exc:
        ctx.dead_letter(exc.reason, exc.raw if exc.raw is not None else "", exc.where or path)
    except HttpError as exc:
        ctx.log.warning("%s", exc)
    return None


async def every(ctx: Any, seconds: float, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """await fn(*args) now and then every `seconds` until ctx.stopping; with ctx.once
    (`python -m ingest <source> --once`) a single pass."""
    while not ctx.stopping.is_set():
        await fn(*args)
        if ctx.once or not await ctx.sleep(seconds):
            return


async def run_tasks(ctx: Any, polls: list[Coroutine[Any, Any, Any]],
                    streams: list[Coroutine[Any, Any, Any]], *,
                    refresh: tuple[float, Callable[[], Awaitable[bool]]] | None = None,
                    once_stream_seconds: float = 0.0) -> bool:
    """Run a source's poll loops and streams together until ctx.stopping.

    refresh = (seconds, fn): every `seconds` await fn(); when it returns True the tasks are
    stopped and run_tasks returns True (the caller rebuilds them, e.g. with a new symbol
    set). A task that dies re-raises here (the runner restarts the source). With ctx.once
    (--once) the polls make one pass; the streams are skipped unless once_stream_seconds
    > 0, then they listen that long after the polls' pass."""
    if ctx.once and once_stream_seconds <= 0:
        for c in streams:
            c.close()  # never started: no "coroutine was never awaited" warning
        streams = []
    poll_tasks = [asyncio.create_task(c) for c in polls]
    tasks = poll_tasks + [asyncio.create_task(c) for c in streams]
    try:
        if ctx.once:
            await asyncio.gather(*poll_tasks)
            if streams:
                await ctx.sleep(once_stream_seconds)
            return False
        seconds = refresh[0] if refresh else None
        while not ctx.stopping.is_set():
            ended = await _first_ended(ctx, tasks, seconds)
            if ended:
                for t in ended:
                    if t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
                if not ctx.stopping.is_set():
                    raise RuntimeError(f"{ctx.name}: a poll loop or stream ended unexpectedly")
            elif refresh and not ctx.stopping.is_set() and await refresh[1]():
                return True
        return False
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _first_ended(ctx: Any, tasks: list[asyncio.Task[Any]],
                       timeout: float | None) -> set[asyncio.Task[Any]]:
    """Wait until ctx.stopping, a task ends, or timeout; return the tasks that ended."""
    stop = asyncio.create_task(ctx.stopping.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stop], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    return done - {stop}


async def load_when_reachable(ctx: Any, load: Callable[[], Awaitable[dict[str, Any]]],
                              retry_seconds: float = 300) -> dict[str, Any]:
    """The venue's instrument list, retried every `retry_seconds` while it cannot be read
    (outage, geo block): the source stays up and says why in its log and health."""
    while True:
        try:
            return await load()
        except (HttpError, PayloadError) as exc:
            _dead_letter_body(ctx, exc)
            ctx.health.error(f"instruments: {exc}")
            ctx.log.error("%s: cannot load instruments (%s); retrying in %.0f s", ctx.name,
                          exc, retry_seconds)
            if ctx.once or not await ctx.sleep(retry_seconds):
                return {}


async def reload_into(ctx: Any, load: Callable[[], Awaitable[dict[str, Any]]],
                      instruments: dict[str, Any],
                      errors: tuple[type[Exception], ...] = (HttpError, PayloadError)) -> bool:
    """Reload the instruments into the dict the loops and parsers share (a changed
    funding interval or contract value is picked up in place); True when the set of
    symbols changed. A failed reload keeps the old list."""
    try:
        fresh = await load()
    except errors as exc:
        _dead_letter_body(ctx, exc)
        ctx.log.warning("%s: instrument refresh failed, keeping the old list: %s", ctx.name, exc)
        return False
    changed = fresh.keys() != instruments.keys()
    instruments.clear()
    instruments.update(fresh)
    return changed


def _dead_letter_body(ctx: Any, exc: Exception) -> None:
    """A body that was not JSON (the client attached it) goes to the dead letters; a
    venue's well-formed refusal (retCode/code != 0, HTTP errors) is only logged."""
    if isinstance(exc, PayloadError) and exc.raw is not None:
        ctx.payload_error(exc)


class Reloader:
    """Reloads the shared instrument dict when a stream names a symbol it does not know
    (a listing since the last load), at most once per `min_interval_s`, so the push can
    be parsed instead of dead-lettered."""

    def __init__(self, ctx: Any, load: Callable[[], Awaitable[dict[str, Any]]],
                 instruments: dict[str, Any], min_interval_s: float = 60.0,
                 errors: tuple[type[Exception], ...] = (HttpError, PayloadError)) -> None:
        self.ctx, self.load, self.instruments = ctx, load, instruments
        self.min_interval_s, self.errors = min_interval_s, errors
        self.last = float("-inf")  # the first unknown symbol reloads at once

    async def ensure(self, symbols: Iterable[Any]) -> None:
        unknown = {s for s in symbols if isinstance(s, str) and s not in self.instruments}
        if unknown and time.monotonic() - self.last >= self.min_interval_s:
            self.last = time.monotonic()
            self.ctx.log.info("%s: unknown %s in the stream: reloading instruments",
                              self.ctx.name, ", ".join(sorted(unknown)))
            await reload_into(self.ctx, self.load, self.instruments, self.errors)

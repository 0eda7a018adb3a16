"""Running a real source module against the local stand-ins of harness/local_servers.py: a
SourceContext whose sink keeps messages and dead letters in memory (the Kafka path is
covered by the stack test), and a runner that stops the source once a condition holds."""

from __future__ import annotations

from typing import Any

from harness.local_servers import HttpServer, Seen
from harness.recorded import text as fixture_text


def fixture(source: str, name: str) -> str:
    """A recorded payload (harness/recorded/<source>/ORIGIN.md says where from)."""
    return fixture_text(source, name)


def seen(server: HttpServer, path: str) -> list[Seen]:
    """The requests the server got for `path`, in order."""
    return [r for r in server.requests if r.path == path]

class CollectSink:
    """The Sink a SourceContext writes to, keeping messages in memory (the Kafka path is
    covered by the stack test)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.healths: list[dict[str, Any]] = []

    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        self.messages.append((topic, msg))

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        self.dead_letters.append({"source": source, "reason": reason, "raw": raw,
                                  "where": where})

    def health(self, record: dict[str, Any]) -> None:
        self.healths.append(record)

    def heartbeat(self, source: str, ts: int) -> None:
        pass  # the job clock is not under test here

    @property
    def backlog(self) -> int:
        return 0

    def own_health(self) -> list[Any]:
        return []

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


def context(name: str, module: Any, http: HttpServer, ws_url: str, sink: CollectSink, *,
            options: dict[str, Any] | None = None, poll_seconds: float = 0.3,
            budget: Any = None) -> Any:
    """A real SourceContext for a venue with REST and a stream, writing into `sink`."""
    from ingest.settings import Budget, SourceSettings
    from ingest.source import SourceContext

    settings = SourceSettings(rest_url=http.url, ws_url=ws_url, poll_seconds=poll_seconds,
                              budget=budget or Budget(requests=1000, per_seconds=1))
    opts = module.Options.model_validate(options or {})
    return SourceContext(name=name, settings=settings, sink=sink, options=opts)


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


def collect_history(ctx: Any, module: Any, start_ms: int, end_ms: int) -> list[tuple[str, dict]]:
    """Everything the source's history() yields for [start_ms, end_ms)."""
    import asyncio

    async def go() -> list[tuple[str, dict]]:
        try:
            return [item async for item in module.history(ctx, start_ms, end_ms)]
        finally:
            await ctx.aclose()

    return asyncio.run(go())


async def run_until_async(ctx: Any, run: Any, script: Any, timeout_s: float = 30.0) -> None:
    """Run `run(ctx)` while the coroutine `script()` drives the test servers; stop the
    source when the script returns (fails if the source raised or time ran out)."""
    import asyncio

    task = asyncio.create_task(run(ctx))
    try:
        await asyncio.wait_for(script(), timeout_s)
        if task.done():
            task.result()
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(task, 10)
        await ctx.aclose()

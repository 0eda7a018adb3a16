"""The one way a source polls, fetches, parses, dead-letters and reports health
(SourceContext), and that every source module uses it."""

from __future__ import annotations

import ast
import asyncio
import time
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from harness.local_servers import HttpServer, Reply
from ingest.contract import PayloadError
from ingest.settings import SourceSettings
from ingest.source import SOURCES, SourceContext
from lcm.deadletter import RAW_LIMIT
from tests.ingest.source_harness import CollectSink

SOURCES_DIR = Path(__file__).resolve().parents[2] / "ingest" / "sources"


def _ctx(**settings: object) -> SourceContext:
    return SourceContext("x", SourceSettings(**settings), CollectSink())


def test_every_keeps_the_period_from_start_to_start_and_never_bursts() -> None:
    """A pass slower than the period is followed at once by the next, not by the ticks it
    missed; quick passes start a period apart."""
    ctx = _ctx()

    async def go() -> list[float]:
        starts: list[float] = []
        async for n in ctx.every(0.1):
            starts.append(time.monotonic())
            if n == 0:
                await asyncio.sleep(0.35)  # misses three ticks
            if n == 3:
                ctx.stopping.set()
        return starts

    starts = asyncio.run(go())
    gaps = [b - a for a, b in pairwise(starts)]
    assert len(starts) == 4
    assert 0.33 < gaps[0] < 0.5  # right after the slow pass
    assert all(0.08 < g < 0.25 for g in gaps[1:])  # then on the period again: no burst


def test_every_ticks_once_with_once() -> None:
    ctx = _ctx()
    ctx.once = True

    async def go() -> list[int]:
        return [n async for n in ctx.every(3600)]

    assert asyncio.run(go()) == [0]


def test_fetch_dead_letters_a_bad_body_logs_an_http_failure_and_goes_on(
        http_server: HttpServer) -> None:
    http_server.add("/x", Reply(200, "<html>busy</html>"), Reply(404, "gone"),
                    Reply(200, '{"a": "1"}'))
    ctx = _ctx(rest_url=http_server.url)

    async def go() -> list[object]:
        client = ctx.http()
        try:
            return [await ctx.fetch(client.get_json("/x"), "/x") for _ in range(3)]
        finally:
            await ctx.aclose()

    assert asyncio.run(go()) == [None, None, {"a": "1"}]
    (dead,) = ctx.sink.dead_letters
    assert dead["raw"] == "<html>busy</html>" and "not JSON" in dead["reason"]
    assert dead["where"] == "GET /x" and ctx.health.dead_letters == 1
    assert ctx.health.errors == 2  # the body and the 404, counted by the client


def test_parse_returns_the_result_or_dead_letters_the_raw_payload() -> None:
    ctx = _ctx()

    def parser(row: dict) -> int:
        if "n" not in row:
            raise PayloadError("here: n: missing")
        return row["n"]

    assert ctx.parse("here", {"n": 1}, parser, {"n": 1}) == 1
    assert ctx.parse("here", {"m": Decimal("0.10")}, parser, {"m": Decimal("0.10")}) is None
    assert ctx.sink.dead_letters == [{"source": "x", "reason": "here: n: missing",
                                      "raw": '{"m":"0.10"}', "where": "here"}]


def test_dead_letter_takes_any_raw_as_bounded_text() -> None:
    ctx = _ctx()
    deep: list = []
    node = deep
    for _ in range(5000):  # deeper than json.dumps can write
        node.append([])
        node = node[0]
    for raw in (None, b"\xff\xfe bytes", "text", {"k": [1, Decimal("2.5")]}, deep,
                "x" * (RAW_LIMIT * 3), "lone \ud800 surrogate"):
        ctx.dead_letter("bad", raw, "here")
    raws = [d["raw"] for d in ctx.sink.dead_letters]
    assert raws[:4] == ["", "\ufffd\ufffd bytes", "text", '{"k":[1,"2.5"]}']
    assert raws[4].startswith("[[[[") and len(raws[4]) < 1000
    assert len(raws[5]) == RAW_LIMIT
    assert raws[5].endswith(f"[cut: {RAW_LIMIT * 3} characters in all]")
    assert raws[6] == "lone \\ud800 surrogate"  # escaped: the record can be encoded
    assert ctx.health.dead_letters == 7


def test_error_counts_in_health_and_logs(caplog) -> None:
    ctx = _ctx()
    ctx.error("subscribe refused: handler not found")
    assert ctx.health.errors == 1
    assert ctx.health.last_error == "subscribe refused: handler not found"
    assert "x: subscribe refused: handler not found" in caplog.text


def _annotations_and_calls(path: Path) -> tuple[list[str], list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotated = [f"{path.name}:{a.lineno} {a.arg}" for node in ast.walk(tree)
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                 for a in node.args.args + node.args.kwonlyargs
                 if a.arg in ("ctx", "http", "client", "sink") and (
                     a.annotation is None or ast.unparse(a.annotation) == "Any")]
    lookups = [f"{path.name}:{node.lineno} {ast.unparse(node)}" for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id in ("getattr", "hasattr") and node.args
               and ast.unparse(node.args[0]) in ("ctx", "sink", "self.sink", "self.ctx")]
    return annotated, lookups


def test_every_source_uses_the_context_plumbing() -> None:
    """No source module types its context, client or sink as Any or looks their
    attributes up by name; each module's run() goes through ctx.run_tasks."""
    untyped, lookups = [], []
    for path in [*sorted(SOURCES_DIR.glob("*.py")), SOURCES_DIR.parent / "source.py",
                 SOURCES_DIR.parent / "runner.py"]:
        a, b = _annotations_and_calls(path)
        untyped += a
        lookups += b
    assert untyped == [] and lookups == []
    for name, module in SOURCES.items():
        text = (SOURCES_DIR / f"{module.rsplit('.', 1)[1]}.py").read_text(encoding="utf-8")
        run = text[text.index("async def run(ctx: SourceContext)"):]
        assert "ctx.run_tasks(" in run.split("\n\n\n")[0], name

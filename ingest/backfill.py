"""Backfill: history for a date range into the same .jsonl.gz files `replay` reads.

The range is cut into UTC days. Each day is written to <out>/<source>-<YYYY-MM-DD>.jsonl.gz
through a .part file renamed when the day is complete, then recorded in
<out>/<source>.checkpoint.json. A rerun skips completed days, so an interrupted backfill
resumes at the first unfinished day and never writes a message twice. Messages whose ts
falls outside the day are dropped (venues return whole buckets around the edges), so
adjacent days never overlap.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from tqdm import tqdm

from ingest.contract import PayloadError, topic_of
from ingest.settings import IngestSettings
from ingest.sink import FileSink

log = logging.getLogger("ingest.backfill")
DAY_MS = 86_400_000


@dataclass
class BackfillStats:
    source: str
    days_done: int = 0
    days_skipped: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    outside: int = 0
    dead_letters: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        topics = ", ".join(f"{t}={n}" for t, n in sorted(self.messages.items())) or "none"
        text = (f"backfill {self.source}: {self.days_done} day(s) written, {self.days_skipped} "
                f"already done; messages: {topics}; outside range: {self.outside}; "
                f"dead letters: {self.dead_letters}; {self.seconds:.1f} s")
        if self.failed:
            text += "\nFAILED (rerun to resume): " + "; ".join(self.failed)
        return text


def day_chunks(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """[start, end) cut at UTC midnights."""
    out, a = [], start_ms
    while a < end_ms:
        b = min(end_ms, (a // DAY_MS + 1) * DAY_MS)
        out.append((a, b))
        a = b
    return out


def _label(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


class DayWriter(FileSink):
    """Sink for one day: envelopes to <name>.jsonl.gz.part, renamed on commit()."""

    def __init__(self, path: Path, start_ms: int, end_ms: int, stats: BackfillStats) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.start_ms, self.end_ms = start_ms, end_ms
        self.stats = stats
        self.fh: IO[bytes] = gzip.open(self.part, "wb", compresslevel=6)  # noqa: SIM115 (closed in commit)
        self.dead = (path.parent / f"{path.name.split('.')[0]}.dead_letters.jsonl")

    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        ts = msg.get("ts")
        if not isinstance(ts, int) or not self.start_ms <= ts < self.end_ms:
            self.stats.outside += 1
            return
        self.fh.write(orjson.dumps({"topic": topic, "value": msg}) + b"\n")
        self.stats.messages[topic] += 1

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        self.stats.dead_letters += 1
        self.append_dead_letter(self.dead, source, reason, raw, where)

    def commit(self) -> None:
        self.fh.close()
        self.part.rename(self.path)

    def abandon(self) -> None:
        """The day failed: drop the half-written file (the rerun writes the day again)."""
        self.fh.close()
        self.part.unlink(missing_ok=True)

    def close(self, timeout_s: float = 0) -> None:
        if not self.fh.closed:
            self.fh.close()


class Checkpoint:
    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source
        self.done: set[str] = set()
        if path.exists():
            self.done = set(json.loads(path.read_text()).get("done", []))

    def mark(self, label: str) -> None:
        self.done.add(label)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"source": self.source, "done": sorted(self.done)}, indent=1))
        tmp.replace(self.path)


def _route(item: Any) -> tuple[str, dict[str, Any]]:
    """history() may yield bare messages or (topic, message) pairs."""
    if isinstance(item, tuple) and len(item) == 2:
        return item
    return topic_of(item), item


async def backfill_source(name: str, settings: IngestSettings, start_ms: int, end_ms: int,
                          out: Path, *, progress: bool = True, module: Any = None
                          ) -> BackfillStats:
    """Call the source's `history(ctx, day_start, day_end)` for every unfinished day."""
    from ingest.source import SourceContext, load_module

    module = module or load_module(name)
    history = getattr(module, "history", None)
    if history is None:
        raise SystemExit(f"source {name} has no history() to backfill from")
    out.mkdir(parents=True, exist_ok=True)
    stats = BackfillStats(name)
    checkpoint = Checkpoint(out / f"{name}.checkpoint.json", name)
    started = time.monotonic()
    days = day_chunks(start_ms, end_ms)
    bar = tqdm(days, disable=not progress, unit="day", desc=f"backfill {name}")
    for a, b in bar:
        label = _label(a)
        path = out / f"{name}-{label}.jsonl.gz"
        if label in checkpoint.done and path.exists():
            stats.days_skipped += 1
            continue
        writer = DayWriter(path, a, b, stats)
        ctx = SourceContext.create(name, settings, writer, module)
        try:
            iterator: AsyncIterator[Any] = history(ctx, a, b)
            async for item in iterator:
                try:
                    topic, msg = _route(item)
                except PayloadError as exc:
                    ctx.dead_letter(exc.reason, repr(item), "history")
                    continue
                writer.publish(topic, msg)
            writer.commit()
            checkpoint.mark(label)
            stats.days_done += 1
        except Exception as exc:  # keep what is done; the next run resumes at this day
            writer.abandon()
            stats.failed.append(f"{label}: {type(exc).__name__}: {exc}")
            log.error("backfill %s %s failed: %s", name, label, exc)
            break
        finally:
            await ctx.aclose()
        bar.set_postfix(messages=sum(stats.messages.values()))
    bar.close()
    stats.seconds = time.monotonic() - started
    return stats


def backfill_binance_files(data: Path, start_ms: int, end_ms: int, out: Path, *,
                           symbols: Iterable[str] | None = None, progress: bool = True
                           ) -> BackfillStats:
    """Binance public data files (local) -> one .jsonl.gz per UTC day, resumable."""
    from ingest import binance_files

    out.mkdir(parents=True, exist_ok=True)
    stats = BackfillStats(binance_files.SOURCE)
    checkpoint = Checkpoint(out / f"{binance_files.SOURCE}.checkpoint.json",
                            binance_files.SOURCE)
    started = time.monotonic()
    files = binance_files.find_files(data, start_ms, end_ms, symbols)
    if not files:
        raise SystemExit(f"no Binance data files for that range under {data}")
    days = day_chunks(start_ms, end_ms)
    reported: set[str] = set()
    for a, b in tqdm(days, disable=not progress, unit="day", desc="backfill binance-files"):
        label = _label(a)
        path = out / f"{binance_files.SOURCE}-{label}.jsonl.gz"
        if label in checkpoint.done and path.exists():
            stats.days_skipped += 1
            continue
        writer = DayWriter(path, a, b, stats)
        try:
            for topic, msg in binance_files.messages(f for f in files if f.overlaps(a, b)):
                if isinstance(msg, PayloadError):
                    if msg.reason not in reported:  # a monthly file is read for many days
                        reported.add(msg.reason)
                        writer.dead_letter(binance_files.SOURCE, msg.reason, msg.raw or "",
                                           msg.where or "")
                    continue
                writer.publish(topic, msg)
            writer.commit()
        except binance_files.DataFileError as exc:
            writer.abandon()
            stats.failed.append(f"{label}: {exc}")
            break
        checkpoint.mark(label)
        stats.days_done += 1
    stats.seconds = time.monotonic() - started
    return stats

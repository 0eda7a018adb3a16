"""Recorder: normalized messages to rotating gzip JSONL files that `replay` reads.

Each line is the replay envelope {"topic": "<topic>", "value": {<message>}}. A file is
written as <name>.jsonl.gz.part and renamed to <name>.jsonl.gz when it is rotated (after
`rotate_bytes` of JSON or `rotate_seconds`) or closed, so a reader never sees a file being
written and a crash leaves at most one .part file (a valid gzip stream up to its last
flush). Dead letters go to dead_letters.jsonl beside them (replay takes data topics only).
"""

from __future__ import annotations

import gzip
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from ingest.health import SourceHealth
from ingest.sink import FileSink, Sink
from lcm.topics import DATA_TOPICS

DATA_TOPICS = frozenset(DATA_TOPICS)
FLUSH_EVERY_S = 5.0


class Recorder(FileSink):
    """A Sink writing data-topic messages to rotating .jsonl.gz files in `out_dir`."""

    def __init__(self, out_dir: Path, prefix: str = "record", *, rotate_bytes: int = 64 << 20,
                 rotate_seconds: float = 3600, compress_level: int = 6,
                 clock: Any = time.time) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.compress_level = compress_level
        self.clock = clock
        self.files: list[Path] = []  # completed files, in order
        self.lines = 0
        self.dead_letters = 0
        self._fh: IO[bytes] | None = None
        self._part: Path | None = None
        self._opened_at = 0.0
        self._flushed_at = 0.0
        self._bytes = 0
        self._n = 0
        self._lock = threading.Lock()

    def _open(self) -> None:
        stamp = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        self._n += 1
        self._part = self.out_dir / f"{self.prefix}-{stamp}-{self._n:04d}.jsonl.gz.part"
        self._fh = gzip.open(  # noqa: SIM115 (closed on rotation)
            self._part, "wb", compresslevel=self.compress_level)
        self._opened_at = self._flushed_at = self.clock()
        self._bytes = 0

    def _finish(self) -> None:
        if self._fh is None or self._part is None:
            return
        self._fh.close()
        final = self._part.with_suffix("")  # drop ".part"
        self._part.rename(final)
        self.files.append(final)
        self._fh = self._part = None

    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        if topic not in DATA_TOPICS:
            return  # heartbeats and health are live-only; replay writes its own
        line = orjson.dumps({"topic": topic, "value": msg}) + b"\n"
        with self._lock:
            now = self.clock()
            if self._fh is not None and (self._bytes >= self.rotate_bytes
                                         or now - self._opened_at >= self.rotate_seconds):
                self._finish()
            if self._fh is None:
                self._open()
            assert self._fh is not None
            self._fh.write(line)
            self._bytes += len(line)
            self.lines += 1
            if now - self._flushed_at >= FLUSH_EVERY_S:  # a crash keeps all but the last seconds
                self._fh.flush()
                self._flushed_at = now

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        with self._lock:
            self.append_dead_letter(self.out_dir / "dead_letters.jsonl", source, reason, raw,
                                    where)
            self.dead_letters += 1

    def close(self, timeout_s: float = 30) -> None:
        with self._lock:
            self._finish()


class Tee:
    """Both sinks: record to files and publish to Kafka (`record --kafka`). Every record
    goes to every sink; each decides what it keeps (the Recorder keeps no health records
    or heartbeats)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        for s in self.sinks:
            s.publish(topic, msg, key=key, partition=partition)

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        for s in self.sinks:
            s.dead_letter(source, reason, raw, where)

    def health(self, record: dict[str, Any]) -> None:
        for s in self.sinks:
            s.health(record)

    def heartbeat(self, source: str, ts: int) -> None:
        for s in self.sinks:
            s.heartbeat(source, ts)

    @property
    def backlog(self) -> int:
        return sum(s.backlog for s in self.sinks)

    def own_health(self) -> list[SourceHealth]:
        return [h for s in self.sinks for h in s.own_health()]

    def close(self, timeout_s: float = 30) -> None:
        for s in self.sinks:
            s.close(timeout_s)

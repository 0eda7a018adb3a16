"""Where a source's output goes: the Sink protocol.

Every sink (the Kafka Publisher, the Recorder's files, a backfill day, a Tee of two)
implements the whole protocol, so the runner and SourceContext call it directly. A sink
that has no use for a record kind says so in its method (the Recorder keeps no health
records: they are live-only) instead of lacking the method.

The shape of a dead letter (bounded, always encodable) is lcm.deadletter's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from lcm.deadletter import dead_letter_record

if TYPE_CHECKING:
    from ingest.health import SourceHealth


class SinkRefused(RuntimeError):
    """The sink could not take this message (the spool's disk is full, it holds its
    max_bytes, a write failed): it was NOT accepted. Nothing accepted before is affected.
    The caller counts it (a source's health error) and goes on; it never blocks."""


class Sink(Protocol):
    """Where sources' messages go: Kafka (Publisher), files (Recorder, backfill), or both
    (Tee)."""

    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        """One normalized message for `topic` (a data, health or heartbeat topic); raises
        SinkRefused when it cannot be kept."""

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        """An upstream payload that could not be normalized (dead_letter_record)."""

    def health(self, record: dict[str, Any]) -> None:
        """A source's ingest_health record."""

    def heartbeat(self, source: str, ts: int) -> None:
        """The job clock: `ts` to every heartbeat partition."""

    @property
    def backlog(self) -> int:
        """Messages accepted but not yet delivered (0 for sinks that write at once)."""

    def close(self, timeout_s: float = 30) -> None:
        """Deliver or keep what is pending, then release the sink."""

    def own_health(self) -> list[SourceHealth]:
        """The sink's own health, reported in ingest_health like a source's (the spool:
        refused appends, damage found and quarantined); [] for sinks without one."""


class FileSink:
    """What the file sinks (the Recorder, a backfill day) share: health records and
    heartbeats are live-only (replay sends its own heartbeats from the recorded times),
    every write happens at once, and a dead letter is one line appended to a JSON-lines
    file."""

    def health(self, record: dict[str, Any]) -> None:
        """Health records are live-only: files keep market data and dead letters."""

    def heartbeat(self, source: str, ts: int) -> None:
        """Heartbeats are live-only."""

    @property
    def backlog(self) -> int:
        return 0  # written at once

    def own_health(self) -> list[SourceHealth]:
        return []

    @staticmethod
    def append_dead_letter(path: Path, source: str, reason: str, raw: str, where: str) -> None:
        line = orjson.dumps(dead_letter_record(source, reason, raw, where)) + b"\n"
        with path.open("ab") as fh:
            fh.write(line)

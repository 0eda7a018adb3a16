"""Replay a recorded JSONL file into the Kafka topics: in real time, N times faster, or
as fast as the broker takes it.

Each line is an envelope {"topic": "<topic>", "value": {<message>}} (docs/contract.md)
(plain or .gz). Lines that are not such an envelope (or whose ts cannot be a Kafka record
time, or that are longer than MAX_LINE_BYTES) go to the dead-letter topic with the file,
line number, reason and raw text (bounded), and are counted; they never stop the replay.
A .gz file cut short is read up to the cut, which is reported the same way. Heartbeats
carrying the replay clock keep the Flink job's event time moving, and a final one closes
the last minute. A jump of more than MAX_JUMP_MS in event time (a gap in the recording,
or one line with a wild ts) restarts the pacing of --speed (no line makes the replay wait
longer than its own step) and sends no heartbeat (one wild line cannot move the job's
clock years ahead; the lines after it, if they agree with it, do).
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from confluent_kafka import KafkaError, Producer
from tqdm import tqdm

from lcm import kafka_io
from lcm.deadletter import RAW_LIMIT, safe_text
from lcm.kafka_io import poll_until, produce
from lcm.topics import DATA_TOPICS, DEAD_LETTER_TOPIC

DATA_TOPICS = frozenset(DATA_TOPICS)
HEARTBEAT_EVERY_MS = 5_000
# Serve delivery callbacks every this many lines, not every line (a full queue is served
# in produce() anyway): measured +15 % replay throughput (bench/ingest.py).
POLL_EVERY = 500
MAX_LINE_BYTES = 1024 * 1024  # a recorded envelope is under 1 kB
MAX_JUMP_MS = 3_600_000  # event-time jump that restarts the pacing (see the module doc)


@dataclass
class ReplayStats:
    sent: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    delivery_errors: int = 0
    heartbeats: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def open_lines(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def count_lines(path: Path) -> int:
    """Lines in the file (for the progress bar), up to a cut-short .gz."""
    n = 0
    with open_lines(path) as fh:
        try:
            for _ in iter(lambda: fh.read(1 << 20), b""):
                n += _.count(b"\n")
        except (EOFError, OSError, zlib.error):
            pass
    return n


def parse_envelope(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(topic, value) or ValueError naming what is wrong with the line."""
    try:
        env = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(env, dict):
        raise ValueError("not a JSON object")
    topic, value = env.get("topic"), env.get("value")
    if not isinstance(topic, str):
        raise ValueError(f"topic: expected a string, got {type(topic).__name__}")
    if topic not in DATA_TOPICS:
        raise ValueError(f"topic: {safe_text(repr(topic), 200)} is not one of "
                         f"{sorted(DATA_TOPICS)}")
    if not isinstance(value, dict):
        raise ValueError("value: missing or not an object")
    return topic, value


def first_ts(path: Path) -> int:
    for _, raw in iter_lines(path):
        if isinstance(raw, Broken):
            continue
        try:
            _, value = parse_envelope(raw)
        except ValueError:
            continue
        if isinstance(value.get("ts"), int):
            return value["ts"]
    raise ValueError(f"{path}: no line with an integer ts")


class Broken(bytes):
    """A line that cannot be used as it is (too long, or where a .gz was cut short); its
    bytes are what was read of it, `reason` says why."""

    reason: str

    def __new__(cls, data: bytes, reason: str) -> Broken:
        out = super().__new__(cls, data)
        out.reason = reason
        return out


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of the non-empty lines; a line over MAX_LINE_BYTES, or the end
    of a .gz file cut short, comes as a Broken line (read no further than the bound)."""
    with open_lines(path) as fh:
        n = 0
        try:
            while raw := fh.readline(MAX_LINE_BYTES + 1):
                n += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass  # skip the rest of the line, bounded reads
                    yield n, Broken(raw[:RAW_LIMIT], f"line over {MAX_LINE_BYTES} bytes")
                elif raw.strip():
                    yield n, raw
        except (EOFError, OSError, zlib.error) as exc:
            yield n + 1, Broken(b"", f"file cut short or damaged after line {n}: "
                                     f"{type(exc).__name__}: {exc}")


def replay(
    path: Path,
    producer: Producer,
    *,
    speed: float | None = None,
    topic_prefix: str = "",
    shift_ms: int = 0,
    progress: bool = True,
    close_after_ms: int | None = 70_000,
) -> ReplayStats:
    """Send every line of `path`. speed=None: as fast as possible; else event time x speed.

    close_after_ms: a last heartbeat this far past the last event closes the final window
    (one window plus the job's watermark delay); None sends none.
    """
    stats = ReplayStats()
    started = time.monotonic()
    next_beat: int | None = None

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            stats.delivery_errors += 1

    def heartbeat(ts: int) -> None:
        kafka_io.heartbeat(producer, "replay", ts, topic_prefix=topic_prefix,
                           on_delivery=on_delivery)
        stats.heartbeats += 1

    def dead_letter(n: int, raw: bytes, reason: str) -> None:
        stats.dead_letters += 1
        produce(producer, topic_prefix + DEAD_LETTER_TOPIC, {
            "source": "replay", "file": str(path), "line": n,
            "reason": safe_text(reason, 2000),
            "raw": safe_text(raw[:RAW_LIMIT * 4].decode("utf-8", "replace").rstrip("\n"),
                             RAW_LIMIT),
            "ingest_ts": int(time.time() * 1000)}, key=b"replay", on_delivery=on_delivery)

    def send(n: int, raw: bytes, topic: str, value: dict[str, Any]) -> None:
        try:
            produce(producer, topic_prefix + topic, value, on_delivery=on_delivery)
        except TypeError as exc:  # orjson writes at most 255 levels of nesting; reads 1024
            dead_letter(n, raw, f"value cannot be written back as JSON: {exc}")
            return
        stats.sent[topic] += 1

    bar = tqdm(total=count_lines(path) if progress else None, disable=not progress,
               unit="msg", unit_scale=True, desc=f"replay {path.name}")
    pace_wall, pace_ts, last_ts = started, None, None  # the current piece of pacing
    for n, raw in iter_lines(path):
        bar.update()
        try:
            if isinstance(raw, Broken):
                raise ValueError(raw.reason)
            topic, value = parse_envelope(raw)
        except ValueError as exc:
            dead_letter(n, raw, str(exc))
            continue
        ts = value.get("ts")
        if isinstance(ts, int) and not isinstance(ts, bool):
            if shift_ms:
                ts = value["ts"] = ts + shift_ms
                if isinstance(value.get("ingest_ts"), int):
                    value["ingest_ts"] += shift_ms
            if not 0 <= ts < 2 ** 63:
                dead_letter(n, raw, f"ts: {ts} cannot be a Kafka record time (epoch ms)")
                continue
            if stats.first_ts is None:
                stats.first_ts = ts
            jump = last_ts is not None and abs(ts - last_ts) > MAX_JUMP_MS
            last_ts = ts
            if speed:  # wait until this event's moment on the accelerated clock
                if pace_ts is None or jump:
                    pace_wall, pace_ts = time.monotonic(), ts  # a new piece: no wait
                poll_until(producer, pace_wall + (ts - pace_ts) / 1000 / speed)
            if jump:
                send(n, raw, topic, value)
                continue
            if next_beat is None or ts >= next_beat:
                heartbeat(ts)
                next_beat = ts - ts % HEARTBEAT_EVERY_MS + HEARTBEAT_EVERY_MS
            stats.last_ts = max(stats.last_ts or ts, ts)
        # else: no usable ts; the job dead-letters the record (it gets the broker's time)
        send(n, raw, topic, value)
        if not n % POLL_EVERY:
            producer.poll(0)
    bar.close()
    if close_after_ms is not None and stats.last_ts is not None:
        heartbeat(stats.last_ts + close_after_ms)
    remaining = producer.flush(60)
    stats.delivery_errors += remaining
    stats.seconds = time.monotonic() - started
    return stats

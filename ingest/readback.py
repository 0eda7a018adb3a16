"""Exactly once across a crash: which spooled records Kafka already has.

A process that dies after the broker took a record but before the spool's cursor moved
past it would send that record again on its next start. To know which ones to skip, the
publisher keeps a small state file beside the spool (`<spool>/sent.json`):

- `origin`: a random id of this spool, sent with every record as the header
  `lcm-spool: <origin>:<seq>`;
- `sent_below`: no record at or above this seq was handed to Kafka (written before the
  sender goes past it, a chunk at a time);
- `offsets`: per topic-partition, the offset of the last record acknowledged below the
  saved cursor (written after the cursor, so it is never ahead of it).

On the next start, the records between the cursor and `sent_below` are the only ones the
broker can have. `already_in_kafka` reads each partition of their topics from the saved
offset (or, for a partition not yet saved, from the first record at or after the tail's
earliest timestamp) to its end and returns the seqs that carry this spool's origin: the
publisher skips exactly those. Kafka keeps one partition in send order, so these ranges are
short: what was written since the last cursor commit (about 100 ms) plus what other
producers wrote meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ingest.spool import Record

log = logging.getLogger("ingest.readback")
HEADER = "lcm-spool"
STATE_FILE = "sent.json"


@dataclass
class SentState:
    """`<spool>/sent.json`: see the module docstring. `found` says whether it existed (a
    spool written before this file existed has no origin on its records)."""

    path: Path
    origin: str
    sent_below: int = 0
    offsets: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> offset
    found: bool = False

    @classmethod
    def load(cls, spool_dir: Path) -> SentState:
        path = Path(spool_dir) / STATE_FILE
        try:
            raw = json.loads(path.read_text())
            return cls(path, str(raw["origin"]), int(raw["sent_below"]),
                       {str(k): int(v) for k, v in raw["offsets"].items()}, found=True)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # damaged: a fresh origin; the previous records cannot be recognised, so this
            # one start is at-least-once (as without the file)
            log.warning("%s unreadable (%s); starting a new origin", path, exc)
        state = cls(path, secrets.token_hex(8))
        state.save()
        return state

    def header(self, seq: int) -> list[tuple[str, bytes]]:
        return [(HEADER, f"{self.origin}:{seq}".encode())]

    def save(self) -> bool:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"origin": self.origin, "sent_below": self.sent_below,
                                       "offsets": self.offsets}))
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk: the next start reads from older offsets
            log.warning("%s not saved: %s", self.path, exc)
            return False
        return True


def _origin_seq(headers: Iterable[tuple[str, bytes]] | None) -> tuple[str, int] | None:
    for name, value in headers or ():
        if name == HEADER and value:
            origin, _, seq = value.decode("ascii", "replace").partition(":")
            with contextlib.suppress(ValueError):
                return origin, int(seq)
    return None


def start_offsets(consumer: Consumer, tail: list[Record], saved: dict[str, int],
                  timeout_s: float) -> dict[TopicPartition, int]:
    """Per partition of the tail's topics: (where to start reading, end) as a
    TopicPartition at the start offset, mapped to the end offset; only non-empty ranges."""
    earliest: dict[str, int] = {}
    for rec in tail:
        ts = rec.ts if rec.ts > 0 else 0  # 0: stamped by the client at send time: unknown
        earliest[rec.topic] = min(earliest.get(rec.topic, ts), ts)
    ranges: dict[TopicPartition, int] = {}
    for topic, ts in earliest.items():
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            continue  # no such topic yet: nothing of ours is in it
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                       timeout=timeout_s)
            start = low
            if f"{topic}:{p}" in saved:
                start = max(start, saved[f"{topic}:{p}"] + 1)
            if ts > 0:
                # the first record stamped at or after the tail's earliest time: every
                # tail record in this partition is at or after it
                (found,) = consumer.offsets_for_times([TopicPartition(topic, p, ts)],
                                                      timeout=timeout_s)
                start = max(start, high if found.offset < 0 else found.offset)
            if start < high:
                ranges[TopicPartition(topic, p, start)] = high
    return ranges


def already_in_kafka(consumer: Consumer, state: SentState, tail: list[Record],
                     timeout_s: float = 60) -> set[int]:
    """The seqs of `tail` (records from the cursor to `sent_below`) that Kafka already
    has. Raises KafkaException (or TimeoutError) while the broker cannot answer."""
    if not tail:
        return set()
    began = time.monotonic()
    wanted = {rec.seq for rec in tail}
    ranges = start_offsets(consumer, tail, state.offsets, timeout_s)
    found: set[int] = set()
    scanned = 0
    if ranges:
        consumer.assign(list(ranges))
        ends = {(tp.topic, tp.partition): end for tp, end in ranges.items()}
        done: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading back {len(ends) - len(done)} partitions took "
                                   f"over {timeout_s:.0f} s")
            for m in consumer.consume(1000, 0.5):
                if m.error() is not None:
                    if m.error().fatal():
                        raise KafkaException(m.error())
                    continue
                tp = (m.topic(), m.partition())
                scanned += 1
                mark = _origin_seq(m.headers())
                if mark is not None and mark[0] == state.origin and mark[1] in wanted:
                    found.add(mark[1])
                if m.offset() >= ends[tp] - 1:
                    done.add(tp)
        consumer.unassign()
    log.info("read back %d records of %d partitions in %.1f s: %d of the %d records not "
             "acknowledged before the last stop are already in Kafka (not sent again)",
             scanned, len(ranges), time.monotonic() - began, len(found), len(tail))
    return found

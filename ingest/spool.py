"""Ordered on-disk spool (a write-ahead log) in front of Kafka.

Every message is appended here before the Kafka client sees it; a sender reads it back in
order and moves a cursor past each record once Kafka acknowledged it. While Kafka is down
the spool simply grows; when it is back the backlog drains in the same order.

Layout: <dir>/<first seq, 20 digits>.seg segment files of length-prefixed, CRC-checked
records, and <dir>/cursor (the seq of the first record not yet acknowledged, replaced
atomically). Segments wholly below the cursor are deleted. A torn record at the end of the
last segment (the process died mid-write) is cut off when the spool is opened.

Record: u32 body length, u32 crc32(body), body = u64 seq, i64 ts, i32 partition,
u16 topic length, u16 key length, topic, key, value.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

_FRAME = struct.Struct("<II")
_HEAD = struct.Struct("<QqiHH")
SEGMENT_SUFFIX = ".seg"


class SpoolError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    topic: str
    key: bytes | None
    ts: int
    partition: int
    value: bytes


def encode(rec: Record) -> bytes:
    topic = rec.topic.encode()
    key = rec.key if rec.key is not None else b""
    # key None is stored as length 0xFFFF so an empty key stays distinguishable
    body = (_HEAD.pack(rec.seq, rec.ts, rec.partition, len(topic),
                       0xFFFF if rec.key is None else len(key)) + topic + key + rec.value)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def decode(body: bytes) -> Record:
    seq, ts, partition, tlen, klen = _HEAD.unpack_from(body)
    pos = _HEAD.size
    topic = body[pos:pos + tlen].decode()
    pos += tlen
    if klen == 0xFFFF:
        key = None
    else:
        key, pos = body[pos:pos + klen], pos + klen
    return Record(seq, topic, key, ts, partition, body[pos:])


def _scan(path: Path) -> tuple[list[tuple[int, int]], int]:
    """[(seq, offset)] of the whole records in a segment, and where the valid data ends."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        body = data[pos + _FRAME.size:pos + _FRAME.size + length]
        if len(body) < length or length < _HEAD.size or zlib.crc32(body) != crc:
            break
        out.append((_HEAD.unpack_from(body)[0], pos))
        pos += _FRAME.size + length
    return out, pos


class Spool:
    """Thread-safe: producers append (any thread), one sender reads and commits."""

    def __init__(self, directory: Path, *, segment_bytes: int = 16 * 1024 * 1024,
                 max_bytes: int = 4 * 1024**3, fsync_ms: int = 200) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.fsync_ms = fsync_ms
        self._lock = threading.Condition()
        self._lockfile = (self.dir / "LOCK").open("a")
        try:  # one process per spool: two writers would interleave sequence numbers
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SpoolError(f"spool {self.dir} is in use by another ingest process") from None
        self.cursor = self._read_cursor()
        self._segments: list[tuple[int, Path]] = sorted(
            (int(p.stem), p) for p in self.dir.glob("*" + SEGMENT_SUFFIX))
        self.next_seq = self.cursor
        if self._segments:
            last_first, last = self._segments[-1]
            records, valid_end = _scan(last)
            if valid_end < last.stat().st_size:  # torn tail from a crash mid-append
                with last.open("r+b") as fh:
                    fh.truncate(valid_end)
            self.next_seq = max(self.cursor, records[-1][0] + 1 if records else last_first)
            if self._segments[0][0] > self.cursor:  # records below the first segment: gone
                self.cursor = self._segments[0][0]
        self._fd: int | None = None
        self._fd_size = 0
        self._dirty_since: float | None = None
        self._bytes = sum(p.stat().st_size for _, p in self._segments)
        # sender's read position
        self._read_seq = self.cursor
        self._read_seg = 0
        self._read_off = 0
        self._seek(self.cursor)
        self._drop_delivered_segments()

    # ------------------------------------------------------------ appending
    def _read_cursor(self) -> int:
        try:
            return int((self.dir / "cursor").read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            raise SpoolError(f"{self.dir / 'cursor'}: not a sequence number ({exc})") from None

    def _open_segment(self) -> None:
        path = self.dir / f"{self.next_seq:020d}{SEGMENT_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fd_size = os.fstat(self._fd).st_size
        self._segments.append((self.next_seq, path))

    def append(self, topic: str, key: bytes | None, ts: int, partition: int,
               value: bytes) -> int:
        """Write one record (in the OS page cache on return: a process crash keeps it;
        fsync within fsync_ms guards against power loss). Blocks while the spool is full."""
        with self._lock:
            while self._bytes >= self.max_bytes:
                self._lock.wait(0.5)  # back-pressure: Kafka is gone for long; never drop
            seq = self.next_seq
            frame = encode(Record(seq, topic, key, ts, partition, value))
            if self._fd is None or self._fd_size >= self.segment_bytes:
                self._close_fd()
                self._open_segment()
            os.write(self._fd, frame)
            self._fd_size += len(frame)
            self._bytes += len(frame)
            self.next_seq = seq + 1
            if self.fsync_ms == 0:
                os.fsync(self._fd)
            elif self._dirty_since is None:
                self._dirty_since = time.monotonic()
            self._lock.notify_all()
            return seq

    def sync_if_due(self) -> None:
        with self._lock:
            if (self._fd is not None and self._dirty_since is not None
                    and time.monotonic() - self._dirty_since >= self.fsync_ms / 1000):
                os.fsync(self._fd)
                self._dirty_since = None

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self._dirty_since = None

    # ------------------------------------------------------------ reading (sender)
    def _seek(self, seq: int) -> None:
        """Put the read position on record `seq` (the cursor after a restart or rewind)."""
        self._read_seq, self._read_seg, self._read_off = seq, len(self._segments), 0
        for i, (_first, path) in enumerate(self._segments):
            nxt = self._segments[i + 1][0] if i + 1 < len(self._segments) else None
            if nxt is not None and seq >= nxt:
                continue
            records, _ = _scan(path)
            for s, off in records:
                if s >= seq:
                    self._read_seg, self._read_off = i, off
                    return
            self._read_seg, self._read_off = i + 1, 0
            return

    def rewind(self, seq: int) -> None:
        with self._lock:
            self._seek(seq)

    def read(self, max_records: int) -> list[Record]:
        """The next records after the read position, in order (empty when caught up)."""
        out: list[Record] = []
        with self._lock:
            end = self.next_seq
            segments = list(self._segments)
        while len(out) < max_records and self._read_seq < end and self._read_seg < len(segments):
            path = segments[self._read_seg][1]
            with path.open("rb") as fh:
                fh.seek(self._read_off)
                while len(out) < max_records and self._read_seq < end:
                    frame = fh.read(_FRAME.size)
                    if len(frame) < _FRAME.size:
                        break
                    length, crc = _FRAME.unpack(frame)
                    body = fh.read(length)
                    if len(body) < length:
                        break  # being written right now: next call
                    if zlib.crc32(body) != crc:
                        raise SpoolError(f"{path}: record at byte {self._read_off} is corrupt")
                    rec = decode(body)
                    self._read_off += _FRAME.size + length
                    if rec.seq >= self._read_seq:
                        out.append(rec)
                        self._read_seq = rec.seq + 1
            if self._read_seq < end and self._read_seg + 1 < len(segments) and (
                    segments[self._read_seg + 1][0] <= self._read_seq):
                self._read_seg, self._read_off = self._read_seg + 1, 0
            elif not out or len(out) < max_records:
                break
        return out

    def wait_for_data(self, timeout_s: float) -> None:
        with self._lock:
            if self._read_seq >= self.next_seq:
                self._lock.wait(timeout_s)

    # ------------------------------------------------------------ committing (sender)
    def commit(self, cursor: int) -> None:
        """Everything below `cursor` is acknowledged by Kafka: persist, drop old segments."""
        if cursor <= self.cursor:
            return
        tmp = self.dir / "cursor.tmp"
        with tmp.open("w") as fh:
            fh.write(str(cursor))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / "cursor")
        with self._lock:
            self.cursor = cursor
            self._drop_delivered_segments()
            self._lock.notify_all()

    def _drop_delivered_segments(self) -> None:
        # a segment can go when the next one starts at or below the cursor
        while len(self._segments) > 1 and self._segments[1][0] <= self.cursor:
            _, path = self._segments.pop(0)
            self._bytes -= path.stat().st_size
            path.unlink()
            self._read_seg = max(0, self._read_seg - 1)

    @property
    def backlog(self) -> int:
        """Records appended but not yet acknowledged."""
        return self.next_seq - self.cursor

    def close(self) -> None:
        with self._lock:
            self._close_fd()
        with contextlib.suppress(OSError):
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
        self._lockfile.close()

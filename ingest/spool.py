"""Ordered on-disk spool (a write-ahead log) in front of Kafka.

Every message is appended here before the Kafka client sees it; a sender reads it back in
order and moves a cursor past each record once Kafka acknowledged it. While Kafka is down
the spool simply grows; when it is back the backlog drains in the same order.

Layout: <dir>/<first seq, 20 digits>.seg segment files of length-prefixed, CRC-checked
records, and <dir>/cursor (the seq of the first record not yet acknowledged, replaced
atomically). Segments wholly below the cursor are deleted.

Record: u32 body length, u32 crc32(body), body = u64 seq, i64 ts, i32 partition,
u16 topic length, u16 key length, topic, key, value.

What can go wrong, and what the spool does (docs/sources.md, "The spool and its
guarantee"):
- A write fails or is short (full disk, quota, I/O error): the partial record is cut off
  again at once and the append raises SpoolRefused: the message was NOT accepted (the
  caller counts it), and everything appended before stays readable. If even the cut
  fails, the segment is closed and the next append starts a new one; the torn bytes are
  skipped when read and removed at the next open.
- The spool is at max_bytes (Kafka away for long): SpoolRefused too, at once; an append
  never blocks its caller (the ingest's event loop).
- Damage found on open or while reading (a torn tail after a crash, a bad length prefix,
  a checksum mismatch, records out of order, a missing or unreadable segment): the
  records before it are kept, the damaged bytes are moved to <dir>/quarantine/ (zero
  fill after a power loss is simply cut), the records they held are counted as lost, and
  each case is listed in `damage` (reported in ingest_health as the source "spool").
  Opening reads every segment once: linear in the spool's size.
- Files in <dir> that are not segments (x.seg, editor backups) are left alone.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import logging
import os
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ingest.sink import SinkRefused

log = logging.getLogger("ingest.spool")
_FRAME = struct.Struct("<II")
_HEAD = struct.Struct("<QqiHH")
SEGMENT_SUFFIX = ".seg"
SEGMENT_NAME = re.compile(r"^([0-9]{20})\.seg$")
QUARANTINE = "quarantine"
NO_KEY = 0xFFFF  # key length for key None (an empty key stays distinguishable)
MAX_TOPIC_BYTES = 249  # Kafka's own limit on a topic name
MAX_KEY_BYTES = 4096
MAX_VALUE_BYTES = 8 * 1024 * 1024
MAX_BODY = _HEAD.size + MAX_TOPIC_BYTES + MAX_KEY_BYTES + MAX_VALUE_BYTES
READ_CHUNK = _FRAME.size + MAX_BODY  # the sender reads at most this much at a time


class SpoolError(RuntimeError):
    pass


class SpoolRefused(SpoolError, SinkRefused):
    """The record was not appended (disk full, write error, spool at max_bytes, record
    too large); nothing already appended is affected."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    topic: str
    key: bytes | None
    ts: int
    partition: int
    value: bytes


@dataclass(frozen=True, slots=True)
class Damage:
    """Something the spool found damaged and dealt with (reported in health)."""

    what: str  # where and what, for a person
    lost: int  # records known to be lost (not delivered, not recoverable here)
    moved_to: str | None  # the quarantined bytes, if any


def encode(rec: Record) -> bytes:
    topic = rec.topic.encode()
    key = rec.key if rec.key is not None else b""
    if len(topic) > MAX_TOPIC_BYTES or len(key) > MAX_KEY_BYTES or (
            len(rec.value) > MAX_VALUE_BYTES):
        raise SpoolRefused(f"record too large for the spool (topic {len(topic)} B, key "
                           f"{len(key)} B, value {len(rec.value)} B; at most "
                           f"{MAX_TOPIC_BYTES}, {MAX_KEY_BYTES}, {MAX_VALUE_BYTES})")
    if not -(2 ** 63) <= rec.ts < 2 ** 63 or not -(2 ** 31) <= rec.partition < 2 ** 31:
        raise SpoolRefused(f"record ts {rec.ts} or partition {rec.partition} out of range")
    body = (_HEAD.pack(rec.seq, rec.ts, rec.partition, len(topic),
                       NO_KEY if rec.key is None else len(key)) + topic + key + rec.value)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


def decode(body: bytes | memoryview) -> Record:
    seq, ts, partition, tlen, klen = _HEAD.unpack_from(body)
    pos = _HEAD.size
    topic = bytes(body[pos:pos + tlen]).decode("utf-8", "replace")
    pos += tlen
    if klen == NO_KEY:
        key = None
    else:
        key, pos = bytes(body[pos:pos + klen]), pos + klen
    return Record(seq, topic, key, ts, partition, bytes(body[pos:]))


def _check(data: bytes | memoryview, pos: int, after_seq: int | None
           ) -> tuple[int, int, str | None]:
    """(seq, frame size, problem) of the frame at `pos`; problem None when it is whole,
    its checksum right and its seq above after_seq. 'incomplete' = the data ends inside
    it (a record being written, or a torn write)."""
    left = len(data) - pos
    if left < _FRAME.size:
        return -1, 0, "incomplete"
    length, crc = _FRAME.unpack_from(data, pos)
    if length < _HEAD.size or length > MAX_BODY:
        return -1, 0, f"bad length prefix {length}"
    if left < _FRAME.size + length:
        return -1, 0, "incomplete"
    body = data[pos + _FRAME.size:pos + _FRAME.size + length]
    if zlib.crc32(body) != crc:
        return -1, 0, "checksum mismatch"
    seq = _HEAD.unpack_from(body)[0]
    if after_seq is not None and seq <= after_seq:
        return seq, 0, f"seq {seq} after {after_seq}: out of order"
    return seq, _FRAME.size + length, None


RESYNC_AHEAD = 64  # how many missing records a resync looks past


def _resync(data: bytes, pos: int, after_seq: int | None) -> tuple[int, int] | None:
    """(offset, seq) of the first whole, valid record after damage at `pos`: records are
    numbered in order, so the next ones' seq bytes are searched for (in C) and each
    candidate checked (length, checksum). None when nothing valid follows."""
    if after_seq is None:
        return None
    best: tuple[int, int] | None = None
    for expected in range(after_seq + 1, after_seq + 1 + RESYNC_AHEAD):
        pattern = struct.pack("<Q", expected)
        idx = data.find(pattern, pos + 1 + _FRAME.size)
        while idx >= 0 and (best is None or idx - _FRAME.size < best[0]):
            start = idx - _FRAME.size
            if _check(data, start, after_seq)[2] is None:
                best = (start, expected)
                break
            idx = data.find(pattern, idx + 1)
    return best


@dataclass
class _Scan:
    records: list[tuple[int, int]]  # (seq, offset)
    damaged: list[tuple[int, int, str, int]]  # (start, end, problem, records lost)
    end: int  # where the valid data ends (a torn, zero or damaged tail may follow)
    tail_problem: str | None  # what ends the data early ("incomplete": a torn append)


def _scan(data: bytes, after_seq: int | None = None) -> _Scan:
    """Every whole, valid record of a segment in one pass; damage in the middle is skipped
    by a resync on the next record's seq; what cannot be resynced ends the data."""
    view = memoryview(data)
    out: list[tuple[int, int]] = []
    damaged: list[tuple[int, int, str, int]] = []
    pos = 0
    while pos < len(data):
        seq, size, problem = _check(view, pos, after_seq)
        if problem is None:
            out.append((seq, pos))
            after_seq = seq
            pos += size
            continue
        found = _resync(data, pos, after_seq)
        if found is None:
            return _Scan(out, damaged, pos, problem)
        start, nxt = found
        if problem == "incomplete":  # valid records follow: it was a wrong length
            problem = "bad length prefix (longer than what follows)"
        lost = nxt - after_seq - 1 if after_seq is not None else 1
        damaged.append((pos, start, problem, lost))
        pos = start
    return _Scan(out, damaged, pos, None)


def _count_frames(tail: bytes) -> int:
    """Records that damaged bytes held, at least 1, by walking their length prefixes."""
    pos, n = 0, 0
    while pos + _FRAME.size <= len(tail):
        length = _FRAME.unpack_from(tail, pos)[0]
        n += 1
        if length < _HEAD.size or length > MAX_BODY:
            break
        pos += _FRAME.size + length
    return max(1, n)


@dataclass
class _Segment:
    first: int  # the seq in its name
    path: Path


class Spool:
    """Thread-safe: producers append (any thread), one sender reads and commits."""

    def __init__(self, directory: Path, *, segment_bytes: int = 16 * 1024 * 1024,
                 max_bytes: int = 4 * 1024**3, fsync_ms: int = 200) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.fsync_ms = fsync_ms
        self.damage: list[Damage] = []
        self.refused = 0  # appends refused (disk full, spool full, write error)
        self._lock = threading.Condition()
        self._lockfile = (self.dir / "LOCK").open("a")
        try:  # one process per spool: two writers would interleave sequence numbers
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            raise SpoolError(f"spool {self.dir} is in use by another ingest process") from None
        try:
            self._open_existing()
        except BaseException:
            self._lockfile.close()
            raise

    # ------------------------------------------------------------ opening
    def _open_existing(self) -> None:
        self.cursor = self._read_cursor()
        self._segments: list[_Segment] = []
        for p in self.dir.iterdir():
            m = SEGMENT_NAME.match(p.name)
            if m and p.is_file():
                self._segments.append(_Segment(int(m.group(1)), p))
            elif p.name.endswith(SEGMENT_SUFFIX):
                log.warning("spool %s: %s is not a segment (20-digit name): left alone",
                            self.dir, p.name)
        self._segments.sort(key=lambda s: s.first)
        while len(self._segments) > 1 and self._segments[1].first <= self.cursor:
            self._unlink(self._segments.pop(0).path)  # wholly delivered
        self._known_gaps: dict[int, int] = {}  # first missing seq -> next seq there, reported
        last_seq: int | None = None
        for i, seg in enumerate(self._segments):
            if last_seq is not None and seg.first > last_seq + 1 and seg.first > self.cursor:
                gap_from = max(last_seq + 1, self.cursor)
                if self._known_gaps.get(gap_from) != seg.first:
                    self._report(f"records {gap_from}..{seg.first - 1} are missing before "
                                 f"{seg.path.name} (a segment was lost)", seg.first - gap_from,
                                 None)
                    self._known_gaps[gap_from] = seg.first
            nxt = self._segments[i + 1].first if i + 1 < len(self._segments) else None
            seg_last = self._scan_and_repair(
                seg, seg.first - 1 if last_seq is None else last_seq, nxt)
            if seg_last is not None:
                last_seq = seg_last
        self.next_seq = self.cursor
        if self._segments:
            self.next_seq = max(self.cursor, self._segments[-1].first)
            if self._segments[0].first > self.cursor:  # records below the first segment: gone
                self.cursor = self._segments[0].first
        if last_seq is not None:
            self.next_seq = max(self.next_seq, last_seq + 1)
        self._fd: int | None = None
        self._fd_size = 0
        self._dirty_since: float | None = None
        self._bytes = sum(self._size(s.path) for s in self._segments)
        self._read_seq = self.cursor
        self._read_seg = 0
        self._read_off = 0
        self._seek(self.cursor)

    def _scan_and_repair(self, seg: _Segment, after_seq: int | None,
                         next_first: int | None) -> int | None:
        """Check one segment and repair it. Returns the seq of its last valid record."""
        try:
            data = seg.path.read_bytes()
        except OSError as exc:
            self._report(f"{seg.path.name}: unreadable ({exc})", 0, None)
            return None
        scan = _scan(data, after_seq)
        if scan.damaged or scan.end < len(data):
            self._repair(seg.path, data, scan, after_seq, next_first)
        return scan.records[-1][0] if scan.records else after_seq

    def _repair(self, path: Path, data: bytes, scan: _Scan, after_seq: int | None,
                next_first: int | None) -> None:
        """Rewrite `path` with its valid records only (atomically), keeping every damaged
        byte range in quarantine, and report each with the records it cost. A zero-filled
        tail (a power loss) is cut; a record cut short at the end (a crash mid-append:
        never acknowledged) is kept in quarantine and noted, not counted as lost."""
        offsets = [o for _, o in scan.records]

        def seq_before(pos: int) -> int | None:
            i = bisect.bisect_left(offsets, pos) - 1
            return scan.records[i][0] if i >= 0 else after_seq

        for start, end, problem, lost in scan.damaged:
            before = seq_before(start)
            i = bisect.bisect_left(offsets, end)
            if before is not None and i < len(offsets) and offsets[i] == end:
                after = scan.records[i][0]
                lost = after - before - 1
                self._known_gaps[before + 1] = after
            moved = self._keep(path, start, data[start:end])
            self._report(f"{path.name} bytes {start}..{end}: {problem}; "
                         f"{'moved to ' + moved if moved else 'cut'}", lost, moved)
        tail = data[scan.end:]
        if tail:
            last = seq_before(scan.end)
            if tail.count(0) == len(tail):
                self._note(f"{path.name}: {len(tail)} zero bytes after byte {scan.end} "
                           "(a power loss) cut")
            elif scan.tail_problem == "incomplete" and (
                    next_first is None or last is None or next_first == last + 1):
                moved = self._keep(path, scan.end, tail)
                self._note(f"{path.name}: a record cut short at byte {scan.end} (a crash or a "
                           f"failed write; never acknowledged) moved to {moved or '-'}")
            else:
                moved = self._keep(path, scan.end, tail)
                lost = _count_frames(tail)
                if next_first is not None and last is not None:
                    lost = next_first - last - 1
                    self._known_gaps[last + 1] = next_first
                self._report(f"{path.name} from byte {scan.end}: {scan.tail_problem}; "
                             f"{len(tail)} bytes {'moved to ' + moved if moved else 'cut'}",
                             lost, moved)
        if not scan.damaged:
            with path.open("r+b") as fh:
                fh.truncate(scan.end)
            return
        keep = bytearray()
        pos = 0
        for start, end, _, _ in scan.damaged:
            keep += data[pos:start]
            pos = end
        keep += data[pos:scan.end]
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(keep)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _keep(self, path: Path, at: int, raw: bytes) -> str | None:
        """Damaged bytes into <dir>/quarantine/ (for a person to look at), or None."""
        qdir = self.dir / QUARANTINE
        try:
            qdir.mkdir(exist_ok=True)
            out = qdir / f"{path.name}.{at}.{time.time_ns()}.bad"
            with out.open("wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            return str(out)
        except OSError as exc:  # no room for a copy: say so, repair anyway
            log.error("spool: cannot keep the %d damaged bytes of %s (%s)", len(raw), path,
                      exc)
            return None

    def _report(self, what: str, lost: int, moved: str | None) -> None:
        log.error("spool %s: %s%s", self.dir, what, f" ({lost} record(s) lost)" if lost else "")
        self.damage.append(Damage(what, lost, moved))

    def _note(self, what: str) -> None:
        """A repair that lost nothing acknowledged (a crash's torn record, zero fill)."""
        log.warning("spool %s: %s", self.dir, what)
        self.damage.append(Damage(what, 0, None))

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    @staticmethod
    def _unlink(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    @property
    def lost(self) -> int:
        """Records known lost to damage since the spool was opened."""
        return sum(d.lost for d in self.damage)

    # ------------------------------------------------------------ appending
    def _read_cursor(self) -> int:
        try:
            return int((self.dir / "cursor").read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except (ValueError, UnicodeDecodeError) as exc:
            raise SpoolError(f"{self.dir / 'cursor'}: not a sequence number ({exc})") from None

    def _open_segment(self) -> None:
        path = self.dir / f"{self.next_seq:020d}{SEGMENT_SUFFIX}"
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._fd_size = os.fstat(self._fd).st_size
        except OSError as exc:
            self._fd = None
            raise SpoolRefused(f"spool {self.dir}: cannot open a segment ({exc})") from None
        if not self._segments or self._segments[-1].path != path:
            self._segments.append(_Segment(self.next_seq, path))

    def append(self, topic: str, key: bytes | None, ts: int, partition: int,
               value: bytes) -> int:
        """Write one record (in the OS page cache on return: a process crash keeps it;
        fsync within fsync_ms guards against power loss). SpoolRefused when it cannot be
        written: the record is then not in the spool, and nothing before it is touched."""
        with self._lock:
            try:
                if self._bytes >= self.max_bytes:
                    raise SpoolRefused(f"spool {self.dir} holds {self._bytes} bytes, its "
                                       "max_bytes: Kafka has been away too long")
                seq = self.next_seq
                frame = encode(Record(seq, topic, key, ts, partition, value))
                if self._fd is None or self._fd_size >= self.segment_bytes:
                    self._close_fd()
                    self._open_segment()
                assert self._fd is not None
                try:
                    written, error = os.write(self._fd, frame), "short write"
                except OSError as exc:
                    written, error = -1, exc.strerror or str(exc)
                if written != len(frame):
                    self._undo_partial(error)
                    raise SpoolRefused(f"spool {self.dir}: record not written ({error}; is "
                                       "the disk full?)")
            except SpoolRefused:
                self.refused += 1
                raise
            self._fd_size += len(frame)
            self._bytes += len(frame)
            self.next_seq = seq + 1
            if self.fsync_ms == 0:
                self._fsync()
            elif self._dirty_since is None:
                self._dirty_since = time.monotonic()
            self._lock.notify_all()
            return seq

    def _undo_partial(self, error: str) -> None:
        """Cut the partial frame a failed write left. If that fails too, the segment is
        left for a new one: its torn end is skipped when read and cut at the next open."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._fd_size)
        except OSError as exc:
            log.error("spool %s: a failed write (%s) left a torn record that cannot be cut "
                      "(%s): the next record starts a new segment", self.dir, error, exc)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._dirty_since = None

    def _fsync(self) -> None:
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:  # the data stays in the page cache; nothing else to do
            log.error("spool %s: fsync failed: %s", self.dir, exc)

    def sync_if_due(self) -> None:
        with self._lock:
            if (self._fd is not None and self._dirty_since is not None
                    and time.monotonic() - self._dirty_since >= self.fsync_ms / 1000):
                self._fsync()
                self._dirty_since = None

    def _close_fd(self) -> None:
        if self._fd is not None:
            self._fsync()
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._dirty_since = None

    # ------------------------------------------------------------ reading (sender)
    def _seek(self, seq: int) -> None:
        """Put the read position on record `seq` (the cursor after a restart or rewind):
        the segment that holds it is found by its name and read once."""
        firsts = [s.first for s in self._segments]
        i = max(0, bisect.bisect_right(firsts, seq) - 1)
        self._read_seq, self._read_seg, self._read_off = seq, i, 0
        if not self._segments:
            return
        try:
            data = self._segments[i].path.read_bytes()
        except OSError:
            return  # read() reports it
        view, pos = memoryview(data), 0
        while pos < len(data):
            s, size, problem = _check(view, pos, None)
            if problem is not None or s >= seq:
                break
            pos += size
        self._read_off = pos

    def rewind(self, seq: int) -> None:
        with self._lock:
            self._seek(seq)

    def read(self, max_records: int) -> list[Record]:
        """The next records after the read position, in order (empty when caught up).
        Damage met on the way is quarantined and reported, and reading goes on after it;
        records missing in between are reported as lost, never waited for."""
        out: list[Record] = []
        while len(out) < max_records:
            with self._lock:
                if self._read_seq >= self.next_seq or self._read_seg >= len(self._segments):
                    break
                seg = self._segments[self._read_seg]
                is_last = self._read_seg == len(self._segments) - 1
                end_seq = self.next_seq
            try:
                with seg.path.open("rb") as fh:
                    fh.seek(self._read_off)
                    data = fh.read(READ_CHUNK)
            except OSError as exc:
                self._report(f"{seg.path.name}: unreadable while sending ({exc})", 0, None)
                if is_last:
                    break
                self._next_segment()
                continue
            view, pos, problem = memoryview(data), 0, None
            while len(out) < max_records and self._read_seq < end_seq:
                _, size, problem = _check(view, pos, None)
                if problem is not None:
                    break
                rec = decode(view[pos + _FRAME.size:pos + size])
                pos += size
                self._read_off += size
                if rec.seq < self._read_seq:
                    continue  # below the cursor (the first segment after a restart)
                if rec.seq > self._read_seq and (
                        self._known_gaps.pop(self._read_seq, None) != rec.seq):
                    self._report(f"{seg.path.name}: records {self._read_seq}..{rec.seq - 1} "
                                 "are missing", rec.seq - self._read_seq, None)
                out.append(rec)
                self._read_seq = rec.seq + 1
            if problem is None or (problem == "incomplete" and pos > 0):
                continue  # limits reached (the loop ends), or read on from the new offset
            if problem == "incomplete" and is_last and not self._damaged_here(seg):
                break  # a record being written now, or nothing more yet
            if problem == "incomplete" and not is_last and not data:
                self._next_segment()  # read to its end
                continue
            if self._repair_from(seg, is_last) or not is_last:
                if not is_last:
                    self._next_segment()
                continue
            break
        return out

    def _next_segment(self) -> None:
        self._read_seg += 1
        self._read_off = 0

    def _damaged_here(self, seg: _Segment) -> bool:
        """The last segment ends inside a record at the read offset: is that a record
        being appended right now (no: appends are whole under the lock), or damage?"""
        with self._lock:
            try:
                size = seg.path.stat().st_size
            except OSError:
                return True
            if size <= self._read_off:
                return False  # nothing more yet
            with seg.path.open("rb") as fh:
                fh.seek(self._read_off)
                data = fh.read(READ_CHUNK)
            return _check(memoryview(data), 0, None)[2] is not None

    def _repair_from(self, seg: _Segment, is_last: bool) -> bool:
        """Damage met while sending: repair the segment from the read offset on (valid
        records after the damage stay and are read next). True if something was done."""
        with self._lock:
            try:
                data = seg.path.read_bytes()
            except OSError as exc:
                self._report(f"{seg.path.name}: unreadable while sending ({exc})", 0, None)
                return False
            off = self._read_off
            part = _scan(data[off:], self._read_seq - 1)
            if not part.damaged and part.end == len(data) - off:
                return False
            scan = _Scan([(s, o + off) for s, o in part.records],
                         [(a + off, b + off, p, n) for a, b, p, n in part.damaged],
                         part.end + off, part.tail_problem)
            head = _scan(data[:off]).records
            scan.records[:0] = head
            nxt = (self._segments[self._read_seg + 1].first
                   if self._read_seg + 1 < len(self._segments) else None)
            if is_last:
                self._close_fd()  # the file is rewritten: the next append reopens it
            self._repair(seg.path, data, scan, self._read_seq - 1, nxt)
            if is_last and scan.records:
                self.next_seq = max(self.next_seq, scan.records[-1][0] + 1)
            self._bytes = sum(self._size(s.path) for s in self._segments)
            return True

    def wait_for_data(self, timeout_s: float) -> None:
        with self._lock:
            if self._read_seq >= self.next_seq:
                self._lock.wait(timeout_s)

    # ------------------------------------------------------------ committing (sender)
    def commit(self, cursor: int) -> bool:
        """Everything below `cursor` is acknowledged by Kafka: persist, drop old segments.
        If the cursor file cannot be written (full disk), the segments are dropped anyway
        (freeing the disk): after a crash the spool starts at its first segment, which only
        repeats acknowledged records, never loses one. Returns whether the cursor was
        saved."""
        if cursor <= self.cursor:
            return True
        saved = True
        tmp = self.dir / "cursor.tmp"
        try:
            with tmp.open("w") as fh:
                fh.write(str(cursor))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.dir / "cursor")
        except OSError as exc:
            log.warning("spool %s: cursor not saved (%s); delivered segments are freed "
                        "anyway", self.dir, exc)
            saved = False
        with self._lock:
            self.cursor = cursor
            self._drop_delivered_segments()
            self._lock.notify_all()
        return saved

    def _drop_delivered_segments(self) -> None:
        # a segment can go when the next one starts at or below the cursor
        while len(self._segments) > 1 and self._segments[1].first <= self.cursor:
            seg = self._segments.pop(0)
            self._bytes -= self._size(seg.path)
            self._unlink(seg.path)
            self._read_seg = max(0, self._read_seg - 1)

    @property
    def read_position(self) -> int:
        """The seq the sender reads next."""
        return self._read_seq

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

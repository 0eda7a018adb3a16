"""The on-disk spool (ingest/spool.py): order, segments, cursor, crash recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.spool import Spool, SpoolError


def fill(spool: Spool, n: int, start: int = 0) -> list[int]:
    return [spool.append("prices", f"k{i % 3}".encode(), 1_700_000_000_000 + i, -1,
                         b'{"i":%d}' % i) for i in range(start, start + n)]


def values(records) -> list[bytes]:
    return [r.value for r in records]


def test_append_read_in_order_across_segments(tmp_path: Path) -> None:
    sp = Spool(tmp_path, segment_bytes=4096)
    seqs = fill(sp, 500)
    assert seqs == list(range(500))
    assert len(list(tmp_path.glob("*.seg"))) > 3  # rolled over
    got = []
    while batch := sp.read(64):
        got += batch
    assert [r.seq for r in got] == seqs
    assert got[7].key == b"k1" and got[7].ts == 1_700_000_000_007 and got[7].partition == -1
    assert sp.read(10) == [] and sp.backlog == 500
    sp.close()


def test_key_none_and_empty_are_kept_apart(tmp_path: Path) -> None:
    sp = Spool(tmp_path)
    sp.append("t", None, 1, 0, b"a")
    sp.append("t", b"", 1, 1, b"b")
    a, b = sp.read(2)
    assert (a.key, a.partition, b.key, b.partition) == (None, 0, b"", 1)
    sp.close()


def test_commit_deletes_delivered_segments_and_reopen_resumes(tmp_path: Path) -> None:
    sp = Spool(tmp_path, segment_bytes=4096)
    fill(sp, 300)
    sp.read(300)
    before = len(list(tmp_path.glob("*.seg")))
    sp.commit(200)
    assert len(list(tmp_path.glob("*.seg"))) < before
    assert (tmp_path / "cursor").read_text() == "200"
    sp.close()
    again = Spool(tmp_path, segment_bytes=4096)
    assert again.cursor == 200 and again.next_seq == 300 and again.backlog == 100
    got = again.read(1000)
    assert [r.seq for r in got] == list(range(200, 300))
    assert fill(again, 2, 300) == [300, 301]  # numbering continues
    assert [r.seq for r in again.read(10)] == [300, 301]
    again.close()


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    sp = Spool(tmp_path)
    fill(sp, 10)
    sp.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    size = seg.stat().st_size
    with seg.open("ab") as fh:
        fh.write(b"\x40\x00\x00\x00\x01\x02")  # half a record: the process died mid-write
    again = Spool(tmp_path)
    assert seg.stat().st_size == size and again.next_seq == 10
    assert [r.seq for r in again.read(100)] == list(range(10))
    again.close()


def test_zero_filled_tail_is_cut_on_open(tmp_path: Path) -> None:
    sp = Spool(tmp_path)
    fill(sp, 4)
    sp.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    size = seg.stat().st_size
    with seg.open("ab") as fh:
        fh.write(bytes(64))  # an OS crash can leave the file extended with zeros
    again = Spool(tmp_path)
    assert seg.stat().st_size == size and [r.seq for r in again.read(9)] == [0, 1, 2, 3]
    again.close()


def test_corrupt_record_in_the_middle_is_quarantined_and_reported_not_a_silent_cut(
        tmp_path: Path) -> None:
    """A record whose checksum fails is not cut silently, nor does it keep the spool from
    opening: its bytes go to quarantine/, it is reported (with the records it cost), and
    the records after it are read."""
    sp = Spool(tmp_path)
    fill(sp, 3)
    sp.close()
    seg = sorted(tmp_path.glob("*.seg"))[0]
    data = bytearray(seg.read_bytes())
    first_len = 8 + int.from_bytes(data[:4], "little")
    data[12] ^= 0xFF  # flip a byte inside the first record's body
    seg.write_bytes(bytes(data))
    again = Spool(tmp_path)
    assert values(again.read(10)) == [b'{"i":1}', b'{"i":2}']
    (damage,) = again.damage
    assert damage.lost == 1 and "checksum mismatch" in damage.what
    assert damage.what.startswith(f"{seg.name} bytes 0..{first_len}")
    assert Path(damage.moved_to).read_bytes() == bytes(data[:first_len])
    assert seg.stat().st_size == len(data) - first_len
    again.close()


def test_rewind(tmp_path: Path) -> None:
    sp = Spool(tmp_path, segment_bytes=4096)
    fill(sp, 200)
    sp.read(200)
    sp.rewind(57)
    assert [r.seq for r in sp.read(3)] == [57, 58, 59]
    sp.close()


def test_rewind_to_the_end_then_append(tmp_path: Path) -> None:
    sp = Spool(tmp_path)
    fill(sp, 5)
    sp.read(5)
    sp.rewind(5)  # nothing unacknowledged: the sender waits for the next append
    assert sp.read(5) == []
    fill(sp, 2, 5)
    assert [r.seq for r in sp.read(5)] == [5, 6]
    sp.close()


def test_restart_with_everything_delivered(tmp_path: Path) -> None:
    sp = Spool(tmp_path)
    fill(sp, 5)
    sp.read(5)
    sp.commit(5)
    sp.close()
    again = Spool(tmp_path)
    assert again.backlog == 0 and again.read(5) == []
    fill(again, 3, 5)
    assert [r.seq for r in again.read(5)] == [5, 6, 7]
    again.close()


def test_one_process_per_spool(tmp_path: Path) -> None:
    sp = Spool(tmp_path)
    with pytest.raises(SpoolError, match="in use by another ingest process"):
        Spool(tmp_path)
    sp.close()
    Spool(tmp_path).close()


def test_bad_cursor_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "cursor").write_text("abc")
    with pytest.raises(SpoolError, match="cursor: not a sequence number"):
        Spool(tmp_path)

"""The two halves of the full-disk test, run as processes inside a small filesystem the
test mounts (tests/hostile/test_spool.py): `write DIR` fills the disk with the spool, frees
some room, appends again and dies without closing (a crash); `read DIR` is the next start:
it opens the spool, reads everything and prints what it found as JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ingest.spool import Spool, SpoolRefused

TS = 1_795_183_200_000


def write(root: Path) -> None:
    filler = root / "filler"
    filler.write_bytes(b"f" * 96 * 1024)  # room to give back later
    sp = Spool(root / "spool", segment_bytes=32 * 1024, fsync_ms=0)
    acknowledged, refused, i = [], 0, 0
    while refused < 20:  # fill the disk, then keep trying: every try fails cleanly
        value = json.dumps({"i": i, "pad": "x" * (i % 700)}).encode()
        try:
            acknowledged.append([sp.append("prices", b"k%d" % i, TS + i, -1, value), i])
        except SpoolRefused:
            refused += 1
        i += 1
    filler.unlink()  # space is back
    for _ in range(30):
        value = json.dumps({"i": i, "pad": "y"}).encode()
        acknowledged.append([sp.append("prices", b"k%d" % i, TS + i, -1, value), i])
        i += 1
    (root.parent / "acknowledged.json").write_text(json.dumps(
        {"acknowledged": acknowledged, "refused": refused, "counted": sp.refused}))
    os._exit(0)  # a crash: no close, no flush beyond what append did


def read(root: Path) -> None:
    sp = Spool(root / "spool", segment_bytes=32 * 1024)
    got = []
    while batch := sp.read(100):
        got += [[r.seq, json.loads(r.value)["i"]] for r in batch]
    print(json.dumps({"read": got, "lost": sp.lost,
                      "damage": [d.what for d in sp.damage]}))
    sp.close()


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](Path(sys.argv[2]))

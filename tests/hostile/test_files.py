"""Hostile files (issue 12, item 9): recordings replayed into Kafka, asset names that become
file names in the report, and a .env anyone can read."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import hostile
from ingest import replay
from lcm import kafka_io
from lcm.settings import private_env_file
from report.charts import chart_path

REPO = Path(__file__).resolve().parents[2]
TS = 1_795_183_200_000


class Producer:
    """The calls replay makes on a confluent Producer, checked the way librdkafka checks
    them (a record time must fit a signed 64-bit integer, a topic must be a string)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], int | None]] = []
        self.clock_on_data_topics = 0  # heartbeats keyed 'heartbeat' on the data topics
        self.waited = 0.0

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                timestamp: int = 0, **_: Any) -> None:
        if not isinstance(topic, str):
            raise TypeError("topic must be a str")
        if not -(2 ** 63) <= int(timestamp or 0) < 2 ** 63:
            raise OverflowError("timestamp out of range")
        if kafka_io.is_heartbeat(key):
            self.clock_on_data_topics += 1
            return
        self.sent.append((topic, orjson.loads(value) if value else {}, timestamp))

    def poll(self, timeout: float = 0) -> int:
        self.waited += timeout
        if timeout:
            time.sleep(min(timeout, 0.001))
        return 0

    def flush(self, _timeout: float = 0) -> int:
        return 0

    def list_topics(self, timeout: float = 0) -> SimpleNamespace:
        return SimpleNamespace(topics={})  # no broker: lcm/topics.txt's partition counts

    def topics(self, name: str) -> list[dict[str, Any]]:
        return [v for t, v, _ in self.sent if t == name]


def line(topic: Any, ts: Any, **more: Any) -> bytes:
    return orjson.dumps({"topic": topic, "value": {"exchange": "x", "base": "BTC",
                                                   "ts": ts, **more}},
                        option=orjson.OPT_PASSTHROUGH_BIGINT) if isinstance(ts, int) and (
        ts >= 2 ** 64) else hostile.dumps({"topic": topic, "value": {
            "exchange": "x", "base": "BTC", "ts": ts, **more}})


def test_replay_dead_letters_what_used_to_break_it(tmp_path: Path) -> None:
    lines = [line("prices", TS), line(["prices"], TS), line({"a": 1}, TS),
             line("prices", 2 ** 63), b'{"topic": "prices", "value": {"ts": 18446744073709551616}}',
             b"[" * 5000, b"x" * (replay.MAX_LINE_BYTES + 10), line("prices", TS + 60_000)]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    producer = Producer()
    stats = replay.replay(path, producer, progress=False)  # type: ignore[arg-type]
    dead = producer.topics("ingest_dead_letter")
    # 2**64 is no integer to orjson (a float): sent without a record time, the job
    # dead-letters it as it does any record without a usable ts
    assert stats.total == 3 and stats.dead_letters == len(dead) == 5
    reasons = " | ".join(d["reason"] for d in dead)
    assert "topic: expected a string, got list" in reasons
    assert "topic: expected a string, got dict" in reasons
    assert "cannot be a Kafka record time" in reasons
    assert f"line over {replay.MAX_LINE_BYTES} bytes" in reasons
    assert all(len(d["raw"]) <= 100_000 for d in dead)


def test_a_cut_gz_is_read_to_the_cut_and_reported(tmp_path: Path) -> None:
    body = gzip.compress(b"".join(line("prices", TS + i * 1000) + b"\n" for i in range(2000)))
    path = tmp_path / "r.jsonl.gz"
    path.write_bytes(body[:len(body) * 2 // 3])
    producer = Producer()
    stats = replay.replay(path, producer, progress=True)  # type: ignore[arg-type]
    (dead,) = producer.topics("ingest_dead_letter")
    assert "file cut short or damaged after line" in dead["reason"]
    assert 0 < stats.total < 2000
    assert [v["ts"] for v in producer.topics("prices")] == [TS + i * 1000
                                                           for i in range(stats.total)]


def test_a_wild_ts_does_not_stall_the_paced_replay_or_move_the_job_clock(tmp_path: Path
                                                                        ) -> None:
    """One line in 2099 amid 2026 data, replayed at --speed 1: it used to wait 73 years.
    Now the pacing restarts at the jump, no heartbeat carries 2099, and the lines after
    it keep their pace."""
    wild = 4_070_908_800_000  # 2099-01-01
    lines = [line("prices", TS), line("prices", TS + 50), line("prices", wild),
             line("prices", TS + 100), line("prices", TS + 150)]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    producer = Producer()
    started = time.monotonic()
    stats = replay.replay(path, producer, speed=1.0, progress=False,  # type: ignore[arg-type]
                          close_after_ms=70_000)
    assert time.monotonic() - started < 30  # a hang detector, not a speed test
    assert stats.total == 5
    beats = [v["ts"] for v in producer.topics("ingest_heartbeat")]
    assert beats and max(beats) == TS + 150 + 70_000  # the close, from the steady lines


@settings(max_examples=80, deadline=10_000, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(rnd=st.randoms(use_true_random=False), gz=st.booleans(), cut=st.booleans())
def test_any_recording_replays_without_escaping(tmp_path_factory, rnd, gz, cut) -> None:
    good = {"topic": "prices", "value": {"exchange": "x", "symbol": "X", "base": "BTC",
                                         "ts": TS, "price": 1.5}}
    body = b"\n".join(hostile.dumps(hostile.mutate(good, rnd)) for _ in range(5)) + b"\n"
    if gz:
        body = gzip.compress(body)
    if cut:
        body = body[:rnd.randrange(1, len(body) + 1)]
    path = tmp_path_factory.mktemp("r") / ("r.jsonl.gz" if gz else "r.jsonl")
    path.write_bytes(body)
    producer = Producer()
    stats = replay.replay(path, producer, speed=rnd.choice([None, 1000.0]),  # type: ignore[arg-type]
                          progress=False)
    assert stats.dead_letters == len(producer.topics("ingest_dead_letter"))


# ---------------------------------------------------------------- report file names

@pytest.mark.parametrize("asset", ["../../X", "..", "/etc/passwd", "a/b", "A B", "\ud800",
                                   "$\\frac{1}{0}$", "x" * 500, ""])
def test_an_asset_from_the_database_never_names_a_file_outside_out(tmp_path: Path,
                                                                    asset: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = chart_path(out, asset, "liquidations")
    assert path.parent == out and path.name.startswith("asset-")
    assert chart_path(out, asset, "liquidations") == path  # stable
    assert chart_path(out, asset + "2", "liquidations") != path  # distinct


def test_asset_names_keep_their_file_names(tmp_path: Path) -> None:
    assert chart_path(tmp_path, "BTC", "price_alerts") == tmp_path / "BTC_price_alerts.png"
    assert chart_path(tmp_path, "\u5e01\u5b89", "risk_components").name == (
        "\u5e01\u5b89_risk_components.png")


# ---------------------------------------------------------------- .env

def test_a_readable_env_file_is_made_owner_only(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("LCM_WRITER_PASSWORD=x\n")
    env.chmod(0o644)  # as `cp .env.example .env` leaves it
    private_env_file(env)
    assert env.stat().st_mode & 0o777 == 0o600


def test_the_stack_scripts_make_env_owner_only_too(tmp_path: Path) -> None:
    (tmp_path / "stack").mkdir()
    shutil.copy(REPO / "stack" / "common.sh", tmp_path / "stack" / "common.sh")
    # common.sh reads .env with the project's Python (python -m lcm.settings shell).
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = tmp_path / ".env"
    env.write_text("KAFKA_PORT=1\n")
    env.chmod(0o664)
    done = subprocess.run(["bash", "-c", f'source "{tmp_path}/stack/common.sh"'],
                          capture_output=True, text=True, env={**os.environ,
                                                               "LCM_STATE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert env.stat().st_mode & 0o777 == 0o600 and "made it 0600" in done.stderr


def test_a_value_nested_deeper_than_json_is_written_back_is_a_dead_letter(tmp_path: Path) -> None:
    # orjson reads 1024 levels of nesting but writes at most 255: such a line once crashed
    # the replay when it re-encoded the value for Kafka.
    deep = b"[" * 300 + b"]" * 300
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"topic": "prices", "value": {"exchange": "x", "base": "BTC", "ts": '
                     + str(TS).encode() + b', "extra": ' + deep + b"}}\n"
                     + line("prices", TS) + b"\n")
    producer = Producer()
    stats = replay.replay(path, producer, progress=False)  # type: ignore[arg-type]
    (letter,) = producer.topics("ingest_dead_letter")
    assert "cannot be written back as JSON" in letter["reason"] and letter["line"] == 1
    assert stats.dead_letters == 1 and stats.sent["prices"] == 1

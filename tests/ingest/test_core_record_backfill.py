"""Recorder (rotating .jsonl.gz read by replay), backfill (resumable by day) and the
Binance public data files."""

from __future__ import annotations

import asyncio
import gzip
import types
import zipfile
from pathlib import Path

import orjson
import pytest

from harness.recorded import RECORDED
from ingest import backfill, binance_files, replay
from ingest.contract import funding_msg, liquidation_msg, price_msg
from ingest.recorder import Recorder
from ingest.settings import IngestSettings, SourceSettings

DAY = 86_400_000
D0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def replayed(path: Path) -> list[tuple[str, dict]]:
    """What `python -m ingest replay` would send from this file."""
    return [replay.parse_envelope(raw) for _, raw in replay.iter_lines(path)]


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_recorder_rotates_by_time_and_size_and_replay_reads_it(tmp_path: Path) -> None:
    clock = Clock(1_795_183_200.0)
    rec = Recorder(tmp_path, rotate_bytes=2_000, rotate_seconds=60, clock=clock)
    sent = []
    for i in range(40):
        msg = price_msg("bybit", "BTCUSDT", "BTC", 1_795_183_200_000 + i, "95000.5")
        rec.publish("prices", msg)
        sent.append(("prices", msg))
        if i == 5:
            clock.t += 61  # the time rotation
    rec.publish("ingest_heartbeat", {"source": "x", "ts": 1})  # not a data topic: skipped
    rec.dead_letter("bybit", "fundingRate: not a number", '{"fundingRate":"x"}', "tickers")
    assert list(tmp_path.glob("*.part"))  # the open file is not final yet
    rec.close()
    files = sorted(tmp_path.glob("*.jsonl.gz"))
    assert files == rec.files and len(files) >= 3 and not list(tmp_path.glob("*.part"))
    assert [m for f in files for m in replayed(f)] == sent
    (dl,) = (tmp_path / "dead_letters.jsonl").read_text().splitlines()
    assert orjson.loads(dl)["reason"] == "fundingRate: not a number"


def _history_module(fail_on_day: int | None):
    calls = []

    async def history(ctx, start_ms, end_ms):
        calls.append((start_ms, end_ms))
        day = (start_ms - D0) // DAY
        if day == fail_on_day:
            yield price_msg("okx", "BTC-USDT-SWAP", "BTC", start_ms + 1, "1")
            raise ConnectionError("venue went away")
        for h in range(-1, 25):  # one bucket either side of the day: the writer trims
            ts = start_ms + h * 3_600_000 + 5
            yield price_msg("okx", "BTC-USDT-SWAP", "BTC", ts, "42000")
            yield ("funding_rates", funding_msg("okx", "BTC-USDT-SWAP", "BTC", ts, "0.0001", 8))
        yield {"exchange": "okx"}  # not a message of any topic: dead-lettered

    return types.SimpleNamespace(history=history, run=None), calls


def _settings() -> IngestSettings:
    return IngestSettings(sources={"okx": SourceSettings()})


def test_backfill_is_resumable_and_never_duplicates(tmp_path: Path) -> None:
    mod, _ = _history_module(fail_on_day=1)
    first = asyncio.run(backfill.backfill_source("okx", _settings(), D0, D0 + 3 * DAY, tmp_path,
                                                 progress=False, module=mod))
    assert first.days_done == 1 and len(first.failed) == 1 and "venue went away" in (
        first.failed[0])
    assert sorted(p.name for p in tmp_path.glob("okx-*.jsonl.gz")) == ["okx-2024-01-01.jsonl.gz"]
    assert not list(tmp_path.glob("*.part"))  # the failed day left nothing half-written
    mod2, calls2 = _history_module(fail_on_day=None)
    second = asyncio.run(backfill.backfill_source("okx", _settings(), D0, D0 + 3 * DAY,
                                                  tmp_path, progress=False, module=mod2))
    assert second.days_skipped == 1 and second.days_done == 2 and not second.failed
    assert [a for a, _ in calls2] == [D0 + DAY, D0 + 2 * DAY]  # resumed at day 2
    msgs = [m for f in sorted(tmp_path.glob("okx-*.jsonl.gz")) for m in replayed(f)]
    keys = [(t, m["ts"]) for t, m in msgs]
    assert len(keys) == len(set(keys)) == 3 * 24 * 2  # each hour once per topic, no overlap
    assert all(D0 <= m["ts"] < D0 + 3 * DAY for _, m in msgs)
    assert second.dead_letters == 2  # the bad item, once per day written
    assert orjson.loads((tmp_path / "okx.checkpoint.json").read_bytes())["done"] == [
        "2024-01-01", "2024-01-02", "2024-01-03"]


def test_backfill_needs_history(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="has no history"):
        asyncio.run(backfill.backfill_source("okx", _settings(), D0, D0 + DAY, tmp_path,
                                             progress=False, module=types.SimpleNamespace()))


def _binance_tree(root: Path) -> Path:
    """The fixtures zipped into the data.binance.vision layout."""
    src = RECORDED / "core" / "binance"
    layout = {
        "BTCUSDT-fundingRate-2024-01.csv": "data/futures/um/monthly/fundingRate/BTCUSDT",
        "BTCUSDT-metrics-2024-01-02.csv": "data/futures/um/daily/metrics/BTCUSDT",
        "1000PEPEUSDT-1m-2024-01-02.csv": "data/futures/um/daily/markPriceKlines/1000PEPEUSDT/1m",
    }
    for name, folder in layout.items():
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(d / name.replace(".csv", ".zip"), "w") as z:
            z.writestr(name, (src / name).read_text())
    return root


def test_binance_files_parse(tmp_path: Path) -> None:
    root = _binance_tree(tmp_path / "vision")
    files = binance_files.find_files(root, D0, D0 + 31 * DAY)
    assert sorted(f.kind for f in files) == ["fundingRate", "markPriceKlines", "metrics"]
    by_topic: dict[str, list] = {}
    bad = []
    for topic, msg in binance_files.messages(files):
        (bad.append(msg) if topic == "" else by_topic.setdefault(topic, []).append(msg))
    f0 = by_topic["funding_rates"][0]
    assert (f0["exchange"], f0["base"], f0["ts"], f0["funding_rate"], f0["interval_hours"]) == (
        "binance", "BTC", 1704067200000, 0.00037409, 8)
    oi = by_topic["open_interest"][0]
    assert oi["ts"] == D0 + DAY and oi["oi_base"] == 71234.512 and oi["oi_usd"] == (
        3026893345.987)
    ls = [(m["population"], m["ratio"]) for m in by_topic["long_short_ratio"]][:2]
    assert ls == [("accounts", 2.01234), ("top_positions", 1.20345)]
    assert by_topic["long_short_ratio"][0]["long_share"] == pytest.approx(2.01234 / 3.01234)
    px = by_topic["prices"][0]  # 1000PEPE mark price per ONE PEPE, at the kline's close
    assert (px["base"], px["ts"], px["price"]) == ("PEPE", 1704153659999,
                                                  pytest.approx(0.0000012530))
    (err,) = bad
    assert err.raw.startswith("2024-01-02 00:10:00,BTCUSDT,,")
    assert "BTCUSDT-metrics-2024-01-02.zip:4" in err.reason and "oi_base" in err.reason


def test_binance_files_backfill_by_day_resumable(tmp_path: Path) -> None:
    root = _binance_tree(tmp_path / "vision")
    out = tmp_path / "out"
    s1 = backfill.backfill_binance_files(root, D0, D0 + 2 * DAY, out, progress=False)
    assert s1.days_done == 2 and s1.dead_letters == 1 and not s1.failed
    s2 = backfill.backfill_binance_files(root, D0, D0 + 3 * DAY, out, progress=False)
    assert s2.days_skipped == 2 and s2.days_done == 1
    day2 = replayed(out / "binance-files-2024-01-02.jsonl.gz")
    topics = sorted({t for t, _ in day2})
    assert topics == ["funding_rates", "long_short_ratio", "open_interest", "prices"]
    day1 = replayed(out / "binance-files-2024-01-01.jsonl.gz")
    assert [m["ts"] for _, m in day1] == [1704067200000, 1704096000000, 1704124800000]


def test_binance_files_bad_zip_is_named(tmp_path: Path) -> None:
    d = tmp_path / "metrics"
    d.mkdir()
    (d / "BTCUSDT-metrics-2024-01-01.zip").write_bytes(b"not a zip")
    s = backfill.backfill_binance_files(tmp_path, D0, D0 + DAY, tmp_path / "out",
                                        progress=False)
    assert s.failed and "BTCUSDT-metrics-2024-01-01.zip" in s.failed[0]


def test_recorded_liquidations_keep_their_id(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    msg = liquidation_msg("binance", "BTCUSDT", "BTC", D0 + 5, "long", "9910", "0.014",
                          sampled=True)
    rec.publish("liquidations", msg)
    rec.close()
    (f,) = rec.files
    with gzip.open(f) as fh:
        value = orjson.loads(fh.readline())["value"]
    assert value["id"] == "binance:BTCUSDT:1704067200005:long:0.014"


def test_tee_records_and_forwards(tmp_path: Path) -> None:
    """Every record goes to both sinks (each implements the whole Sink protocol); the
    Recorder keeps market data and dead letters, not the live-only health and heartbeats."""
    from ingest.recorder import Tee

    class Other:
        backlog = 3

        def __init__(self) -> None:
            self.got: list = []

        def publish(self, topic, msg, *, key=None, partition=-1) -> None:
            self.got.append(topic)

        def dead_letter(self, source, reason, raw, where) -> None:
            self.got.append(f"dead:{reason}")

        def health(self, record) -> None:
            self.got.append(record["source"])

        def heartbeat(self, source, ts) -> None:
            self.got.append(f"beat:{source}")

        def close(self, timeout_s: float = 0) -> None:
            pass

    rec, other = Recorder(tmp_path), Other()
    tee = Tee(rec, other)
    tee.publish("prices", price_msg("bybit", "BTCUSDT", "BTC", D0, "1"))
    tee.health({"source": "bybit"})
    tee.dead_letter("bybit", "bad", "{", "ws")
    tee.heartbeat("ingest", D0)
    assert tee.backlog == 3 and other.got == ["prices", "bybit", "dead:bad", "beat:ingest"]
    tee.close()
    assert len(replayed(rec.files[0])) == 1 and rec.dead_letters == 1

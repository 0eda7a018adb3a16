"""The backtest runs the job's own SQL in Flink's batch mode: on the same recording, the
batch run writes the rows the streaming job writes (real Kafka, the Flink cluster, real
PostgreSQL), and a run in chunks writes the rows of one long run."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from backtest import batch
from flink_jobs.config import load_config
from ingest import replay
from lcm import kafka_io
from lcm.pipeline import SAMPLE_MONITOR_CONFIG
from tests.conftest import SAMPLE, Sandbox, wait_for

TABLES = {"features_1m": ["base", "venue", "window_start"],
          "risk_scores": ["base", "venue", "window_start"],
          "stablecoin_pressure": ["window_start"], "alerts": ["base", "window_start"]}


def _same(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, float) or isinstance(b, float):
        return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _rows(frame: pd.DataFrame, key: list[str]) -> dict[tuple, dict]:
    out = {}
    for rec in frame.to_dict("records"):
        rec["window_start"] = pd.Timestamp(rec["window_start"]).tz_convert("UTC") \
            if pd.Timestamp(rec["window_start"]).tzinfo else \
            pd.Timestamp(rec["window_start"]).tz_localize("UTC")
        rec = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        out[tuple(rec[k] for k in key)] = rec
    return out


def _compare(table: str, got: dict, want: dict) -> None:
    assert set(got) == set(want), (table, sorted(set(want) ^ set(got))[:5])
    cols = [c for c in next(iter(want.values())) if c not in ("written_at", "window_end")]
    bad = [(k, c, got[k].get(c), want[k][c]) for k in want for c in cols
           if not _same(got[k].get(c), want[k][c])]
    assert not bad, f"{table}: {len(bad)} values differ, first {bad[:3]}"


def _batch(tmp: Path, chunk_ms: int | None) -> dict[str, dict]:
    cfg = load_config(SAMPLE_MONITOR_CONFIG)
    first, last = replay.first_ts(SAMPLE), 1795184100000
    chunks = batch.plan_chunks(first, last, chunk_ms, cfg)
    dirs = batch.run(cfg, [SAMPLE], tmp, chunks, progress=False)
    return {t: _rows(batch.read_table(dirs, t), k) for t, k in TABLES.items()}


@pytest.mark.stack
def test_batch_writes_the_rows_of_the_streaming_job(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = load_config(SAMPLE_MONITOR_CONFIG)
    sandbox.submit_job("--config", str(SAMPLE_MONITOR_CONFIG))
    producer = kafka_io.make_producer(sandbox.conn.kafka_bootstrap)
    replay.replay(SAMPLE, producer, topic_prefix=sandbox.prefix, progress=False,
                  close_after_ms=cfg.pipeline.close_after_ms)
    del producer
    want = _batch(tmp_path / "bt", None)
    n_risk = len(want["risk_scores"])
    assert n_risk > 100 and want["alerts"], "the sample must be scored and alert"
    wait_for(lambda: len(sandbox.query("SELECT 1 FROM risk_scores")) >= n_risk
             and sandbox.caught_up(), 300, f"{n_risk} streaming risk rows")
    for table, key in TABLES.items():
        got = _rows(pd.DataFrame(sandbox.query(f"SELECT * FROM {table}")), key)
        _compare(table, got, want[table])


def test_chunks_write_the_rows_of_one_run(tmp_path: Path) -> None:
    """Two chunks (the second starts reading a warm-up earlier) = one long run."""
    whole = _batch(tmp_path / "one", None)
    split = _batch(tmp_path / "two", 8 * 60_000)
    for table in TABLES:
        _compare(table, split[table], whole[table])
    # a finished chunk is not run again (resume): its stamp and files stay as they were
    stamp = next((tmp_path / "two").glob("chunk-0001/_SUCCESS"))
    before = stamp.stat().st_mtime_ns
    _batch(tmp_path / "two", 8 * 60_000)
    assert stamp.stat().st_mtime_ns == before

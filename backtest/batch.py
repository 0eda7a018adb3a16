"""The job's own SQL in Flink's batch runtime over recorded files (no Kafka, no watermarks).

Every statement of sql/flink/ runs as the monitor runs it, through flink_jobs.job's
statement builder, with three files swapped for their batch twins in sql/backtest/: the
Kafka sources become views over the recording (05, 10), the sinks become JSON-lines files
(60); sql/backtest/71 adds what the backtest needs beyond the job's tables (the scoring
UDF's inputs). Scores come from the same UDFs (flink_jobs/udfs.py).

A long span runs in chunks: each chunk is one batch job over [start - warm-up, end), the
warm-up long enough for every lookback and history window, and its rows before `start`
are dropped on reading (backtest.rows). A chunk whose directory holds _SUCCESS with the
same fingerprint is not run again, so an interrupted backtest resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyflink.table import EnvironmentSettings, TableEnvironment
from tqdm import tqdm

from flink_jobs import scoring
from flink_jobs.config import MonitorConfig
from flink_jobs.job import (
    LIQUIDATION_MAP_FILES,
    configure,
    job_statements,
    local_jars,
    sql_params,
)
from flink_jobs.sql_files import render, statements
from lcm.paths import SQL_DIR
from lcm.settings import ConfigError
from lcm.topics import DATA_TOPICS

BACKTEST_SQL = SQL_DIR / "backtest"
OVERRIDES = {"10_source_topic.sql": BACKTEST_SQL / "10_source_files.sql",
             "60_sinks.sql": BACKTEST_SQL / "60_sinks.sql"}
MINUTE_MS = 60_000
# Trader views are not scored: the liquidation-level map has its own backtest
# (backtest/liquidation_map.py) and the long/short reports are a copy of the input.
# Late records are a streaming measure (records read after the watermark closed their
# window); a batch run over files has no such records.
NOT_SCORED = (*LIQUIDATION_MAP_FILES, "56_long_short_reports.sql", "61_trader_sinks.sql",
              "72_insert_long_short_reports.sql", "34_late_records.sql",
              "73_insert_late_records.sql")


@dataclass(frozen=True)
class Chunk:
    index: int
    start_ms: int   # rows from here on are this chunk's
    end_ms: int     # exclusive
    read_from_ms: int  # start minus the warm-up

    @property
    def name(self) -> str:
        return f"chunk-{self.index:04d}"


def warm_up_ms(cfg: MonitorConfig) -> int:
    """How much earlier than its first row a chunk must start reading, so every lookback,
    history and alert-state window of its first row is as full as in one long run."""
    p = cfg.pipeline
    windows = max(p.oi_lookback_windows, p.baseline_windows, p.recent_windows,
                  p.history_windows + p.baseline_windows, cfg.scoring.alerts.state_windows)
    # +2 windows: a carried input and the OI reference reach one lookback further back.
    return (windows + p.oi_lookback_windows + 2) * p.window_minutes * MINUTE_MS


def plan_chunks(first_ms: int, last_ms: int, chunk_ms: int | None,
                cfg: MonitorConfig) -> list[Chunk]:
    """Split [first_ms, last_ms] into chunks aligned to the window length."""
    w = cfg.pipeline.window_minutes * MINUTE_MS
    start = first_ms - first_ms % w
    end = last_ms - last_ms % w + w
    size = end - start if not chunk_ms else max(w, chunk_ms - chunk_ms % w)
    chunks, i = [], 0
    while start < end:
        stop = min(end, start + size)
        chunks.append(Chunk(i, start, stop, start - warm_up_ms(cfg) if i else start))
        start, i = stop, i + 1
    return chunks


def params(cfg: MonitorConfig, input_path: Path, output_path: Path,
           chunk: Chunk) -> dict[str, object]:
    names = ", ".join(scoring.RISK_INPUTS)
    columns = ", ".join(f"{n} DOUBLE" for n in scoring.RISK_INPUTS)
    return {**sql_params(cfg, mode="batch"),
            "input_path": input_path.resolve().as_uri(),
            "output_path": output_path.resolve().as_uri(),
            "from_ms": chunk.read_from_ms, "to_ms": chunk.end_ms,
            "data_topics": ", ".join(f"'{t}'" for t in DATA_TOPICS),
            "score_input_names": names, "score_input_columns": columns}


def batch_env(parallelism: int = 1) -> TableEnvironment:
    try:
        jars = local_jars()
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    conf = t_env.get_config()
    conf.set("pipeline.jars", jars)
    conf.set("parallelism.default", str(parallelism))
    conf.set("python.executable", sys.executable)
    conf.set("python.client.executable", sys.executable)
    return t_env


def statements_for(cfg: MonitorConfig, input_path: Path, output_path: Path,
                   chunk: Chunk) -> tuple[list[str], list[str]]:
    """(DDL, INSERTs) of one chunk: the job's statements with the batch sources and sinks,
    plus sql/backtest/71."""
    p = params(cfg, input_path, output_path, chunk)
    ddl, inserts = job_statements(p, OVERRIDES, skip=NOT_SCORED,
                                  extra=(BACKTEST_SQL / "05_recording.sql",))
    inserts += list(statements(render(BACKTEST_SQL / "71_backtest_insert.sql", p)))
    return ddl, inserts


def run_chunk(cfg: MonitorConfig, input_path: Path, output_path: Path, chunk: Chunk,
              parallelism: int = 1) -> float:
    """Run one chunk as a batch job; returns its wall seconds."""
    t0 = time.monotonic()
    t_env = batch_env(parallelism)
    configure(t_env, cfg, f"lcm-backtest-{chunk.name}")
    ddl, inserts = statements_for(cfg, input_path, output_path, chunk)
    for stmt in ddl:
        t_env.execute_sql(stmt)
    stmt_set = t_env.create_statement_set()
    for stmt in inserts:
        stmt_set.add_insert_sql(stmt)
    stmt_set.execute().wait()
    return time.monotonic() - t0


def fingerprint(cfg: MonitorConfig, inputs: Sequence[Path], chunk: Chunk) -> str:
    """What a chunk's rows depend on: config, input files (name, size, mtime), span."""
    h = hashlib.sha256(cfg.model_dump_json().encode())
    for f in sorted(inputs):
        st = f.stat()
        h.update(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(f"{chunk.read_from_ms}:{chunk.start_ms}:{chunk.end_ms}".encode())
    for sql in sorted([*BACKTEST_SQL.glob("*.sql"), *(SQL_DIR / "flink").glob("*.sql")]):
        h.update(sql.read_bytes())
    return h.hexdigest()[:16]


def run(cfg: MonitorConfig, inputs: Sequence[Path], work_dir: Path, chunks: list[Chunk],
        parallelism: int = 1, progress: bool = True) -> list[Path]:
    """Run every chunk not yet done; returns the chunk directories in order."""
    staged = work_dir / "input"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for i, f in enumerate(inputs):  # one directory of links: the source reads them all
        os.symlink(f.resolve(), staged / f"{i:04d}-{f.name}")
    dirs = []
    bar = tqdm(chunks, desc="backtest", unit="chunk", disable=not progress)
    for chunk in bar:
        out = work_dir / chunk.name
        dirs.append(out)
        stamp = out / "_SUCCESS"
        fp = fingerprint(cfg, inputs, chunk)
        if stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == fp:
            bar.set_postfix_str(f"{chunk.name} done before")
            continue
        if out.exists():
            shutil.rmtree(out)
        seconds = run_chunk(cfg, staged, out, chunk, parallelism)
        stamp.write_text(json.dumps({"fingerprint": fp, "seconds": seconds,
                                     "start_ms": chunk.start_ms, "end_ms": chunk.end_ms}))
        bar.set_postfix_str(f"{chunk.name} {seconds:.0f} s")
    return dirs


def read_table(dirs: Sequence[Path], table: str) -> pd.DataFrame:
    """One table the chunks wrote (JSON lines), each chunk's warm-up rows left out."""
    frames = []
    for d in dirs:
        stamp = json.loads((d / "_SUCCESS").read_text())
        parts = sorted((d / table).glob("part-*"))
        if not parts:
            continue
        f = pd.concat([pd.read_json(p, lines=True, dtype=False) for p in parts],
                      ignore_index=True)
        if "window_start" in f:
            f["window_start"] = pd.to_datetime(f["window_start"], utc=True)
            lo = pd.Timestamp(stamp["start_ms"], unit="ms", tz="UTC")
            hi = pd.Timestamp(stamp["end_ms"], unit="ms", tz="UTC")
            f = f[(f["window_start"] >= lo) & (f["window_start"] < hi)]
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

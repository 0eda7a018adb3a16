"""Backtest: the monitor's own SQL and UDFs over recorded history, with labels, metrics,
baselines, a report, and walk-forward calibration (docs/backtest.md).

    python -m backtest REC.jsonl.gz [MORE...] --out bt/            # make backtest IN=... OUT=...
    python -m backtest hist/daily.jsonl.gz --out bt/ --chunk-days 90
    python -m backtest hist/daily.jsonl.gz --out bt/ --calibrate \\
        --train 2022-01-01..2024-06-30 --test 2024-07-01..2025-01-01 --folds 4
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import yaml

from backtest import batch, evaluate, report
from flink_jobs.config import MonitorConfig, load_config
from lcm.cli import EPILOG, RuntimeFailure, UsageError, add_version, version
from lcm.cli import run as run_cli
from lcm.paths import FROM_CHECKOUT, REPO_DIR
from lcm.pipeline import monitor_config_path


def _span(arg: str | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if not arg:
        return None
    a, sep, b = arg.partition("..")
    if not sep:
        raise UsageError(f"a span is FROM..TO (ISO dates), got {arg!r}")
    return pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")


def _commit() -> str:
    """The checkout's commit, or the installed package's version (no git there)."""
    if FROM_CHECKOUT:
        try:
            out = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip()
        except OSError:
            out = ""
        return out or "unknown"
    return f"installed {version()}"


def scan(inputs: list[Path]) -> tuple[int, int, int]:
    """(first ts, last ts, lines) over the inputs (for chunk planning and events/s)."""
    first, last, lines = None, None, 0
    for f in inputs:
        with (gzip.open(f, "rb") if f.suffix == ".gz" else f.open("rb")) as fh:
            for raw in fh:
                lines += 1
                try:
                    ts = orjson.loads(raw)["value"]["ts"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                if isinstance(ts, int):
                    first = ts if first is None else min(first, ts)
                    last = ts if last is None else max(last, ts)
    if first is None:
        raise RuntimeFailure(f"no message with a ts in {[str(f) for f in inputs]}")
    return first, last, lines


def load_rows(dirs: list[Path], window_minutes: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    inputs = batch.read_table(dirs, "score_inputs")
    risk = batch.read_table(dirs, "risk_scores")
    features = batch.read_table(dirs, "features_1m")
    rejected = batch.read_table(dirs, "rejected")
    allrows = risk[risk["venue"] == "all"][["base", "window_start", "risk", "long_risk",
                                            "short_risk", "level", "confidence"]]
    df = evaluate.prepare(inputs, allrows, window_minutes)
    df["monitor_state"] = df["state"]
    price = features[features["venue"] == "all"][["base", "window_start", "price"]].rename(
        columns={"price": "close"})  # "price" is also a signal column of the UDF inputs
    return df, price, len(rejected)


def run(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    if args.window_minutes:  # the same config at another resolution (hourly, daily history)
        raw = cfg.model_dump()
        raw["pipeline"]["window_minutes"] = args.window_minutes
        cfg = MonitorConfig.model_validate(raw)
    wm = cfg.pipeline.window_minutes
    inputs = [Path(p) for p in args.inputs]
    for f in inputs:
        if not f.is_file():
            raise UsageError(f"{f}: no such file")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    first, last, lines = scan(inputs)
    chunk_ms = int(args.chunk_days * 86_400_000) if args.chunk_days else None
    chunks = batch.plan_chunks(first, last, chunk_ms, cfg)
    dirs = batch.run(cfg, inputs, args.out / "work", chunks, progress=not args.quiet)
    # Flink's own seconds per chunk (a resumed run reuses chunks run before)
    flink_s = sum(json.loads((d / "_SUCCESS").read_text())["seconds"] for d in dirs)
    del t0
    df, price, rejected = load_rows(dirs, wm)
    spec = evaluate.LabelSpec(top_share=args.top_share, min_bp=args.min_bp,
                              merge_gap=args.merge_gap,
                              horizons_minutes=tuple(int(h) for h in args.horizons.split(",")))
    days = (last - first) / 86_400_000
    speed = {"events": lines, "flink_seconds": round(flink_s, 1),
             "events_per_s": round(lines / flink_s, 1),
             "history_days_per_hour": round(days / (flink_s / 3600), 1),
             "assets": int(df["base"].nunique()), "rows": len(df), "rejected_lines": rejected,
             "chunks": len(chunks)}
    result = report.full(df, price, cfg, spec, args, speed)
    if args.calibrate:
        from backtest import calibrate
        result["calibration"] = calibrate.walk_forward(df, cfg, spec, args)
    report.write(result, df, price, cfg, spec, args.out)
    print(f"report: {args.out / 'report.md'}  figures: {args.out / 'figures.json'}")


def main(argv: list[str] | None = None) -> int:
    return run_cli("lcm-backtest", lambda: _main(argv))


def _main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="lcm-backtest", description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(ap)
    ap.add_argument("inputs", nargs="+", help="recordings / backfills / csv_import output "
                                              "(JSONL, plain or .gz)")
    ap.add_argument("--out", type=Path, required=True, help="work files, report, figures")
    ap.add_argument("--config", help="monitor config (default config/monitor.yaml)")
    ap.add_argument("--window-minutes", type=int,
                    help="window length for this run (e.g. 1440 for daily history); every "
                         "other setting of the config stays as it is")
    ap.add_argument("--chunk-days", type=float, help="run the span in chunks of this many days "
                                                     "(resumable); default one chunk")
    ap.add_argument("--top-share", type=float, default=0.03,
                    help="label: cascade windows = the asset's top share of liquidations/OI")
    ap.add_argument("--min-bp", type=float, default=0.0,
                    help="label: and at least this many bp of OI in the window")
    ap.add_argument("--merge-gap", type=int, default=2, help="label: merge episodes this "
                                                             "many windows apart")
    ap.add_argument("--horizons", default="15,60", help="label horizons H, minutes (at least "
                                                        "one window each)")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit weights and thresholds walk-forward on --train, report "
                         "out-of-sample figures, write a stamped candidate config")
    ap.add_argument("--train", help="FROM..TO of the calibration's training span")
    ap.add_argument("--test", help="FROM..TO of the held-out test span (never fitted on)")
    ap.add_argument("--folds", type=int, default=4, help="walk-forward folds in --train")
    ap.add_argument("--timelines", type=int, default=6, help="episode timelines to draw")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    args.train_span, args.test_span = _span(args.train), _span(args.test)
    if args.calibrate and not args.train_span:
        raise UsageError("--calibrate needs --train FROM..TO")
    args.config_path = monitor_config_path(args.config)
    args.started = datetime.now(UTC).isoformat(timespec="seconds")
    args.commit = _commit()
    run(args)


# for report and calibrate: one place that writes YAML configs
def dump_yaml(data: dict, header: str) -> str:
    return header + yaml.safe_dump(data, sort_keys=False)


np.seterr(all="ignore")

if __name__ == "__main__":
    sys.exit(main())

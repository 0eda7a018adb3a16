"""Command line of the ingest side: `python -m ingest <command> --help` (or `lcm-ingest`).

  python -m ingest bybit                  one live source -> Kafka (spooled when Kafka is down)
  python -m ingest all                    every enabled source in one process
  python -m ingest record --out DIR       live sources -> rotating .jsonl.gz that replay reads
  python -m ingest backfill SOURCE --from 2026-11-01 --to 2026-11-08 --out DIR
  python -m ingest backfill binance-files --data DIR ...   Binance public data files
  python -m ingest topics | replay FILE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest import replay
from ingest.settings import IngestSettings, load_settings
from ingest.source import SOURCES
from lcm import kafka_io
from lcm.cli import EPILOG, UsageError, add_version, run
from lcm.pipeline import load_pipeline
from lcm.settings import Connections
from lcm.topics import TOPICS

SAMPLE = Path(__file__).resolve().parent / "samples" / "sample.jsonl"
BINANCE_FILES = "binance-files"


def cmd_topics(args: argparse.Namespace) -> int:
    created = kafka_io.ensure_topics(args.bootstrap, args.topic_prefix)
    wanted = [args.topic_prefix + t for t in TOPICS]
    print(f"topics ready ({len(wanted)}); created: {', '.join(created) or 'none'}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise UsageError(f"replay: no such file {path}")
    pipeline = load_pipeline(args.config)
    shift_ms = int(time.time() * 1000) - replay.first_ts(path) if args.rebase_now else 0
    kafka_io.ensure_topics(args.bootstrap, args.topic_prefix)
    stats = replay.replay(
        path,
        kafka_io.make_producer(args.bootstrap, **kafka_io.REPLAY_PRODUCER),
        speed=None if args.fast else args.speed,
        topic_prefix=args.topic_prefix,
        shift_ms=shift_ms,
        progress=not args.quiet,
        close_after_ms=None if args.no_close else pipeline.close_after_ms,
    )
    rate = stats.total / stats.seconds if stats.seconds else 0.0
    print(f"sent {stats.total} messages in {stats.seconds:.2f} s ({rate:,.0f} msg/s): "
          + ", ".join(f"{t}={n}" for t, n in sorted(stats.sent.items())))
    print(f"dead letters: {stats.dead_letters}, heartbeats: {stats.heartbeats}, "
          f"delivery errors: {stats.delivery_errors}")
    return 1 if stats.delivery_errors else 0


def _settings(args: argparse.Namespace) -> IngestSettings:
    return load_settings(args.ingest_config)


def _source_names(settings: IngestSettings, wanted: list[str]) -> list[str]:
    if not wanted or wanted == ["all"]:
        names = [n for n, s in settings.sources.items() if s.enabled]
        if not names:
            raise UsageError(f"{settings.path}: no enabled source under 'sources:'")
        return names
    for name in wanted:
        if name not in SOURCES:
            raise UsageError(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
        if name not in settings.sources:
            raise UsageError(f"{settings.path}: sources.{name}: no such section")
    return wanted


def _topics_or_spool(args: argparse.Namespace) -> None:
    """Create missing topics; if Kafka is down, start anyway: the spool holds the data."""
    try:
        kafka_io.ensure_topics(args.bootstrap, args.topic_prefix, timeout_s=10)
    except SystemExit as exc:
        logging.getLogger("ingest").warning("%s Starting anyway: messages are spooled on disk "
                                            "until Kafka is back.", exc)


def cmd_run(args: argparse.Namespace) -> int:
    from ingest.runner import make_publisher, run_sources

    settings = _settings(args)
    names = _source_names(settings, [args.command])
    _topics_or_spool(args)
    publisher = make_publisher(settings, args.bootstrap, args.command, args.topic_prefix)
    try:
        return asyncio.run(run_sources(names, settings, publisher, once=args.once))
    finally:
        publisher.close(30)
        st = publisher.stats()
        print(f"published {st['published']}, delivered {st['delivered']}, still spooled "
              f"{st['backlog']}, rejected {st['rejected']}")


def cmd_record(args: argparse.Namespace) -> int:
    from ingest.recorder import Recorder, Tee
    from ingest.runner import make_publisher, run_sources

    settings = _settings(args)
    names = _source_names(settings, args.sources)
    r = settings.record
    recorder = Recorder(Path(args.out), "record", rotate_bytes=args.rotate_bytes or r.rotate_bytes,
                        rotate_seconds=args.rotate_seconds or r.rotate_seconds,
                        compress_level=r.compress_level)
    sink = recorder
    publisher = None
    if args.kafka:
        _topics_or_spool(args)
        publisher = make_publisher(settings, args.bootstrap, "record", args.topic_prefix)
        sink = Tee(recorder, publisher)
    try:
        return asyncio.run(run_sources(names, settings, sink, once=args.once))
    finally:
        sink.close(30)
        print(f"recorded {recorder.lines} messages in {len(recorder.files)} file(s) under "
              f"{args.out}; dead letters: {recorder.dead_letters}")


def _day(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD[THH:MM]): {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def cmd_backfill(args: argparse.Namespace) -> int:
    from ingest import backfill

    if args.end_ms <= args.start_ms:
        raise UsageError("backfill: --to must be after --from")
    out = Path(args.out)
    if args.source == BINANCE_FILES:
        if not args.data:
            raise UsageError("backfill binance-files: --data DIR (the downloaded files) "
                             "is required")
        stats = backfill.backfill_binance_files(Path(args.data), args.start_ms, args.end_ms, out,
                                                symbols=args.symbols, progress=not args.quiet)
    else:
        settings = _settings(args)
        _source_names(settings, [args.source])
        stats = asyncio.run(backfill.backfill_source(
            args.source, settings, args.start_ms, args.end_ms, out, progress=not args.quiet))
    print(stats.summary())
    return 1 if stats.failed else 0


def build_parser() -> argparse.ArgumentParser:
    conn = Connections.from_env()
    prog = "lcm-ingest" if Path(sys.argv[0]).name == "lcm-ingest" else "python -m ingest"
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(ap)
    ap.add_argument("--bootstrap", default=conn.kafka_bootstrap,
                    help="Kafka bootstrap servers (default from KAFKA_BOOTSTRAP/.env)")
    ap.add_argument("--topic-prefix", default="", help="prefix of every topic name")
    ap.add_argument("--ingest-config", metavar="FILE",
                    help="ingest settings (default $LCM_INGEST_CONFIG or config/ingest.yaml)")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name in [*SOURCES, "all"]:
        p = sub.add_parser(name, help=(f"run the {name} source into Kafka" if name != "all"
                                       else "run every enabled source in one process"),
                           description="Live ingest into Kafka. Messages are spooled on disk "
                           "while Kafka is unreachable and delivered in order when it returns; "
                           "health goes to ingest_health every few seconds.")
        p.add_argument("--once", action="store_true",
                       help="one pass of each poll loop (sources that support it), then exit")
        p.set_defaults(func=cmd_run)

    p = sub.add_parser("record", help="record live normalized messages to rotating .jsonl.gz",
                       description="Run live sources and write their normalized messages to "
                       "rotating gzip JSONL files that `replay` reads.")
    p.add_argument("sources", nargs="*", default=["all"],
                   help="source names (default: every enabled source)")
    p.add_argument("--out", required=True, help="directory for the .jsonl.gz files")
    p.add_argument("--kafka", action="store_true", help="also publish to Kafka")
    p.add_argument("--rotate-bytes", type=int, help="override record.rotate_bytes")
    p.add_argument("--rotate-seconds", type=float, help="override record.rotate_seconds")
    p.add_argument("--once", action="store_true", help="one pass of each poll loop, then exit")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("backfill", help="history for a date range into .jsonl.gz (resumable)",
                       description="Pull history for [--from, --to) one UTC day at a time into "
                       "<out>/<source>-<day>.jsonl.gz. A day whose file exists is skipped, so an "
                       "interrupted run resumes where it stopped (checkpoint: "
                       "<out>/<source>.checkpoint.json). 'binance-files' reads Binance's public "
                       "daily/monthly data files (fundingRate, metrics, markPriceKlines zips) "
                       "from a local directory instead of a venue API.")
    p.add_argument("source", choices=[*SOURCES, BINANCE_FILES])
    p.add_argument("--from", dest="start_ms", type=_day, required=True,
                   help="start (UTC date or ISO time, inclusive)")
    p.add_argument("--to", dest="end_ms", type=_day, required=True,
                   help="end (UTC date or ISO time, exclusive)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--data", help="binance-files: directory holding the downloaded zips/CSVs")
    p.add_argument("--symbols", nargs="*", help="binance-files: only these symbols")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("topics", help="create the monitor's topics if missing (idempotent)")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("replay", help="replay a recorded JSONL file into the topics")
    p.add_argument("file", nargs="?", default=str(SAMPLE),
                   help="JSONL or JSONL.gz of {topic, value} lines (default: the shipped sample)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--speed", type=float, default=1.0,
                       help="event time runs this many times faster than real time (default 1)")
    speed.add_argument("--fast", action="store_true", help="as fast as possible")
    p.add_argument("--rebase-now", action="store_true",
                   help="shift timestamps so the recording starts now (live-looking dashboards)")
    p.add_argument("--no-close", action="store_true",
                   help="no final heartbeat (leave the last minute open)")
    p.add_argument("--config", help="config YAML (default config/monitor.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_replay)
    return ap


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return args.func(args)

    return run("lcm-ingest", go)


if __name__ == "__main__":
    sys.exit(main())

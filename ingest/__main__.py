"""Command line of the ingest side: `python -m ingest <command> --help` (or `lcm-ingest`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from flink_jobs.config import Connections, load_config
from ingest import kafka_io, replay

SAMPLE = Path(__file__).resolve().parent / "samples" / "sample.jsonl"


def cmd_topics(args: argparse.Namespace) -> int:
    created = kafka_io.ensure_topics(args.bootstrap, args.topic_prefix)
    wanted = [args.topic_prefix + t for t in kafka_io.TOPICS]
    print(f"topics ready ({len(wanted)}); created: {', '.join(created) or 'none'}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        print(f"replay: no such file {path}", file=sys.stderr)
        return 2
    pipeline = load_config(args.config).pipeline
    shift_ms = int(time.time() * 1000) - replay.first_ts(path) if args.rebase_now else 0
    kafka_io.ensure_topics(args.bootstrap, args.topic_prefix)
    stats = replay.replay(
        path,
        kafka_io.make_producer(args.bootstrap),
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


def main(argv: list[str] | None = None) -> int:
    conn = Connections.from_env()
    ap = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    ap.add_argument("--bootstrap", default=conn.kafka_bootstrap,
                    help="Kafka bootstrap servers (default from KAFKA_BOOTSTRAP/.env)")
    ap.add_argument("--topic-prefix", default="", help="prefix of every topic name")
    sub = ap.add_subparsers(dest="command", required=True)

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

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

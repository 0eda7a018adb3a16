"""Ingest benchmarks (`python -m bench.ingest --help`); they print figures, assert nothing.

1. clients: producer throughput of confluent-kafka, kafka-python and aiokafka into the local
   broker with the same messages (bench/workload.py mix, ~300 B JSON each), idempotent,
   acks=all, under several linger/compression settings.
2. replay: `ingest.replay.replay(..., speed=None)` on a .jsonl.gz file of that mix: the whole
   replay path (read, parse, check, serialize, produce) with the chosen client settings.
3. publisher: the live path Publisher.publish -> on-disk spool -> Kafka, as fast as it goes.
4. live: CPU (% of one core) and RSS of a child process running the live ingest path
   (ingest.runner with a synthetic source that parses venue-shaped JSON with the contract
   builders and publishes through the Publisher + spool, plus health and heartbeats) at
   the message rate estimated for every perpetual of the listed venues.
Topics get a unique prefix on the shared broker and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.workload import Event, events
from lcm import kafka_io
from lcm.settings import Connections
from lcm.topics import FUNDING_RATES, LIQUIDATIONS, OPEN_INTEREST, PRICES, TOPICS

# Live message rate, from the venues' instrument lists (perpetual counts late 2026,
# rounded up; docs/sources.md per venue) and the poll periods in config/ingest.yaml.
# msgs/s per venue:
#   per poll: price + funding + open interest per perpetual (3), every `poll_s`;
#   long/short: 1 per perpetual every 5 min; liquidations: the stream's typical rate, and
#   its cascade rate (Binance/OKX sample at most 1/s per symbol, Bybit pushes all).
LIVE_VENUES = {  # venue: (perpetuals, poll_s, liquidations/s typical, in a cascade)
    "bybit": (650, 10, 8, 400),
    "binance": (560, 10, 4, 150),
    "okx": (300, 10, 3, 100),
    "hyperliquid": (220, 5, 0, 0),
    "dydx": (260, 10, 0.2, 20),
    "coingecko": (250, 60, 0, 0),  # prices only (1 msg per coin per poll)
}
FLOWS_PER_S = 3.0  # Etherscan free tier: 3 calls/s, a few transfers each


def live_rate(cascade: bool = False) -> dict[str, float]:
    rates = {}
    for venue, (perps, poll_s, liq, liq_cascade) in LIVE_VENUES.items():
        per_poll = 1 if venue == "coingecko" else 3
        ls = 0 if venue in ("hyperliquid", "dydx", "coingecko") else perps / 300
        rates[venue] = perps * per_poll / poll_s + ls + (liq_cascade if cascade else liq)
    rates["etherscan"] = FLOWS_PER_S
    return rates


def workload(n: int) -> list[Event]:
    out: list[Event] = []
    for e in events(n_assets=100, minutes=10_000, prices_per_minute=12):
        out.append(e)
        if len(out) >= n:
            break
    return out


def _prefix(tag: str) -> str:
    return f"bench_ingest_{tag}_{os.getpid()}_"


# ---------------------------------------------------------------- 1. clients
def bench_confluent(bootstrap: str, msgs: list[Event], prefix: str, **conf: Any) -> float:
    p = kafka_io.make_producer(bootstrap, **conf)
    errors = 0

    def cb(err, _msg) -> None:
        nonlocal errors
        errors += err is not None

    t0 = time.perf_counter()
    for e in msgs:
        kafka_io.produce_bytes(p, prefix + e.topic, e.value, key=e.key, timestamp=e.ts,
                               on_delivery=cb)
        p.poll(0)
    left = p.flush(120)
    dt = time.perf_counter() - t0
    if errors or left:
        print(f"    ! {errors} delivery errors, {left} not flushed")
    return len(msgs) / dt


def bench_kafka_python(bootstrap: str, msgs: list[Event], prefix: str, **conf: Any) -> float:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                      **conf)
    t0 = time.perf_counter()
    for e in msgs:
        p.send(prefix + e.topic, value=e.value, key=e.key, timestamp_ms=e.ts)
    p.flush(120)
    dt = time.perf_counter() - t0
    p.close()
    return len(msgs) / dt


def bench_aiokafka(bootstrap: str, msgs: list[Event], prefix: str, **conf: Any) -> float:
    from aiokafka import AIOKafkaProducer

    async def go() -> float:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             **conf)
        await p.start()
        try:
            t0 = time.perf_counter()
            futures = [await p.send(prefix + e.topic, e.value, key=e.key, timestamp_ms=e.ts)
                       for e in msgs]
            await asyncio.gather(*futures)
            return len(msgs) / (time.perf_counter() - t0)
        finally:
            await p.stop()

    return asyncio.run(go())


def run_clients(bootstrap: str, n: int, repeat: int = 3) -> list[tuple[str, float]]:
    msgs = workload(n)
    small = msgs[: max(1, n // 3)]  # the pure-Python clients are slow: fewer messages
    size = sum(len(e.value) for e in msgs) / len(msgs)
    print(f"\n1. producer clients: {n:,} messages ({size:.0f} B JSON avg; pure-Python "
          f"clients {len(small):,}), idempotent, acks=all")
    variants: list[tuple[str, Callable[..., float], list[Event], dict[str, Any]]] = [
        ("confluent-kafka lz4 linger 20 ms (kafka_io default)", bench_confluent, msgs, {}),
        ("confluent-kafka lz4 linger 5 ms", bench_confluent, msgs, {"linger.ms": 5}),
        ("confluent-kafka lz4 linger 50 ms", bench_confluent, msgs, {"linger.ms": 50}),
        ("confluent-kafka zstd linger 20 ms", bench_confluent, msgs,
         {"compression.type": "zstd"}),
        ("confluent-kafka none linger 20 ms", bench_confluent, msgs,
         {"compression.type": "none"}),
        ("kafka-python none linger 20 ms batch 1 MB", bench_kafka_python, small,
         {"linger_ms": 20, "batch_size": 1_000_000}),
        ("kafka-python gzip linger 20 ms batch 1 MB", bench_kafka_python, small,
         {"linger_ms": 20, "batch_size": 1_000_000, "compression_type": "gzip"}),
        ("aiokafka none linger 20 ms batch 1 MB", bench_aiokafka, small,
         {"linger_ms": 20, "max_batch_size": 1_000_000}),
        ("aiokafka gzip linger 20 ms batch 1 MB", bench_aiokafka, small,
         {"linger_ms": 20, "max_batch_size": 1_000_000, "compression_type": "gzip"}),
    ]
    results = []
    prefix = _prefix("clients")
    kafka_io.ensure_topics(bootstrap, prefix)
    print(f"  (median of {repeat} runs after one warm-up run; the machine is shared, so runs "
          "vary: the range is shown)")
    try:
        bench_confluent(bootstrap, small, prefix)  # warm-up: broker, page cache, topics
        for name, fn, batch, conf in variants:
            try:
                rates = sorted(fn(bootstrap, batch, prefix, **conf) for _ in range(repeat))
            except Exception as exc:  # a client that cannot run here is reported, not fatal
                print(f"  {name:<52} failed: {type(exc).__name__}: {exc}")
                continue
            rate = statistics.median(rates)
            results.append((name, rate))
            print(f"  {name:<52} {rate:>10,.0f} msg/s  ({rates[0]:,.0f}..{rates[-1]:,.0f})")
    finally:
        kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])
    return results


# ---------------------------------------------------------------- 2. replay
def run_replay(bootstrap: str, n: int) -> float:
    from ingest import replay

    msgs = workload(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl.gz"
        with gzip.open(path, "wb", compresslevel=1) as fh:
            for e in msgs:
                fh.write(b'{"topic":"' + e.topic.encode() + b'","value":' + e.value + b"}\n")
        prefix = _prefix("replay")
        kafka_io.ensure_topics(bootstrap, prefix)
        runs = []
        try:
            for _ in range(3):
                producer = kafka_io.make_producer(bootstrap, **kafka_io.REPLAY_PRODUCER)
                stats = replay.replay(path, producer, speed=None,
                                      topic_prefix=prefix, progress=False, close_after_ms=None)
                runs.append(stats)
        finally:
            kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])
    rates = sorted(s.total / s.seconds for s in runs)
    rate = statistics.median(rates)
    print(f"\n2. replay path (python -m ingest replay --fast, reads .jsonl.gz, parses, checks, "
          f"produces): {runs[0].total:,} messages, median of 3: {rate:,.0f} msg/s "
          f"({rates[0]:,.0f}..{rates[-1]:,.0f}), delivery errors "
          f"{sum(s.delivery_errors for s in runs)}")
    return rate


# ---------------------------------------------------------------- 3. publisher
def run_publisher(bootstrap: str, n: int) -> float:
    from ingest.publisher import Publisher

    msgs = [(e.topic, orjson.loads(e.value)) for e in workload(n)]
    prefix = _prefix("publisher")
    kafka_io.ensure_topics(bootstrap, prefix)
    with tempfile.TemporaryDirectory() as tmp:
        pub = Publisher(bootstrap, Path(tmp) / "spool", topic_prefix=prefix)
        try:
            t0 = time.perf_counter()
            for topic, msg in msgs:
                pub.publish(topic, msg)
            spooled = time.perf_counter() - t0
            pub.flush(300)
            dt = time.perf_counter() - t0
        finally:
            pub.close(10)
            kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])
    rate = n / dt
    print(f"\n3. live path Publisher.publish -> spool -> Kafka: {n:,} messages, publish() "
          f"{n / spooled:,.0f} msg/s, delivered end to end {rate:,.0f} msg/s")
    return rate


# ---------------------------------------------------------------- 4. live CPU/RSS
def _venue_payload(venue: str, perps: int, now_ms: int) -> bytes:
    """One poll's worth of venue-shaped JSON (numbers as strings, like the venues)."""
    rows = [{"symbol": f"C{i:03d}USDT", "lastPrice": f"{100 + i * 0.37:.4f}",
             "markPrice": f"{100 + i * 0.37:.4f}", "fundingRate": "0.00012345",
             "fundingIntervalHour": "8", "openInterest": f"{1000 + i}.123",
             "openInterestValue": f"{(1000 + i) * (100 + i * 0.37):.2f}",
             "turnover24h": "123456789.1234", "nextFundingTime": str(now_ms + 3_600_000)}
            for i in range(perps)]
    return orjson.dumps({"retCode": 0, "result": {"list": rows}, "time": now_ms})


def live_child(seconds: float, cascade: bool, bootstrap: str, prefix: str, spool: str) -> None:
    """Runs in a child process: the runner + a synthetic source per venue that, at the
    venue's estimated rate, parses venue-shaped JSON with the contract builders."""
    import types

    from ingest import contract as c
    from ingest.runner import run_sources
    from ingest.settings import IngestSettings, SourceSettings

    rates = live_rate(cascade)

    def module_for(venue: str, rate: float) -> types.ModuleType:
        perps, poll_s, _, _ = LIVE_VENUES.get(venue, (0, 10, 0, 0))  # etherscan: no poll

        async def run(ctx) -> None:
            async def poll_loop() -> None:
                if not perps:
                    return
                async for _ in ctx.every(poll_s):
                    now = ctx.clock_ms()
                    doc = c.loads(_venue_payload(venue, perps, now))
                    for row in doc["result"]["list"]:
                        base, mult = c.split_base(row["symbol"][:-4])
                        ctx.publish(PRICES, c.price_msg(venue, row["symbol"], base, now,
                                                          row["lastPrice"], multiplier=mult))
                        if venue != "coingecko":
                            ctx.publish(FUNDING_RATES, c.funding_msg(
                                venue, row["symbol"], base, now, row["fundingRate"],
                                row["fundingIntervalHour"], mark_price=row["markPrice"]))
                            ctx.publish(OPEN_INTEREST, c.oi_msg(
                                venue, row["symbol"], base, now, oi_base=row["openInterest"],
                                oi_usd=row["openInterestValue"]))

            async def stream_loop() -> None:
                # everything that is not a poll (liquidations, long/short, flows) at its rate
                other = rate - perps * (1 if venue == "coingecko" else 3) / poll_s
                if other <= 0:
                    return
                period = 1 / other
                n = 0
                t0 = time.monotonic()
                while not ctx.stopping.is_set():
                    now = ctx.clock_ms()
                    raw = orjson.dumps({"T": now, "s": f"C{n % max(perps, 1):03d}USDT", "S": "Buy",
                                        "v": "12.5", "p": "101.25"})
                    d = c.loads(raw)
                    base = c.normalize_base(d["s"][:-4])
                    side = c.liquidated_side_from_position(d["S"])
                    ctx.publish(LIQUIDATIONS, c.liquidation_msg(
                        venue, d["s"], base, c.ts_ms(d["T"], "T"), side, d["p"], d["v"]))
                    n += 1
                    await asyncio.sleep(max(0.0, t0 + n * period - time.monotonic()))

            await asyncio.gather(poll_loop(), stream_loop())

        return types.SimpleNamespace(run=run)

    modules = {v: module_for(v, r) for v, r in rates.items()}
    settings = IngestSettings(sources={v: SourceSettings() for v in rates})
    from ingest.publisher import Publisher

    pub = Publisher(bootstrap, Path(spool), topic_prefix=prefix)

    async def main() -> None:
        task = asyncio.create_task(run_sources(list(rates), settings, pub, modules=modules))
        await asyncio.sleep(seconds)
        os.kill(os.getpid(), 2)  # SIGINT: the runner's own clean stop
        await task

    rss_start = _status_kib("VmRSS")
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    asyncio.run(main())
    wall = time.monotonic() - t0
    pub.flush(60)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = pub.stats()
    pub.close(10)
    # VmHWM, not ru_maxrss: Linux carries the parent's peak over fork+exec into ru_maxrss
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "published": stats["published"],
                      "delivered": stats["delivered"], "max_rss_kib": _status_kib("VmHWM"),
                      "start_rss_kib": rss_start}))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run_live(bootstrap: str, seconds: float) -> list[dict[str, Any]]:
    print(f"\n4. live ingest at the estimated real rate, {seconds:.0f} s per case "
          "(synthetic sources: the venue modules are not merged on this branch)")
    for cascade in (False, True):
        r = live_rate(cascade)
        print(f"  {'cascade' if cascade else 'steady'} rate {sum(r.values()):,.0f} msg/s = "
              + ", ".join(f"{v} {x:,.0f}" for v, x in r.items()))
    out = []
    for cascade in (False, True):
        prefix = _prefix("live")
        kafka_io.ensure_topics(bootstrap, prefix)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "bench.ingest", "--live-child", str(seconds),
                       "--bootstrap", bootstrap, "--prefix", prefix, "--spool", tmp]
                proc = subprocess.run(cmd + (["--cascade"] if cascade else []),
                                      capture_output=True, text=True, check=True)
        finally:
            kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["cascade"] = cascade
        out.append(res)
        print(f"  {'cascade' if cascade else 'steady':<8} {res['published'] / res['wall_s']:,.0f}"
              f" msg/s published ({res['delivered']:,} delivered): CPU "
              f"{100 * res['cpu_s'] / res['wall_s']:.1f} % of one core, peak RSS "
              f"{res['max_rss_kib'] / 1024:.0f} MiB (after imports "
              f"{res['start_rss_kib'] / 1024:.0f} MiB)")
    return out


def main(argv: list[str] | None = None) -> None:
    conn = Connections.from_env()
    ap = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default=conn.kafka_bootstrap)
    ap.add_argument("--messages", type=int, default=300_000,
                    help="messages per confluent-kafka run (default 300,000)")
    ap.add_argument("--live-seconds", type=float, default=60)
    ap.add_argument("--only", choices=["clients", "replay", "publisher", "live"], nargs="*")
    ap.add_argument("--live-child", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--cascade", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--spool", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.live_child is not None:
        live_child(args.live_child, args.cascade, args.bootstrap, args.prefix, args.spool)
        return
    only = set(args.only or ["clients", "replay", "publisher", "live"])
    print(f"ingest benchmark against {args.bootstrap} ({os.cpu_count()} cores, shared)")
    if "clients" in only:
        run_clients(args.bootstrap, args.messages)
    if "replay" in only:
        run_replay(args.bootstrap, args.messages)
    if "publisher" in only:
        run_publisher(args.bootstrap, min(args.messages, 200_000))
    if "live" in only:
        run_live(args.bootstrap, args.live_seconds)


if __name__ == "__main__":
    main()

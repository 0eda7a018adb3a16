"""Latency under live load, by the monitor's own clock: from the end of a minute (wall
clock) to its alert row in PostgreSQL and to its message on the alerts topic.

    python -m bench.latency [--minutes 30 --rate 2000 --assets 100]

Live-like input into a fresh sandbox and job: every event is stamped with the wall clock
when it is produced (minus a venue-to-ingest delay), paced at --rate events/s, with the
live ingest's heartbeats (config/ingest.yaml: every heartbeat_seconds, at now minus
heartbeat_lag_ms). A share of the assets swing between crowded (extreme funding, lopsided
accounts, open interest building up) and calm on staggered 12-minute cycles, so alerts
are raised and cleared every minute. Prints p50/p99 of: minute end -> alert row visible in
PostgreSQL (polled every 100 ms), minute end -> alert message read from the alerts topic,
minute end ->
score rows written (risk_scores.written_at, every asset and venue), with the watermark
delay, idleness and the other settings the figures depend on, and CPU and peak RSS of the
stack. A figure, not an assertion.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import deque
from datetime import UTC, datetime

import orjson
import psycopg

from bench.profile import StackSampler, print_usage
from bench.workload import VENUES, _symbol
from flink_jobs.config import load_config
from harness.sandbox import Sandbox
from ingest.settings import load_settings
from lcm import kafka_io
from lcm.settings import Connections
from lcm.topics import ALERTS_TOPIC

INGEST_DELAY_MS = 150  # venue timestamp to Kafka: a live WebSocket feed's typical lag
CYCLE_MIN = 12  # a swinging asset is crowded for half of this, calm for the other half


class LiveFeed:
    """Live-like messages for n assets on four venues at `rate` events/s: prices fill the
    rate; funding, open interest and long/short once a minute per venue and asset at a
    random second; a few liquidations and stablecoin transfers (net inflow) per minute."""

    def __init__(self, n_assets: int, rate: float, swinging: int, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.assets = [f"A{i:03d}" for i in range(n_assets)]
        self.swinging = {a: k for k, a in enumerate(self.assets[:swinging])}
        self.rate = rate
        self.price0 = {a: 10 ** self.rng.uniform(0, 4) for a in self.assets}
        self.oi0 = {a: 10 ** self.rng.uniform(8, 9.5) for a in self.assets}
        self.t0_min = int(time.time() // 60)
        self.per_minute: dict[int, list[tuple[int, str, bytes, bytes]]] = {}

    def hot(self, asset: str, minute: int) -> bool:
        if asset not in self.swinging:
            return False
        k = self.swinging[asset]
        return (minute - self.t0_min + k) % CYCLE_MIN < CYCLE_MIN // 2

    def _msg(self, topic: str, venue: str, asset: str, ts: int, fields: dict) -> tuple:
        chain = topic == "stablecoin_flows"
        common = ({"chain": "ethereum", "symbol": "USDT", "base": "USDT"} if chain else
                  {"exchange": venue, "symbol": _symbol(venue, asset), "base": asset})
        key = b"ethereum:USDT" if chain else f"{venue}:{asset}".encode()
        value = orjson.dumps({**common, "ts": ts, "ingest_ts": ts + INGEST_DELAY_MS, **fields})
        return (ts, topic, key, value)

    def minute(self, minute: int) -> list[tuple[int, str, bytes, bytes]]:
        """The minute's periodic messages (not prices), sorted by ts."""
        rng, start = self.rng, minute * 60_000
        out = []
        since = minute - self.t0_min
        for a in self.assets:
            hot = self.hot(a, minute)
            for v in VENUES:
                ts = start + rng.randrange(0, 60_000)
                rate_8h = 0.0009 if hot else 0.00005
                hours = 1 if v == "hyperliquid" else 8
                out.append(self._msg("funding_rates", v, a, ts, {
                    "funding_rate": rate_8h * hours / 8, "interval_hours": hours,
                    "mark_price": self.price0[a]}))
                # Open interest builds up 0.6 % a minute while crowded, drifts otherwise.
                oi = self.oi0[a] * (1.006 if hot else 1.0) ** since / 4
                out.append(self._msg("open_interest", v, a, start + rng.randrange(0, 60_000),
                                     {"oi_base": oi / self.price0[a], "oi_usd": oi}))
                if v != "hyperliquid":
                    share = 0.82 if hot else rng.uniform(0.47, 0.53)
                    out.append(self._msg("long_short_ratio", v, a,
                                         start + rng.randrange(0, 60_000),
                                         {"long_share": share, "short_share": 1 - share,
                                          "ratio": share / (1 - share),
                                          "population": "accounts"}))
                    for j in range(rng.randrange(0, 3)):
                        ts = start + rng.randrange(0, 60_000)
                        qty = rng.uniform(0.1, 5)
                        out.append(self._msg("liquidations", v, a, ts, {
                            "side": rng.choice(("long", "short")), "price": self.price0[a],
                            "qty": qty, "notional_usd": qty * self.price0[a],
                            "id": f"{a}-{minute}-{j}-{ts}"}))
        for j in range(rng.randrange(3, 8)):
            ts = start + rng.randrange(0, 60_000)
            out.append(self._msg("stablecoin_flows", "", "USDT", ts, {
                "token": "USDT", "tx_hash": f"0x{rng.getrandbits(256):064x}", "log_index": j,
                "amount_usd": rng.uniform(1e5, 5e6), "from": "0x" + "1" * 40,
                "to": "0x" + "2" * 40,
                "direction": rng.choices(("inflow", "outflow", "internal"), (3, 1, 1))[0],
                "exchange_label": "binance"}))
        out.sort()
        return out

    def price(self, ts: int) -> tuple:
        a = self.rng.choice(self.assets)
        v = self.rng.choice(VENUES)
        p = self.price0[a] * (1 + self.rng.gauss(0, 1e-4))
        return self._msg("prices", v, a, ts, {"price": p})


class AlertPoller(threading.Thread):
    """Polls the alerts table every 100 ms, noting when each alert row first appears
    (alerts has no written_at column; a dashboard sees the row from then on)."""

    def __init__(self, box: Sandbox, interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.box, self.interval_s = box, interval_s
        self.seen: dict[tuple, tuple[float, datetime]] = {}  # (base, start) -> (seen, end)
        self.stop_event = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.box.dsn(), autocommit=True) as db:
            while not self.stop_event.wait(self.interval_s):
                rows = db.execute("SELECT base, window_start, window_end FROM alerts").fetchall()
                now = time.time()
                for base, start, end in rows:
                    self.seen.setdefault((base, start), (now, end))


class AlertReader(threading.Thread):
    """Reads the alerts topic as the notifier would, noting when each alert arrived."""

    def __init__(self, conn: Connections, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = kafka_io.make_consumer(conn.kafka_bootstrap, f"{topic}-latency",
                                               **{"enable.auto.commit": False,
                                                  "auto.offset.reset": "earliest"})
        self.consumer.subscribe([topic])
        self.seen: dict[str, tuple[float, str]] = {}  # alert_id -> (arrival, window_end)
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                for m in self.consumer.consume(100, 0.1):
                    if m.error() is None:
                        now = time.time()
                        v = orjson.loads(m.value())
                        self.seen.setdefault(v["alert_id"], (now, v["window_end"]))
        finally:
            self.consumer.close()


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:46} (none)"
    return (f"  {name:46} n={len(values):5}  p50 {statistics.median(values):6.2f} s  "
            f"p99 {_pct(values, 0.99):6.2f} s  max {max(values):6.2f} s")


def run(conn: Connections, minutes: int, rate: float, n_assets: int, swinging: int,
        warmup_min: int) -> None:
    cfg = load_config().pipeline
    health = load_settings().health
    box = Sandbox.create(conn, "lat")
    reader = poller = None
    try:
        job_id = box.submit_job()
        reader = AlertReader(conn, box.prefix + ALERTS_TOPIC)
        reader.start()
        poller = AlertPoller(box)
        poller.start()
        producer = kafka_io.make_producer(conn.kafka_bootstrap, **kafka_io.REPLAY_PRODUCER)
        feed = LiveFeed(n_assets, rate, swinging)
        sampler = StackSampler()
        sampler.start()
        first_min = int(time.time() // 60) + 1
        end_min = first_min + warmup_min + minutes
        queued: deque[tuple] = deque()
        next_beat = time.time()
        produced = 0
        t_start = time.time()
        print(f"producing live-like input for {warmup_min} + {minutes} min at {rate:,.0f} "
              f"events/s ({n_assets} assets, {swinging} swinging) ...", flush=True)
        minute_loaded = None
        while True:
            now = time.time()
            now_min = int(now // 60)
            if now_min >= end_min:
                break
            if minute_loaded != now_min:  # the minute's periodic messages, by their ts
                queued = deque(sorted([*queued, *feed.minute(now_min)]))
                minute_loaded = now_min
            if now >= next_beat:
                kafka_io.heartbeat(producer, "live", int(now * 1000) - health.heartbeat_lag_ms,
                                   topic_prefix=box.prefix)
                next_beat += health.heartbeat_seconds
            ts_now = int(now * 1000) - INGEST_DELAY_MS
            while queued and queued[0][0] <= ts_now:
                ts, topic, key, value = queued.popleft()
                producer.produce(box.prefix + topic, value, key, timestamp=ts)
                produced += 1
            # prices fill the rest of the rate, stamped now
            due = int((now - t_start) * rate) - produced
            for _ in range(max(0, due)):
                ts, topic, key, value = feed.price(ts_now)
                producer.produce(box.prefix + topic, value, key, timestamp=ts)
                produced += 1
            producer.poll(0)
            time.sleep(0.005)
        # Let the last minute close (heartbeats continue), then collect.
        close_s = cfg.watermark_delay_s + health.heartbeat_lag_ms / 1000 + 20
        close_at = time.time() + close_s
        while time.time() < close_at:
            kafka_io.heartbeat(producer, "live", int(time.time() * 1000) -
                               health.heartbeat_lag_ms, topic_prefix=box.prefix)
            producer.poll(health.heartbeat_seconds)
        producer.flush(30)
        usage = sampler.stop()
        elapsed = time.time() - t_start
        for thread in (reader, poller):
            thread.stop_event.set()
            thread.join(timeout=10)
        measured_from = datetime.fromtimestamp((first_min + warmup_min) * 60, UTC)
        measured_to = datetime.fromtimestamp(end_min * 60, UTC)
        scores = box.query("SELECT venue, window_end, extract(epoch FROM written_at) AS w "
                           "FROM risk_scores")
        state = box.job_state(job_id)
    finally:
        for thread in (reader, poller):
            if thread is not None and thread.is_alive():
                thread.stop_event.set()
                thread.join(timeout=10)
        box.destroy()

    def in_span(end: datetime) -> bool:
        return measured_from < end <= measured_to

    pg = [seen - end.timestamp() for seen, end in poller.seen.values() if in_span(end)]
    topic = []
    for arrived, end_text in reader.seen.values():
        end = datetime.strptime(end_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        if in_span(end):
            topic.append(arrived - end.timestamp())
    all_rows = [float(r["w"]) - r["window_end"].timestamp() for r in scores
                if r["venue"] == "all" and in_span(r["window_end"])]
    venue_rows = [float(r["w"]) - r["window_end"].timestamp() for r in scores
                  if r["venue"] != "all" and in_span(r["window_end"])]
    print(f"\n{produced:,} events in {elapsed:.0f} s ({produced / elapsed:,.0f}/s offered), "
          f"measured minutes {measured_from:%H:%M}-{measured_to:%H:%M} UTC; job "
          f"{state['state']}, {state['failures']} failures")
    print("latency from the end of a minute (wall clock) to:")
    print(_line("its alert rows in PostgreSQL (polled every 0.1 s)", pg))
    print(_line("its alert messages read from the alerts topic", topic))
    print(_line("its all-venue score rows in PostgreSQL", all_rows))
    print(_line("its venue score rows in PostgreSQL", venue_rows))
    print(f"settings: watermark delay {cfg.watermark_delay_s} s, idle timeout "
          f"{cfg.idle_timeout_s} s (config/monitor.yaml); heartbeats every "
          f"{health.heartbeat_seconds:g} s at now - {health.heartbeat_lag_ms} ms "
          f"(config/ingest.yaml); events stamped now - {INGEST_DELAY_MS} ms. A minute can "
          "close no earlier than heartbeat lag + watermark delay after its end.")
    print_usage(usage, "stack during the run")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=int, default=30, help="measured minutes (default 30)")
    ap.add_argument("--warmup", type=int, default=3,
                    help="minutes before the measured span (job start, first lookbacks)")
    ap.add_argument("--rate", type=float, default=2000, help="offered events/s")
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--swinging", type=int, default=24,
                    help="assets that swing between crowded and calm (alerts every minute)")
    args = ap.parse_args(argv)
    run(Connections.from_env(), args.minutes, args.rate, args.assets, args.swinging,
        args.warmup)


if __name__ == "__main__":
    main()

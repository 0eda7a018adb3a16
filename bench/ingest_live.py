"""CPU and memory of the REAL live ingest (`python -m ingest all`) fed recorded payload
shapes at real rate (`python -m bench.ingest_live --help`); it prints figures, asserts nothing.

The benchmark process serves every enabled source locally: one HTTP server (the recorded
payloads of harness/recorded/<source>/ scaled to a realistic number of perpetuals by
cloning a recorded row under new symbols, timestamps set to now) and one WebSocket server
(Bybit allLiquidation, OKX liquidation-orders, Binance !forceOrder@arr, dYdX v4_trades)
pushing liquidation frames shaped like the recorded ones at a calm or a cascade rate. It
writes a copy of config/ingest.yaml whose rest_url/ws_url point at them (the real poll
intervals, budgets and options), creates topics under a unique prefix, runs the ingest as
its own process for --seconds, samples that process's CPU time and RSS from /proc every
second, then counts what reached Kafka per topic and deletes the topics. The servers run
in the benchmark process, so their cost is not counted.

Not simulated: TLS (the venues are https/wss; TLS adds CPU to every request and frame)
and network latency.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import json
import os
import random
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from confluent_kafka import Consumer, TopicPartition

from bench.ingest import LIVE_VENUES
from harness.local_servers import HttpServer, Reply, Seen, WsServer
from harness.recorded import text as fixture_text
from lcm import kafka_io
from lcm.paths import CONFIG_DIR, REPO_DIR
from lcm.settings import Connections
from lcm.topics import HEALTH_TOPIC, LIQUIDATIONS, TOPICS

# Perpetuals per venue (late-2026 listings, rounded): the brief's realistic counts.
PERPS = {"bybit": 500, "okx": 250, "binance": 500, "hyperliquid": 200, "dydx": 200}
# Liquidations/s per stream, calm and cascade: bench/ingest.py's LIVE_VENUES (from the venue
# notes; Binance and OKX deliver at most about one per symbol per second).
LIQ_RATE = {v: (LIVE_VENUES[v][2], LIVE_VENUES[v][3]) for v in ("bybit", "okx", "binance",
                                                                 "dydx")}
# dYdX v4_trades carries every trade of the streamed markets; the source keeps the
# LIQUIDATED ones. Ordinary trades per liquidation, plus a floor per second.
DYDX_TRADES_PER_LIQ, DYDX_TRADES_FLOOR = 4, 5.0
# Ethereum: a block every 12 s; USDT and USDC Transfer logs per block (all transfers of the
# token contract, the source classifies them against the labeled wallets).
BLOCK_S, LOGS_PER_BLOCK = 12.0, {"USDT": 40, "USDC": 20}
FIRST_BLOCK = 0x1948B4D  # the recorded eth_blockNumber
WARMUP_S = 10.0  # start-up (imports, instrument lists, first sweeps) left out of "steady"
ETHERSCAN_KEY_ENV = "LCM_BENCH_ETHERSCAN_KEY"


def now_ms() -> int:
    return int(time.time() * 1000)


def bases(n: int) -> list[str]:
    """BTC, ETH, SOL then synthetic letter-only names (XAAB...), unique."""
    head = ["BTC", "ETH", "SOL"]
    synth = ("X" + "".join(t) for t in itertools.product(string.ascii_uppercase, repeat=3))
    return (head + [s for s in synth if s not in head])[:n]


def fx(source: str, name: str) -> Any:
    return json.loads(fixture_text(source, name))


def restamp(obj: Any, keys: frozenset[str], ms: int) -> Any:
    """The payload with every `keys` field set to `ms`, keeping its type (str or int)."""
    if isinstance(obj, dict):
        return {k: (type(v)(ms) if k in keys and isinstance(v, str | int) else
                    restamp(v, keys, ms)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [restamp(v, keys, ms) for v in obj]
    return obj


def clone_rows(row: dict[str, Any], names: list[str], rename: Callable[[str], dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """One recorded row per name, with the name-bearing fields replaced."""
    return [{**copy.deepcopy(row), **rename(b)} for b in names]


def ok(body: Any) -> Reply:
    return Reply(200, orjson.dumps(body), {"Content-Type": "application/json"})


# ---------------------------------------------------------------- REST: scaled fixtures
@dataclass
class Venues:
    """Scaled instrument lists and per-request payload builders for every source."""

    perps: dict[str, int]
    dydx_height: int = 36745700
    dydx_trades: dict[str, deque[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=100)))
    t0: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        n = self.perps
        self.bybit = bases(n["bybit"])
        self.okx = bases(n["okx"])
        self.binance = bases(n["binance"])
        self.hyperliquid = bases(n["hyperliquid"])
        self.dydx = bases(n["dydx"])
        self.dydx_streamed = self.dydx[:40]  # config: trade_markets 40 (busiest first)

    def routes(self, http: HttpServer, prefix: dict[str, str]) -> None:
        by, ok_, bn = self.bybit, self.okx, self.binance
        # Bybit v5
        inst = fx("bybit", "instruments_linear.json")
        irow = inst["result"]["list"][0]
        inst["result"]["list"] = clone_rows(irow, by, lambda b: {"symbol": b + "USDT",
                                                                 "baseCoin": b})
        inst["result"]["nextPageCursor"] = ""
        http.add("/v5/market/instruments-info", ok(inst))
        tick = fx("bybit", "tickers_linear.json")
        tick["result"]["list"] = clone_rows(tick["result"]["list"][0], by,
                                            lambda b: {"symbol": b + "USDT"})
        http.add("/v5/market/tickers", lambda _: ok(restamp(tick, frozenset({"time"}), now_ms())))
        ratio = fixture_text("bybit", "account_ratio_btcusdt.json")
        http.add("/v5/market/account-ratio",
                 lambda s: Reply(200, ratio.replace("BTCUSDT", s.query.get("symbol", ""))))
        # OKX v5
        def okx_rows(name: str, extra: Callable[[str], dict[str, Any]] | None = None) -> Any:
            doc = fx("okx", name)
            doc["data"] = clone_rows(doc["data"][0], ok_, lambda b: {
                "instId": f"{b}-USDT-SWAP", **(extra(b) if extra else {})})
            return doc
        http.add("/api/v5/public/instruments", ok(okx_rows("instruments_swap.json", lambda b: {
            "instFamily": f"{b}-USDT", "uly": f"{b}-USDT", "ctValCcy": b})))
        for path, name in (("/api/v5/public/mark-price", "mark_price_swap.json"),
                           ("/api/v5/public/funding-rate", "funding_rate_any.json"),
                           ("/api/v5/public/open-interest", "open_interest_swap.json"),
                           ("/api/v5/market/tickers", "tickers_swap.json")):
            doc = okx_rows(name)
            http.add(path, lambda _, d=doc: ok(restamp(d, frozenset({"ts"}), now_ms())))
        coins = fx("okx", "support_coin.json")
        coins["data"]["contract"] = ok_
        http.add("/api/v5/rubik/stat/trading-data/support-coin", ok(coins))
        http.add("/api/v5/rubik/stat/contracts/long-short-account-ratio",
                 Reply(200, fixture_text("okx", "long_short_account_ratio_btc.json")))
        # Binance USD-M
        http.add("/fapi/v1/fundingInfo", Reply(200, fixture_text("binance", "funding_info.json")))
        info = fx("binance", "exchange_info.json")
        info["symbols"] = clone_rows(info["symbols"][0], bn, lambda b: {
            "symbol": b + "USDT", "pair": b + "USDT", "baseAsset": b})
        http.add("/fapi/v1/exchangeInfo", ok(info))
        prem = clone_rows(fx("binance", "premium_index.json")[0], bn,
                          lambda b: {"symbol": b + "USDT"})
        http.add("/fapi/v1/premiumIndex",
                 lambda _: ok(restamp(prem, frozenset({"time"}), now_ms())))
        t24 = clone_rows(fx("binance", "ticker_24hr.json")[0], bn,
                         lambda b: {"symbol": b + "USDT"})
        http.add("/fapi/v1/ticker/24hr",
                 lambda _: ok(restamp(t24, frozenset({"closeTime"}), now_ms())))
        oi = fx("binance", "open_interest_btcusdt.json")
        http.add("/fapi/v1/openInterest", lambda s: ok(
            {**oi, "symbol": s.query.get("symbol", ""), "time": now_ms()}))
        gls = fixture_text("binance", "global_long_short_account_ratio_btcusdt.json")
        http.add("/futures/data/globalLongShortAccountRatio",
                 lambda s: Reply(200, gls.replace("BTCUSDT", s.query.get("symbol", ""))))
        # Hyperliquid
        meta, ctxs = fx("hyperliquid", "meta_and_asset_ctxs.json")
        meta["universe"] = clone_rows(meta["universe"][0], self.hyperliquid,
                                      lambda b: {"name": b})
        hl = [meta, [copy.deepcopy(ctxs[0]) for _ in self.hyperliquid]]
        http.add("/info", ok(hl), method="POST")
        # dYdX v4 indexer (rest_url ends in /v4)
        markets = fx("dydx", "perpetual_markets.json")
        mrow = markets["markets"]["BTC-USD"]
        markets["markets"] = {f"{b}-USD": {**copy.deepcopy(mrow), "ticker": f"{b}-USD",
                                           "clobPairId": str(i), "trades24H": 5000 - i}
                              for i, b in enumerate(self.dydx)}
        http.add("/v4/perpetualMarkets", ok(markets))
        for b in self.dydx:
            ticker = f"{b}-USD"
            http.add(f"/v4/trades/perpetualMarket/{ticker}",
                     lambda _, t=ticker: ok({"trades": list(self.dydx_trades[t])}))
        # CoinGecko (rest_url ends in /api/v3)
        btc = fx("coingecko", "simple_price.json")["bitcoin"]
        http.add("/api/v3/simple/price", lambda s: ok({
            i: {**btc, "last_updated_at": int(time.time())}
            for i in s.query.get("ids", "").split(",") if i}))
        # Etherscan API V2
        http.add("/v2/api", self.etherscan)
        del prefix  # one server for every venue: the paths do not collide

    # Etherscan: a block every 12 s; getLogs answers generated Transfer logs cloned from
    # the recorded ones (their from/to wallets, so the classification mix is the recorded one).
    def head_block(self) -> int:
        return FIRST_BLOCK + int((time.time() - self.t0) / BLOCK_S)

    def etherscan(self, seen: Seen) -> Reply:
        q = seen.query
        if q.get("action") == "eth_blockNumber":
            return ok({"jsonrpc": "2.0", "id": 83, "result": hex(self.head_block())})
        if q.get("action") == "eth_getBlockByNumber":  # the source checks the head exists
            block = fx("etherscan", "block_by_number.json")
            exists = int(q["tag"], 16) <= self.head_block()
            return ok({**block, "result": {**block["result"], "number": q["tag"]}
                       if exists else None})
        usdt = q.get("address", "").lower() == "0xdac17f958d2ee523a2206206994597c13d831ec7"
        token = "USDT" if usdt else "USDC"
        recorded = fx("etherscan", "getlogs_usdt.json" if usdt else "getlogs_usdc.json")["result"]
        lo, hi = int(q.get("fromBlock", "0"), 0), int(q.get("toBlock", "0"), 0)
        rows = []
        for block in range(lo, min(hi, self.head_block()) + 1):
            ts = int(self.t0 + (block - FIRST_BLOCK) * BLOCK_S)
            for i in range(LOGS_PER_BLOCK[token]):
                row = dict(recorded[i % len(recorded)])
                row.update(blockNumber=hex(block), timeStamp=hex(ts), logIndex=hex(i),
                           transactionHash="0x%064x" % (block * 10_000 + i * 2 + usdt))
                rows.append(row)
        if not rows:
            return Reply(200, fixture_text("etherscan", "no_records.json"))
        return ok({"status": "1", "message": "OK", "result": rows[:1000]})


# ---------------------------------------------------------------- WebSocket streams
class Streams:
    """One WebSocket server (harness.local_servers.WsServer) for the four streams, told
    apart by the URL path; pushes liquidation frames shaped like the recorded ones to the
    subscribed connections."""

    def __init__(self, venues: Venues) -> None:
        self.v = venues
        self.server = WsServer(on_connect=self._connected, on_message=self._on_message,
                               on_close=self._closed, max_size=2**22)
        self.venue: dict[int, str] = {}  # connection number -> venue
        self.subs: dict[int, set[str]] = {}  # open connections -> their subscriptions
        self.frames = defaultdict(int)
        self.events = defaultdict(int)
        self._ids = itertools.count(1)
        self._last_sent: dict[tuple[str, str], float] = {}

    def _connected(self, n: int) -> list[Any]:
        path = self.server.path(n)
        venue = ("binance" if "/market/" in path else "okx" if "/ws/v5/" in path
                 else "dydx" if "/v4/ws" in path else "bybit")
        self.venue[n], self.subs[n] = venue, set()
        if venue == "dydx":
            return [{"type": "connected", "connection_id": "bench", "message_id": 0}]
        return []

    def _closed(self, n: int) -> None:
        self.subs.pop(n, None)

    def _on_message(self, n: int, text: str) -> str | None:
        venue, subs = self.venue[n], self.subs.get(n, set())
        if text == "ping":  # OKX
            return "pong"
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if venue == "bybit":
            if msg.get("op") == "ping":
                return orjson.dumps({"success": True, "ret_msg": "pong", "op": "ping"}).decode()
            if msg.get("op") == "subscribe":
                subs.update(msg.get("args", []))
                return orjson.dumps({"success": True, "ret_msg": "subscribe", "conn_id": "b",
                                     "req_id": "", "op": "subscribe"}).decode()
        if venue == "okx" and msg.get("op") == "subscribe":
            subs.add("liquidation-orders")
            return orjson.dumps({"event": "subscribe", "arg": msg["args"][0],
                                 "connId": "bench"}).decode()
        if venue == "dydx" and msg.get("type") == "subscribe":
            subs.add(msg["id"])
            return orjson.dumps({"type": "subscribed", "connection_id": "bench",
                                 "message_id": next(self._ids), "channel": "v4_trades",
                                 "id": msg["id"], "contents": {"trades": []}}).decode()
        return None

    async def __aenter__(self) -> Streams:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.__aexit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    async def _send(self, venue: str, topic: str | None, frame: bytes) -> bool:
        """Send to the connections subscribed to `topic` (all when None); False when no
        connection took it (before the ingest subscribed): its events are not counted."""
        text = frame.decode()
        sent = False
        for n, subs in list(self.subs.items()):
            if self.venue[n] == venue and (topic is None or topic in subs):
                try:
                    await self.server.push(text, n)
                    self.frames[venue] += 1
                    sent = True
                except Exception:  # a dropped client: the ingest reconnects on its own
                    pass
        return sent

    def _pick(self, venue: str, names: list[str], k: int, at: float, per_s_cap: bool
              ) -> list[str]:
        """k symbols, busier ones (lower index) more often; with per_s_cap at most one per
        symbol per second (Binance's and, roughly, OKX's sampling)."""
        out = []
        weights = [1 / (i + 1) for i in range(len(names))]
        for s in random.choices(names, weights, k=k * 3 if per_s_cap else k):
            if per_s_cap:
                if at - self._last_sent.get((venue, s), -9.0) < 1.0:
                    continue
                self._last_sent[(venue, s)] = at
            out.append(s)
            if len(out) == k:
                break
        return out

    async def pump(self, cascade: bool, stop: asyncio.Event, tick_s: float = 0.1) -> None:
        due: dict[str, float] = defaultdict(float)
        rates = {v: r[1 if cascade else 0] for v, r in LIQ_RATE.items()}
        rates["dydx_trades"] = rates["dydx"] * DYDX_TRADES_PER_LIQ + DYDX_TRADES_FLOOR
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(tick_s)
            t = time.monotonic()
            for v, r in rates.items():
                due[v] += r * (t - last)
            last = t
            counts = {}
            for v in rates:
                counts[v] = int(due[v])
                due[v] -= counts[v]
            await self._bybit(counts["bybit"])
            await self._okx(counts["okx"], t)
            await self._binance(counts["binance"], t)
            await self._dydx(counts["dydx"], counts["dydx_trades"])

    @staticmethod
    def _side_px_qty() -> tuple[bool, str, str]:
        long_liq = random.random() < 0.7  # cascades are mostly one-sided
        return long_liq, f"{random.uniform(90, 110):.2f}", f"{random.uniform(0.01, 50):.3f}"

    async def _bybit(self, n: int) -> None:
        ms = now_ms()
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in self._pick("bybit", self.v.bybit, n, 0, False):
            long_liq, px, qty = self._side_px_qty()
            rows[s].append({"T": ms, "s": s + "USDT", "S": "Buy" if long_liq else "Sell",
                            "v": qty, "p": px})
        for s, data in rows.items():
            topic = f"allLiquidation.{s}USDT"
            if await self._send("bybit", topic, orjson.dumps(
                    {"topic": topic, "type": "snapshot", "ts": ms, "data": data})):
                self.events["bybit"] += len(data)

    async def _okx(self, n: int, at: float) -> None:
        ms = str(now_ms())
        data = []
        for s in self._pick("okx", self.v.okx, n, at, True):
            long_liq, px, qty = self._side_px_qty()
            data.append({"details": [{"bkLoss": "0", "bkPx": px, "ccy": "",
                                      "posSide": "long" if long_liq else "short",
                                      "side": "sell" if long_liq else "buy", "sz": qty,
                                      "ts": ms}],
                         "instFamily": f"{s}-USDT", "instId": f"{s}-USDT-SWAP",
                         "instType": "SWAP", "uly": f"{s}-USDT"})
        if data and await self._send("okx", "liquidation-orders", orjson.dumps(
                {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": data})):
            self.events["okx"] += len(data)

    async def _binance(self, n: int, at: float) -> None:
        for s in self._pick("binance", self.v.binance, n, at, True):
            long_liq, px, qty = self._side_px_qty()
            ms = now_ms()
            self.events["binance"] += await self._send("binance", None, orjson.dumps({
                "e": "forceOrder", "E": ms, "o": {
                    "s": s + "USDT", "S": "SELL" if long_liq else "BUY", "o": "LIMIT",
                    "f": "IOC", "q": qty, "p": px, "ap": px, "X": "FILLED", "l": qty,
                    "z": qty, "T": ms}}))

    async def _dydx(self, liqs: int, trades: int) -> None:
        from datetime import UTC, datetime

        v = self.v
        v.dydx_height += 1
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        picks = [(s, True) for s in self._pick("dydx", v.dydx_streamed, liqs, 0, False)]
        picks += [(s, False) for s in self._pick("dydx", v.dydx_streamed, trades, 0, False)]
        for s, liq in picks:
            long_liq, px, qty = self._side_px_qty()
            row = {"id": f"{next(self._ids):024x}", "side": "SELL" if long_liq else "BUY",
                   "size": qty, "price": px, "type": "LIQUIDATED" if liq else "LIMIT",
                   "createdAt": created, "createdAtHeight": str(v.dydx_height)}
            ticker = f"{s}-USD"
            rows[ticker].append(row)
            v.dydx_trades[ticker].appendleft(row)
        for ticker, trades_ in rows.items():
            # a frame no connection took still reaches the ingest by the REST trades poll
            await self._send("dydx", ticker, orjson.dumps({
                "type": "channel_data", "connection_id": "bench",
                "message_id": next(self._ids), "id": ticker, "channel": "v4_trades",
                "version": "2.1.0", "contents": {"trades": trades_}}))
            self.events["dydx"] += sum(t["type"] == "LIQUIDATED" for t in trades_)


# ---------------------------------------------------------------- config, process, sampling
def write_config(path: Path, http_url: str, ws_url: str, tmp: Path) -> None:
    """config/ingest.yaml with every source pointed at the local servers (real intervals,
    budgets and options otherwise)."""
    cfg = yaml.safe_load((CONFIG_DIR / "ingest.yaml").read_text(encoding="utf-8"))
    cfg["spool"]["dir"] = str(tmp / "spool")
    rest = {"bybit": "", "okx": "", "binance": "", "hyperliquid": "", "dydx": "/v4",
            "coingecko": "/api/v3", "etherscan": ""}
    ws = {"bybit": "/v5/public/linear", "okx": "/ws/v5/public",
          "binance": "/market/ws/!forceOrder@arr", "dydx": "/v4/ws"}
    for name, section in cfg["sources"].items():
        section["enabled"] = name in rest
        if name in rest:
            section["rest_url"] = http_url + rest[name]
        if name in ws:
            section["ws_url"] = ws_url + ws[name]
    es = cfg["sources"]["etherscan"]
    es["api_key_env"] = ETHERSCAN_KEY_ENV
    es["options"]["state_file"] = str(tmp / "etherscan_cursor.json")
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_sample(pid: int) -> tuple[float, int]:
    """(CPU seconds user+system, RSS KiB) of a process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return cpu, rss


def topic_counts(bootstrap: str, prefix: str) -> dict[str, int]:
    """Records per topic (sum of the partitions' high watermarks: the topics are new)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}count"})
    try:
        out = {}
        md = c.list_topics(timeout=10).topics
        for t in TOPICS:
            parts = md[prefix + t].partitions if prefix + t in md else {}
            out[t] = sum(c.get_watermark_offsets(TopicPartition(prefix + t, p), 10)[1]
                         for p in parts)
        return out
    finally:
        c.close()


def last_health(bootstrap: str, prefix: str) -> dict[str, dict[str, Any]]:
    """The last ingest_health record per source: its own message and error counts."""
    topic = prefix + HEALTH_TOPIC
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}health",
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out: dict[str, dict[str, Any]] = {}
        idle = 0
        while idle < 3:
            batch = c.consume(500, 1.0)
            idle = 0 if batch else idle + 1
            for m in batch:
                if not m.error():
                    rec = orjson.loads(m.value())
                    if rec["ts"] >= out.get(rec["source"], {}).get("ts", 0):
                        out[rec["source"]] = rec
        return out
    finally:
        c.close()


@dataclass
class Result:
    scenario: str
    seconds: float
    counts: dict[str, int]
    cpu: list[tuple[float, float]]  # (monotonic, cpu seconds)
    rss: list[tuple[float, int]]
    frames: dict[str, int]
    liquidations_sent: dict[str, int]
    requests: int
    health: dict[str, dict[str, Any]]
    exit_code: int
    log_tail: str


async def run_scenario(bootstrap: str, seconds: float, cascade: bool, perps: dict[str, int]
                       ) -> Result:
    name = "cascade" if cascade else "calm"
    prefix = f"bench_live_{name}_{os.getpid()}_"
    subprocess.run([sys.executable, "-m", "ingest", "--bootstrap", bootstrap,
                    "--topic-prefix", prefix, "topics"], cwd=REPO_DIR, check=True,
                   capture_output=True)
    venues = Venues(perps)
    http = HttpServer(keep_alive=True)  # like the venues
    venues.routes(http, {})
    http.start()
    try:
        async with Streams(venues) as streams:
            with tempfile.TemporaryDirectory() as tmp_s:
                tmp = Path(tmp_s)
                config = tmp / "ingest.yaml"
                write_config(config, http.url, streams.url, tmp)
                log = open(tmp / "ingest.log", "wb")  # noqa: SIM115 (closed below)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "ingest", "--bootstrap", bootstrap,
                    "--topic-prefix", prefix, "--ingest-config", str(config), "all",
                    cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT,
                    env={**os.environ, ETHERSCAN_KEY_ENV: "bench-local-key"})
                stop = asyncio.Event()
                pump = asyncio.create_task(streams.pump(cascade, stop))
                cpu: list[tuple[float, float]] = []
                rss: list[tuple[float, int]] = []
                t_end = time.monotonic() + seconds
                while time.monotonic() < t_end and proc.returncode is None:
                    t = time.monotonic()
                    try:
                        c, r = proc_sample(proc.pid)
                    except (FileNotFoundError, ProcessLookupError):
                        break
                    cpu.append((t, c))
                    rss.append((t, r))
                    await asyncio.sleep(max(0.0, t + 1.0 - time.monotonic()))
                stop.set()
                await pump
                if proc.returncode is None:
                    proc.send_signal(signal.SIGINT)  # the CLI's clean stop (flushes the spool)
                try:
                    code = await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    code = await proc.wait()
                log.close()
                tail = "\n".join((tmp / "ingest.log").read_text(errors="replace")
                                 .splitlines()[-15:])
        counts = topic_counts(bootstrap, prefix)
        health = last_health(bootstrap, prefix)
    finally:
        http.stop()
        kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])
    return Result(name, seconds, counts, cpu, rss, dict(streams.frames),
                  dict(streams.events), len(http.requests), health, code, tail)


def cpu_windows(cpu: list[tuple[float, float]], start: float, width: float = 5.0
                ) -> list[float]:
    """% of one core in consecutive `width`-second windows from `start`."""
    pts = [(t, c) for t, c in cpu if t >= start]
    out = []
    i = 0
    for j in range(1, len(pts)):
        if pts[j][0] - pts[i][0] >= width - 0.05:
            out.append(100 * (pts[j][1] - pts[i][1]) / (pts[j][0] - pts[i][0]))
            i = j
    return out


def report(r: Result) -> dict[str, Any]:
    t0 = r.cpu[0][0] if r.cpu else 0.0
    warmup = min(WARMUP_S, r.seconds / 4)  # short runs keep some windows
    wins = cpu_windows(r.cpu, t0 + warmup)
    p95 = (statistics.quantiles(wins, n=20)[-1] if len(wins) >= 2 else
           (wins[0] if wins else float("nan")))
    whole = (100 * (r.cpu[-1][1] - r.cpu[0][1]) / (r.cpu[-1][0] - r.cpu[0][0])
             if len(r.cpu) > 1 else float("nan"))
    steady_rss = [k for t, k in r.rss if t >= t0 + warmup] or [k for _, k in r.rss]
    out = {
        "scenario": r.scenario, "seconds": r.seconds,
        "msgs_per_s": {t: n / r.seconds for t, n in r.counts.items() if n},
        "total_per_s": sum(n for t, n in r.counts.items()) / r.seconds,
        "cpu_mean": statistics.mean(wins) if wins else float("nan"), "cpu_p95": p95,
        "cpu_whole_run": whole, "windows": len(wins),
        "rss_peak_mib": max(k for _, k in r.rss) / 1024,
        "rss_steady_mib": statistics.median(steady_rss) / 1024,
        "ws_frames": r.frames, "liquidations_pushed": r.liquidations_sent,
        "http_requests": r.requests, "exit_code": r.exit_code,
    }
    print(f"\n{r.scenario}: {r.seconds:.0f} s, ingest exit code {r.exit_code}, "
          f"{r.requests:,} HTTP requests served, WebSocket frames "
          + ", ".join(f"{v} {n:,}" for v, n in sorted(r.frames.items()))
          + "; liquidations pushed " + ", ".join(
              f"{v} {n / r.seconds:,.1f}/s" for v, n in sorted(r.liquidations_sent.items()))
          + f" ({sum(r.liquidations_sent.values()):,} in all, "
          f"{r.counts.get(LIQUIDATIONS, 0):,} in Kafka)")
    print("  delivered to Kafka, messages/s: " + ", ".join(
        f"{t} {x:,.1f}" for t, x in sorted(out["msgs_per_s"].items()))
          + f"  (total {out['total_per_s']:,.1f})")
    print(f"  CPU, % of one core, 5-s windows after the first {warmup:.0f} s: mean "
          f"{out['cpu_mean']:.1f}, p95 {out['cpu_p95']:.1f} ({out['windows']} windows); "
          f"whole run incl. start-up {out['cpu_whole_run']:.1f}")
    print(f"  RSS: peak {out['rss_peak_mib']:.0f} MiB, steady (median after "
          f"{warmup:.0f} s) {out['rss_steady_mib']:.0f} MiB")
    print("  ingest's own health counts (messages/errors/dead letters): " + ", ".join(
        f"{s} {h['messages']:,}/{h['errors']}/{h['dead_letters']}"
        for s, h in sorted(r.health.items())))
    if r.exit_code != 0:
        print("  ingest log tail:\n" + r.log_tail)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest_live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default=Connections.from_env().kafka_bootstrap)
    ap.add_argument("--seconds", type=float, default=60, help="per scenario (default 60)")
    ap.add_argument("--perps", type=int,
                    help="perpetuals per venue (default: " + ", ".join(
                        f"{v} {n}" for v, n in PERPS.items()) + ")")
    ap.add_argument("--scenario", choices=["calm", "cascade", "both"], default="both")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    perps = {v: args.perps for v in PERPS} if args.perps else dict(PERPS)
    print(f"live ingest (python -m ingest all) against local recorded-shape servers, "
          f"{os.cpu_count()} cores (shared), load average "
          f"{os.getloadavg()[0]:.1f}; perpetuals: "
          + ", ".join(f"{v} {n}" for v, n in perps.items()))
    print("  liquidations/s calm / cascade: " + ", ".join(
        f"{v} {a:g} / {b:g}" for v, (a, b) in LIQ_RATE.items())
          + f"; dYdX ordinary trades {DYDX_TRADES_PER_LIQ} per liquidation + "
          f"{DYDX_TRADES_FLOOR:g}/s; Etherscan transfer logs per 12-s block "
          + ", ".join(f"{t} {n}" for t, n in LOGS_PER_BLOCK.items()))
    scenarios = {"calm": [False], "cascade": [True], "both": [False, True]}[args.scenario]
    results = [report(asyncio.run(run_scenario(args.bootstrap, args.seconds, c, perps)))
               for c in scenarios]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()

"""Hostile input for the hostile-input suite (tests/hostile/) and bench/hostile.py: values,
strings, nesting and sizes that venues, chains and files have sent or could send, a
mutator that plants them in recorded real payloads, and the parse chain of every source
(the calls a source makes on one HTTP body or WebSocket frame, from the bytes on).

Everything here is deterministic from a random.Random, so a failing input is found again
from its seed and index (bench) or shrunk by hypothesis (tests, through st.randoms()).

The rule the suite checks: whatever comes in, the chain returns or raises the refusal its
caller turns into a dead letter (PayloadError; Etherscan's in-body throttle too), and
never anything else, and never takes long.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from harness import recorded

# ---------------------------------------------------------------- values

HOSTILE_NUMBER_TEXTS: list[str] = [
    "1e9999999", "1e999999", "1e600000", "-1e999999", "1e-999999", "1E+400", "1e-400",
    "9" * 5000, "0." + "0" * 3000 + "1", "NaN", "nan", "Infinity", "-Infinity", "inf",
    "0x10", "1_000", " 7 ", "", " ", "\u0663\u0663", "\uff11\uff12\uff13", "-0", "+1",
    ".5", "5.", "1e", "e1", "--1", "1.2.3", "0E+999999", "1e309", "4e-324",
    "99999999999999999999999", "1796000000000000000", "18446744073709551616",
]
HOSTILE_TEXTS: list[str] = [
    "", " ", "\x00", "\ud800", "\udfff", "a\ud83dz", "<!channel>", "<!here|here>",
    "<@U024BE7LH>", "<https://evil.example|click here>", "@everyone", "[x](https://evil)",
    "../../etc/passwd", "..", "/", "A" * 70_000, "\u5e01\u5b89\u4eba\u751f", "\u202eRTL",
    "a\x00b", "\r\nX-Injected: 1", "%s%n%x", "${jndi:ldap://x}", "\u200b", "BTC\u00a0",
    "\ufeff", "\U0001f680", "e\u0301",
]


def hostile_numbers() -> list[Any]:
    """Numbers as a JSON decoder with parse_float=Decimal returns them, and the odd types
    a field may hold instead."""
    return [Decimal("1E+999999"), Decimal("1E+600000"), Decimal("-1E+999999"),
            Decimal("1E-999999"), Decimal("0E+999999"), Decimal("1" * 200 + ".5"),
            10 ** 4000, -(10 ** 30), 2 ** 63, 2 ** 64, -1, 0, 1, float("inf"),
            float("-inf"), float("nan"), 1e308, 5e-324, True, False, None]


def deep(depth: int, leaf: Any = 1, kind: str = "list") -> Any:
    """`leaf` wrapped `depth` times in lists (or {"a": ...} objects)."""
    out = leaf
    for _ in range(depth):
        out = [out] if kind == "list" else {"a": out}
    return out


def hostile_containers(rng: random.Random) -> Any:
    return rng.choice([
        [], {}, [None], [[]], {"": None}, deep(rng.choice([40, 63, 65, 200, 900])),
        deep(rng.choice([40, 65, 900]), kind="dict"), list(range(rng.choice([1000, 100_000]))),
        {f"k{i}": i for i in range(rng.choice([100, 20_000]))}, [{"s": "X"}] * 5,
    ])


def hostile_value(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.4:
        return rng.choice(HOSTILE_NUMBER_TEXTS)
    if pick < 0.65:
        return rng.choice(hostile_numbers())
    if pick < 0.85:
        return rng.choice(HOSTILE_TEXTS)
    return hostile_containers(rng)


# ---------------------------------------------------------------- mutation

def _nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value in doc (breadth first, iterative)."""
    out, todo = [], [doc]
    while todo and len(out) < 50_000:
        node = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) \
            if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            if isinstance(value, dict | list):
                todo.append(value)
    return out


def mutate(doc: Any, rng: random.Random, mutations: int | None = None) -> Any:
    """A deep copy of a decoded payload with 1-4 places changed: a value replaced by a
    hostile one, a key dropped, a value wrapped in a list or object, a container
    emptied, or the whole payload replaced."""
    if rng.random() < 0.03:
        return hostile_value(rng)
    doc = copy.deepcopy(doc)
    nodes = _nodes(doc)
    if not nodes:
        return hostile_value(rng)
    for _ in range(mutations or rng.randint(1, 4)):
        parent, key = rng.choice(nodes)
        try:
            current = parent[key]
        except (KeyError, IndexError):
            continue  # removed by an earlier mutation
        how = rng.random()
        if how < 0.6:
            parent[key] = hostile_value(rng)
        elif how < 0.75 and isinstance(parent, dict):
            del parent[key]
        elif how < 0.85:
            parent[key] = [current] if rng.random() < 0.5 else {"x": current}
        elif isinstance(current, dict | list):
            current.clear()
        else:
            parent[key] = str(current) if not isinstance(current, str) else None
    return doc


def dumps(doc: Any) -> bytes:
    """JSON text of a mutated payload as a venue would send it: Decimals as their digits
    (1E+999999 is valid JSON), infinities and NaN as the non-standard literals some
    encoders write, lone surrogates as \\u escapes. Iterative: any depth."""
    out: list[str] = []
    todo: list[Any] = [doc]
    while todo:
        item = todo.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            out.append("{")
            parts: list[Any] = []
            for i, (k, v) in enumerate(item.items()):
                parts += [_Raw("," if i else ""), _Raw(json.dumps(str(k)) + ":"), v]
            todo.append(_Raw("}"))
            todo.extend(reversed(parts))
        elif isinstance(item, list | tuple):
            out.append("[")
            parts = []
            for i, v in enumerate(item):
                parts += [_Raw("," if i else ""), v]
            todo.append(_Raw("]"))
            todo.extend(reversed(parts))
        elif isinstance(item, bool) or item is None:
            out.append(json.dumps(item))
        elif isinstance(item, float):
            out.append("NaN" if item != item else "Infinity" if item == float("inf")
                       else "-Infinity" if item == float("-inf") else repr(item))
        elif isinstance(item, Decimal):
            out.append(str(item) if item.is_finite() else "NaN")
        elif isinstance(item, int):
            out.append(int.__repr__(item) if item.bit_length() < 13_000 else "1" * 5000)
        else:
            out.append(json.dumps(str(item)))
    return "".join(out).encode("ascii")  # strings were written with \\u escapes


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def raw_mutations(data: bytes, rng: random.Random) -> bytes:
    """Byte-level damage: cut, garbage, invalid UTF-8, a huge number, deep nesting, NaN."""
    how = rng.randrange(9)
    if how == 0:
        return data[:rng.randrange(len(data) + 1)]
    if how == 1:
        at = rng.randrange(len(data) + 1)
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
    if how == 2:
        return b"\xff\xfe" + data
    if how == 3:
        return b"[" * rng.choice([65, 1000, 100_000]) + b"]" * rng.choice([0, 65, 1000])
    if how == 4:
        return data.replace(b'"0.', b'1e999999', 1).replace(b'"1', b'1e600000', 1)
    if how == 5:
        return b'{"a":' + b"9" * rng.choice([4000, 5000, 100_000]) + b"}"
    if how == 6:
        return b"[NaN, Infinity, -Infinity]"
    if how == 7:
        return b'"\\ud800"'
    return data * rng.choice([1, 2, 50])


# ---------------------------------------------------------------- the parse chains

class Refused(Exception):
    """Raised by a chain for what the source refuses on purpose (the caller dead-letters)."""


@dataclass(frozen=True)
class Chain:
    component: str  # e.g. "bybit"
    name: str  # e.g. "tickers (REST)"
    payload: Any  # the recorded payload, decoded
    run: Callable[[bytes], Any]  # bytes -> what the source would publish


def _loads(raw: bytes, where: str) -> Any:
    from ingest.contract import loads

    return loads(raw, where)


def _rows_each(rows: Any, fn: Callable[[Any], Any]) -> list[Any]:
    """fn on every row, as a source does under its per-row guard: a refused row is
    collected, not raised; anything else propagates (an escape)."""
    from ingest.contract import PayloadError

    out = []
    for row in rows if isinstance(rows, list) else [rows]:
        try:
            out.append(fn(row))
        except PayloadError as exc:
            out.append(exc)
    return out


def _split_data() -> Callable[[Any], list[Any]]:
    try:
        from ingest.sources.common import split_data
    except ImportError:  # the layout before ingest/sources/common.py (bench before/after)
        from ingest.sources.cex_io import split_data  # type: ignore[no-redef]
    return split_data


@cache
def _bybit_instruments() -> dict[str, Any]:
    from ingest.sources import bybit

    rows = bybit.rows_of(recorded.load("bybit", "instruments_linear.json"), "i")
    return {i.symbol: i for r in rows if (i := bybit.parse_instrument(r, "i")) is not None}


@cache
def _okx_instruments() -> dict[str, Any]:
    from ingest.sources import okx

    rows = okx.rows_of(recorded.load("okx", "instruments_swap.json"), "i")
    return {i.inst_id: i for r in rows if (i := okx.parse_instrument(r, "i")) is not None}


@cache
def _binance_instruments() -> dict[str, Any]:
    from ingest.sources import binance

    intervals = binance.parse_funding_info(recorded.load("binance", "funding_info.json"), "i")
    return binance.parse_exchange_info(recorded.load("binance", "exchange_info.json"),
                                       intervals, "i")


def _bybit_chains() -> Iterator[Chain]:
    from ingest.contract import req, ts_ms
    from ingest.sources import bybit

    inst = _bybit_instruments()

    def tickers(raw: bytes) -> Any:
        payload = _loads(raw, "tickers")
        rows = bybit.rows_of(payload, "t")
        ts = ts_ms(req(payload, "time", "t"), "time", "t")
        return _rows_each([r for r in rows if isinstance(r, dict)
                           and isinstance(r.get("symbol"), str) and r["symbol"] in inst],
                          lambda r: bybit.parse_ticker(r, inst[r["symbol"]], ts, "t"))

    def instruments(raw: bytes) -> Any:
        payload = _loads(raw, "instruments")
        return _rows_each(bybit.rows_of(payload, "i"),
                          lambda r: bybit.parse_instrument(r, "i"))

    def ratio(raw: bytes) -> Any:
        rows = bybit.rows_of(_loads(raw, "ratio"), "r")
        return _rows_each(rows[:1], lambda r: bybit.parse_account_ratio(r, inst["BTCUSDT"], "r"))

    def klines(raw: bytes) -> Any:
        return bybit.parse_mark_klines(_loads(raw, "klines"), "k")

    def liquidation(raw: bytes) -> Any:
        msg = _loads(raw, "ws")
        return _rows_each(_split_data()(msg),
                          lambda one: bybit.parse_all_liquidation(one, inst, "w"))

    first_frame = recorded.lines("bybit", "ws_all_liquidation.jsonl")[1]
    yield Chain("bybit", "tickers", recorded.load("bybit", "tickers_linear.json"), tickers)
    yield Chain("bybit", "instruments", recorded.load("bybit", "instruments_linear.json"),
                instruments)
    yield Chain("bybit", "account ratio", recorded.load("bybit", "account_ratio_btcusdt.json"),
                ratio)
    yield Chain("bybit", "mark klines", recorded.load("bybit", "mark_price_kline_btcusdt.json"),
                klines)
    yield Chain("bybit", "allLiquidation frame", first_frame, liquidation)


def _okx_chains() -> Iterator[Chain]:
    from ingest.sources import okx

    inst = _okx_instruments()

    def per_inst(parse: Callable[..., Any], *extra: Any) -> Callable[[bytes], Any]:
        def run(raw: bytes) -> Any:
            rows = okx.rows_of(_loads(raw, "okx"), "o")
            return _rows_each([r for r in rows if isinstance(r, dict)
                               and isinstance(r.get("instId"), str) and r["instId"] in inst],
                              lambda r: parse(r, inst[r["instId"]], *extra, "o"))
        return run

    def liquidation(raw: bytes) -> Any:
        msg = _loads(raw, "ws")
        return _rows_each(_split_data()(msg),
                          lambda one: okx.parse_liquidation_orders(one, inst, "w"))

    def ratio(raw: bytes) -> Any:
        rows = okx.rows_of(_loads(raw, "ratio"), "r")
        return _rows_each(rows[:1], lambda r: okx.parse_long_short_ratio(r, "BTC", "r"))

    def instruments(raw: bytes) -> Any:
        return _rows_each(okx.rows_of(_loads(raw, "instruments"), "i"),
                          lambda r: okx.parse_instrument(r, "i"))

    yield Chain("okx", "funding", recorded.load("okx", "funding_rate_any.json"),
                per_inst(okx.parse_funding, Decimal("109000")))
    yield Chain("okx", "open interest", recorded.load("okx", "open_interest_swap.json"),
                per_inst(okx.parse_open_interest))
    yield Chain("okx", "tickers", recorded.load("okx", "tickers_swap.json"),
                per_inst(okx.parse_ticker))
    yield Chain("okx", "instruments", recorded.load("okx", "instruments_swap.json"),
                instruments)
    yield Chain("okx", "long/short ratio",
                recorded.load("okx", "long_short_account_ratio_btc.json"), ratio)
    yield Chain("okx", "liquidation-orders frame",
                recorded.lines("okx", "ws_liquidation_orders.jsonl")[1], liquidation)


def _binance_chains() -> Iterator[Chain]:
    from ingest.sources import binance

    inst = _binance_instruments()

    def per_symbol(parse: Callable[..., Any], *extra: Any) -> Callable[[bytes], Any]:
        def run(raw: bytes) -> Any:
            payload = _loads(raw, "binance")
            rows = payload if isinstance(payload, list) else [payload]
            return _rows_each([r for r in rows if isinstance(r, dict)
                               and isinstance(r.get("symbol"), str) and r["symbol"] in inst],
                              lambda r: parse(r, inst[r["symbol"]], *extra, "b"))
        return run

    def force_order(raw: bytes) -> Any:
        return binance.parse_force_order(_loads(raw, "ws"), inst, "w")

    def funding_history(raw: bytes) -> Any:
        return binance.parse_funding_history(_loads(raw, "fh"), inst["BTCUSDT"], "fh")

    def exchange_info(raw: bytes) -> Any:
        return binance.parse_exchange_info(_loads(raw, "ei"), {}, "ei")

    def funding_info(raw: bytes) -> Any:
        return binance.parse_funding_info(_loads(raw, "fi"), "fi")

    yield Chain("binance", "premiumIndex", recorded.load("binance", "premium_index.json"),
                per_symbol(binance.parse_premium_index))
    yield Chain("binance", "ticker/24hr", recorded.load("binance", "ticker_24hr.json"),
                per_symbol(binance.parse_ticker_24h))
    yield Chain("binance", "openInterest", recorded.load("binance", "open_interest_btcusdt.json"),
                per_symbol(binance.parse_open_interest, Decimal("109000")))
    yield Chain("binance", "long/short", recorded.load(
        "binance", "global_long_short_account_ratio_btcusdt.json"),
        per_symbol(binance.parse_long_short))
    yield Chain("binance", "funding history", recorded.load(
        "binance", "funding_rate_history_btcusdt.json"), funding_history)
    yield Chain("binance", "exchangeInfo", recorded.load("binance", "exchange_info.json"),
                exchange_info)
    yield Chain("binance", "fundingInfo", recorded.load("binance", "funding_info.json"),
                funding_info)
    yield Chain("binance", "forceOrder frame",
                recorded.lines("binance", "ws_force_order.jsonl")[0], force_order)


def _hyperliquid_chains() -> Iterator[Chain]:
    from ingest.sources import hyperliquid as hl

    def snapshot(raw: bytes) -> Any:
        pairs = hl.split_meta_and_asset_ctxs(_loads(raw, "info"))
        return _rows_each(pairs, lambda p: hl.parse_asset_ctx(p[0], p[1], 1_795_183_200_000))

    def history(raw: bytes) -> Any:
        return hl.parse_funding_history(_loads(raw, "fh"), "BTC")

    yield Chain("hyperliquid", "metaAndAssetCtxs",
                recorded.load("hyperliquid", "meta_and_asset_ctxs.json"), snapshot)
    yield Chain("hyperliquid", "fundingHistory",
                recorded.load("hyperliquid", "funding_history_btc.json"), history)


def _dydx_chains() -> Iterator[Chain]:
    from ingest.sources import dydx

    def markets(raw: bytes) -> Any:
        entries = dydx.market_entries(_loads(raw, "markets"))
        return _rows_each(entries, lambda e: dydx.parse_market(e[0], e[1], 1_795_183_200_000))

    def trades(raw: bytes) -> Any:
        rows = dydx.trade_rows(_loads(raw, "trades"), "t")
        cursor = dydx.TradeCursor()
        fresh = dydx.new_trades(cursor, [rows])
        cursor.advance(fresh)
        return _rows_each(fresh, lambda r: dydx.parse_liquidation("BTC-USD", r, where="t"))

    def frame(raw: bytes) -> Any:
        batches = dydx.ws_trade_batches(_loads(raw, "ws"))
        return [_rows_each(rows, lambda r, t=t: dydx.parse_liquidation(t, r, where="w"))
                for t, rows in batches]

    def history(raw: bytes) -> Any:
        return dydx.parse_historical_funding("BTC-USD", _loads(raw, "hf"), "hf")

    yield Chain("dydx", "perpetualMarkets", recorded.load("dydx", "perpetual_markets.json"),
                markets)
    yield Chain("dydx", "trades", recorded.load("dydx", "trades_btc.json"), trades)
    yield Chain("dydx", "v4_trades frame", recorded.load("dydx", "ws_trades_btc.json")[1], frame)
    yield Chain("dydx", "historicalFunding",
                recorded.load("dydx", "historical_funding_btc.json"), history)


def _coingecko_chains() -> Iterator[Chain]:
    from ingest.sources import coingecko as cg

    ids = {"BTC": "bitcoin", "ETH": "ethereum", "PEPE": "pepe", "SOL": "solana"}

    def simple(raw: bytes) -> Any:
        return cg.parse_simple_price(_loads(raw, "price"), ids)

    def chart(raw: bytes) -> Any:
        return cg.parse_market_chart(_loads(raw, "chart"), "bitcoin", "BTC")

    yield Chain("coingecko", "simple/price", recorded.load("coingecko", "simple_price.json"),
                simple)
    yield Chain("coingecko", "market_chart/range",
                recorded.load("coingecko", "market_chart_range_bitcoin.json"), chart)


def _etherscan_chains() -> Iterator[Chain]:
    from ingest.sources import etherscan as es

    wallets = es.load_wallets()

    def logs(raw: bytes) -> Any:
        rows = es.result_rows(_loads(raw, "logs"), "l")
        return _rows_each(rows, lambda r: es.parse_transfer_log(r, "USDT", 6, wallets, "l"))

    def head(raw: bytes) -> Any:
        return es.block_number(_loads(raw, "head"))

    yield Chain("etherscan", "getLogs", recorded.load("etherscan", "getlogs_usdt.json"), logs)
    yield Chain("etherscan", "eth_blockNumber", recorded.load("etherscan", "block_number.json"),
                head)


def chains() -> list[Chain]:
    """The parse chain of every source, on its recorded payloads."""
    return [*_bybit_chains(), *_okx_chains(), *_binance_chains(), *_hyperliquid_chains(),
            *_dydx_chains(), *_coingecko_chains(), *_etherscan_chains()]


def refusals() -> tuple[type[BaseException], ...]:
    """What a chain may raise on purpose: the source dead-letters (or, for Etherscan's
    in-body throttle, backs off on) exactly these."""
    from ingest.contract import PayloadError
    from ingest.sources.etherscan import BodyThrottle

    return (PayloadError, BodyThrottle)


def hostile_input(chain: Chain, rng: random.Random) -> bytes:
    """One hostile body or frame for `chain`: mostly a mutated recorded payload, sometimes
    byte-level damage."""
    if rng.random() < 0.15:
        return raw_mutations(dumps(chain.payload), rng)
    return dumps(mutate(chain.payload, rng))


# ---------------------------------------------------------------- the notifier's path

SAMPLE_ALERT = {
    "alert_id": "BTC:2026-11-20T14:09:00Z:WARNING", "base": "BTC", "level": "WARNING",
    "previous_level": "INFO", "side": "long", "risk": 62.0, "long_risk": 62.0,
    "short_risk": 24.0, "funding_pts": 18.0, "oi_buildup_pts": 24.0, "imbalance_pts": 20.0,
    "liquidation_pts": 0.0, "pressure": -7.9, "confidence": 1.0, "components": "x",
    "window_start": "2026-11-20 14:09:00", "window_end": "2026-11-20 14:10:00",
}
ALERT_VALUES = ["BTC", "\u5e01\u5b89\u4eba\u751f", "<!channel>", "<@U024BE7LH>",
                "<https://evil|x>", "0001-01-01 00:00:00", "9999-12-31 23:59:00",
                "0001-01-01T00:00:00Z", "\ud800", "a\r\nb", "x" * 300, "../../x", "\u00c4",
                "@everyone", None, 1e308]


def hostile_alert(rng: random.Random) -> bytes:
    """An alert message as the job would write it, with 1-3 fields made hostile; half the
    time its alert_id is rebuilt from them as the job does (base:window:level)."""
    alert = dict(SAMPLE_ALERT)
    for key in rng.sample(sorted(alert), rng.randint(1, 3)):
        alert[key] = rng.choice(ALERT_VALUES) if rng.random() < 0.7 else hostile_value(rng)
    if rng.random() < 0.5:
        alert["alert_id"] = f"{alert['base']}:{alert['window_start']}:{alert['level']}"
    return dumps(alert)


class NotAnAlert(Exception):
    """The notifier refuses the message (it goes to the dead letters)."""


_SENDERS: list[Any] = []
DASHBOARD = "http://127.0.0.1:3000/d?var-base={base}&from={from_ms}&to={to_ms}"


def notifier_path(raw: bytes) -> None:
    """What the notifier does with one message of the alerts topic: parse it (a refusal is
    NotAnAlert), then for each channel type render it and build the HTTP request it would
    send (httpx checks the headers). AssertionError when markup would reach Slack."""
    import httpx

    from notifier import channels as ch
    from notifier import config as cfg
    from notifier.message import render
    from notifier.service import parse_alert

    if not _SENDERS:
        url = {"url": "http://127.0.0.1:9/hook"}
        _SENDERS.extend([
            ch.WebhookSender(cfg.WebhookChannel(name="w", type="webhook", url_env="W"), url),
            ch.TelegramSender(cfg.TelegramChannel(name="t", type="telegram", token_env="T",
                                                  chat_id_env="C"),
                              {"token": "1:x", "chat_id": "1"}),
            ch.DiscordSender(cfg.DiscordChannel(name="d", type="discord", url_env="D"), url),
            ch.SlackSender(cfg.SlackChannel(name="s", type="slack", url_env="S"), url),
        ])
    try:
        alert = parse_alert(raw)
    except ValueError as exc:
        raise NotAnAlert(str(exc)) from None
    with httpx.Client() as client:
        for sender in _SENDERS:
            for recovery in (False, True):
                out = sender.request(alert, render(alert, DASHBOARD, recovery))
                client.build_request("POST", out.url, json=out.json, headers=out.headers,
                                     params=out.params or None)
                if isinstance(sender, ch.SlackSender) and _slack_markup(out.json):
                    raise AssertionError("markup reached Slack")


def _slack_markup(payload: dict[str, Any]) -> bool:
    """An unescaped control sequence in what Slack renders (<!channel>, <@U..>,
    <url|label>), besides the one dashboard link the sender writes itself."""
    texts = [payload.get("text", "")]
    texts += [b["text"]["text"] for b in payload.get("blocks", []) if b.get("type") == "section"]
    return any("<!" in t or "<@" in t or "<http" in t for t in texts)

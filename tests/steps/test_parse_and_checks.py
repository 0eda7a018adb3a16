"""Step: parse and checks (sql/flink/10-30). Raw records of each topic, as Kafka hands
them to the job, become typed rows with a `problem` or none; every refused record is in
`dead_letters` with its topic, reason and raw text. The bounds are the contract's
(lcm/contract.py), so a record at a bound passes and one beyond it is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows
from lcm import contract

T = 1_795_183_205_000  # 2026-11-20 14:00:05 UTC
CEX = {"exchange": "bybit", "symbol": "BTCUSDT", "base": "btc", "ts": T, "ingest_ts": T + 300}
FLOW = {"chain": "ethereum", "symbol": "USDT", "base": "USDT", "ts": T, "ingest_ts": T + 300,
        "token": "USDT", "tx_hash": "0xabc", "log_index": 3, "amount_usd": 1000.0,
        "from": "0x1", "to": "0x2", "direction": "INFLOW", "exchange_label": "okx"}
HEALTH = {"source": "bybit", "ts": T, "last_event_ts": T - 500, "messages": 10, "errors": 1,
          "dead_letters": 2, "state": "UP"}
MAX_FUNDING = contract.MAX_FUNDING_PER_INTERVAL


def rec(payload: dict[str, Any] | str, event_time: int | None = None) -> tuple[str, Any]:
    return (payload if isinstance(payload, str) else json.dumps(payload), event_time)


RAW = {
    "prices_raw": Rows.of(
        "payload event_time",
        rec({**CEX, "price": 95000.5}),
        rec("{oops", T),
        rec("[1, 2]", T),
        rec({k: v for k, v in CEX.items() if k != "ts"} | {"price": 1.0}, T),
        rec({**CEX, "ts": "soon", "price": 1.0}, T),
        rec({**CEX, "price": 1.0}, T + 1000),
        rec({k: v for k, v in CEX.items() if k != "exchange"} | {"price": 1.0}),
        rec({k: v for k, v in CEX.items() if k != "symbol"} | {"price": 1.0}),
        rec({**CEX, "base": "", "price": 1.0}),
        rec({**CEX, "price": 0}),
        rec({**CEX, "price": "abc"}),
    ),
    "funding_rates_raw": Rows.of(
        "payload event_time",
        rec({**CEX, "funding_rate": 0.0004, "interval_hours": 8, "mark_price": 95000.0}),
        rec({**CEX, "exchange": "hyperliquid", "symbol": "BTC", "funding_rate": 0.0000125,
             "interval_hours": 1, "mark_price": None}),
        rec({**CEX, "exchange": "okx", "funding_rate": MAX_FUNDING, "interval_hours": 4}),
        rec({**CEX, "exchange": "binance", "funding_rate": MAX_FUNDING + 0.0001,
             "interval_hours": 8}),
        rec({**CEX, "exchange": "dydx", "funding_rate": 0.0001, "interval_hours": 0}),
        rec({**CEX, "exchange": "coingecko", "interval_hours": 8}),
    ),
    "open_interest_raw": Rows.of(
        "payload event_time",
        rec({**CEX, "oi_base": 1.0, "oi_usd": 0}),
        rec({**CEX, "exchange": "okx", "oi_usd": -1}),
        rec({**CEX, "exchange": "binance", "oi_base": 2.0}),
    ),
    "liquidations_raw": Rows.of(
        "payload event_time",
        rec({**CEX, "id": "abc", "side": "LONG", "price": 100.0, "qty": 2.0,
             "notional_usd": 200.0}),
        rec({**CEX, "exchange": "okx", "symbol": "BTC-USDT-SWAP", "side": "short",
             "price": 100.0, "qty": 1.0, "notional_usd": 100.0}),
        rec({**CEX, "exchange": "binance", "id": "x", "side": "buy", "notional_usd": 1.0}),
        rec({**CEX, "exchange": "binance", "id": "y", "side": "long", "notional_usd": -1.0}),
    ),
    "long_short_ratio_raw": Rows.of(
        "payload event_time",
        rec({**CEX, "long_share": 1.0, "short_share": 0.0, "ratio": 0,
             "population": "accounts"}),
        rec({**CEX, "exchange": "okx", "long_share": 1.2}),
        rec({**CEX, "exchange": "okx", "long_share": 0.5, "short_share": 0.5, "ratio": 1.0}),
    ),
    "stablecoin_flows_raw": Rows.of(
        "payload event_time",
        rec(FLOW),
        rec({**FLOW, "direction": "sideways"}),
        rec({**FLOW, "amount_usd": -5}),
        rec({k: v for k, v in FLOW.items() if k != "log_index"}),
    ),
    "ingest_health_raw": Rows.of(
        "payload event_time",
        rec(HEALTH),
        rec({**HEALTH, "last_event_ts": None, "state": "down"}),
        rec({**HEALTH, "state": "sleeping"}),
        rec({**HEALTH, "messages": -1}),
        rec({**HEALTH, "last_event_ts": "yesterday"}),
        rec({k: v for k, v in HEALTH.items() if k != "source"}),
    ),
    "ingest_heartbeat_raw": Rows.of(
        "payload event_time", rec({"source": "ingest", "ts": T, "ingest_ts": T})),
}

OUTPUTS = {
    "prices_checked": "venue symbol base ts price problem",
    "funding_rates_checked": "venue funding_rate interval_hours funding_8h mark_price problem",
    "open_interest_checked": "venue oi_usd problem",
    "long_short_ratio_checked": "venue long_share population problem",
    "liquidations_checked": "venue side notional_usd dedup_key problem",
    "stablecoin_flows_checked": "venue direction amount_usd dedup_key problem",
    "ingest_health_checked": "source reported_ms last_event_ms messages errors "
                             "dead_letter_count state problem",
    "heartbeats": None,
    "dead_letters": "topic kafka_offset problem",
}


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> dict[str, list[dict[str, Any]]]:
    return job_steps.run(RAW, OUTPUTS)


def usable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("problem") is None]


def test_open_interest_and_long_short_at_their_bounds_pass(out) -> None:
    assert_rows(usable(out["open_interest_checked"]), Rows.of("venue oi_usd", ("bybit", 0.0)))
    assert_rows(usable(out["long_short_ratio_checked"]), Rows.of(
        "venue long_share population", ("bybit", 1.0, "accounts")))


def test_a_good_price_is_typed_and_its_asset_upper_cased(out) -> None:
    assert_rows(usable(out["prices_checked"]), Rows.of(
        "venue symbol base ts price", ("bybit", "BTCUSDT", "BTC", T, 95000.5)))


def test_funding_becomes_8_hour_equivalent_up_to_the_contract_bound(out) -> None:
    assert_rows(usable(out["funding_rates_checked"]), Rows.of(
        "venue funding_rate interval_hours funding_8h mark_price",
        ("bybit", 0.0004, 8.0, 0.0004, 95000.0),
        ("hyperliquid", 0.0000125, 1.0, 0.0001, None),
        ("okx", MAX_FUNDING, 4.0, 2 * MAX_FUNDING, None),
    ))


def test_liquidations_get_one_identity_and_a_lower_case_side(out) -> None:
    assert_rows(usable(out["liquidations_checked"]), Rows.of(
        "venue side notional_usd dedup_key",
        ("bybit", "long", 200.0, "bybit:abc"),
        # No id: venue, symbol, ts, side and notional identify it.
        ("okx", "short", 100.0, f"okx:BTC-USDT-SWAP:{T}:short:100.0"),
    ))


def test_a_transfer_is_identified_by_chain_tx_and_log_index(out) -> None:
    assert_rows(usable(out["stablecoin_flows_checked"]), Rows.of(
        "venue direction amount_usd dedup_key",
        ("ethereum", "inflow", 1000.0, "ethereum:0xabc:3")))


def test_health_reports_are_copied_field_by_field(out) -> None:
    assert_rows(usable(out["ingest_health_checked"]), Rows.of(
        "source reported_ms last_event_ms messages errors dead_letter_count state",
        ("bybit", T, None, 10, 1, 2, "down"),
        ("bybit", T, T - 500, 10, 1, 2, "up"),
    ))


def test_a_heartbeat_passes_no_row(out) -> None:
    assert out["heartbeats"] == []


def test_every_refused_record_is_a_dead_letter_naming_the_problem(out) -> None:
    assert_rows(out["dead_letters"], Rows.of(
        "topic kafka_offset problem",
        ("funding_rates", 3, "funding_rate: beyond 5 % per interval"),
        ("funding_rates", 4, "interval_hours: missing or not positive"),
        ("funding_rates", 5, "funding_rate: missing or not a number"),
        ("ingest_health", 2, "state: must be up, degraded or down"),
        ("ingest_health", 3, "messages: missing or not a count"),
        ("ingest_health", 4, "last_event_ts: not epoch milliseconds"),
        ("ingest_health", 5, "source: missing"),
        ("liquidations", 2, "side: must be long or short"),
        ("liquidations", 3, "notional_usd: negative"),
        ("long_short_ratio", 1, "long_share: outside 0..1"),
        ("long_short_ratio", 2, "population: must be accounts or top_positions"),
        ("open_interest", 1, "oi_usd: negative"),
        ("open_interest", 2, "oi_usd: missing or not a number"),
        ("prices", 1, "not a JSON object"),
        ("prices", 10, "price: missing or not a number"),
        ("prices", 2, "not a JSON object"),
        ("prices", 3, "ts: missing or not epoch milliseconds"),
        ("prices", 4, "ts: missing or not epoch milliseconds"),
        ("prices", 5, "ts: differs from the Kafka record timestamp (producers must set it to ts)"),
        ("prices", 6, "exchange/chain: missing"),
        ("prices", 7, "symbol: missing"),
        ("prices", 8, "base: missing"),
        ("prices", 9, "price: not positive"),
        ("stablecoin_flows", 1, "direction: must be inflow, outflow or internal"),
        ("stablecoin_flows", 2, "amount_usd: negative"),
        ("stablecoin_flows", 3, "tx_hash/log_index: missing"),
    ))

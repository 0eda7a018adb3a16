"""Step: dedup (sql/flink/31, 44). A liquidation or a stablecoin transfer delivered twice
(a replay, a producer's retry: same identity, same ts) counts once per minute; refused
records never count."""

from __future__ import annotations

from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows, epoch_ms

LIQ = "event_time venue base dedup_key side notional_usd ts problem"
FLOW = "event_time dedup_key direction amount_usd problem"
INPUTS = {
    "liquidations_checked": Rows.of(
        LIQ,
        ("14:00:05", "bybit", "BTC", "bybit:a", "long", 1000.0, epoch_ms("14:00:05"), None),
        ("14:00:05", "bybit", "BTC", "bybit:a", "long", 1000.0, epoch_ms("14:00:05"), None),
        ("14:00:40", "bybit", "BTC", "bybit:b", "short", 300.0, epoch_ms("14:00:40"), None),
        ("14:00:50", "okx", "BTC", "okx:x", "long", -5.0, epoch_ms("14:00:50"),
         "notional_usd: negative"),
        ("14:01:10", "bybit", "BTC", "bybit:c", "long", 70.0, epoch_ms("14:01:10"), None),
    ),
    "stablecoin_flows_checked": Rows.of(
        FLOW,
        ("14:00:11", "ethereum:0xaa:1", "inflow", 5e6, None),
        ("14:00:11", "ethereum:0xaa:1", "inflow", 5e6, None),
        ("14:00:11", "ethereum:0xaa:2", "outflow", 2e6, None),
        ("14:00:23", "ethereum:0xbb:0", "sideways", 1e6,
         "direction: must be inflow, outflow or internal"),
    ),
}
OUTPUTS = {
    "liquidations_unique": "event_time venue base dedup_key side notional_usd ts",
    "flows_unique": "event_time dedup_key direction amount_usd",
}


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> dict[str, list[dict[str, Any]]]:
    return job_steps.run(INPUTS, OUTPUTS)


def test_a_liquidation_counts_once_per_minute_and_refused_ones_never(out) -> None:
    assert_rows(out["liquidations_unique"], Rows.of(
        "event_time venue base dedup_key side notional_usd ts",
        ("14:00:59.999", "bybit", "BTC", "bybit:a", "long", 1000.0, epoch_ms("14:00:05")),
        ("14:00:59.999", "bybit", "BTC", "bybit:b", "short", 300.0, epoch_ms("14:00:40")),
        ("14:01:59.999", "bybit", "BTC", "bybit:c", "long", 70.0, epoch_ms("14:01:10")),
    ))


def test_a_transfer_counts_once_by_tx_and_log_index(out) -> None:
    assert_rows(out["flows_unique"], Rows.of(
        "event_time dedup_key direction amount_usd",
        ("14:00:59.999", "ethereum:0xaa:1", "inflow", 5e6),
        ("14:00:59.999", "ethereum:0xaa:2", "outflow", 2e6),
    ))

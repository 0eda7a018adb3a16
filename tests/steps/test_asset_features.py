"""Step: all-venue features (sql/flink/42-44). The venues' carried-forward inputs of a
minute become one row per asset: funding weighted by open interest, open interest summed,
its change over venues that have both ends of the lookback, the stalest input's age; the
asset's liquidation baseline; and the market-wide stablecoin flows of the minute, each
transfer once, with the hour's typical flow size."""

from __future__ import annotations

from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows

VENUES = ("minute venue base price_cf price_ref funding_cf oi_cf oi_ref long_share_cf "
          "liq_long_usd liq_short_usd liq_count events data_age_s top_long_share_cf")
INPUTS = {
    "venue_lookback": Rows.of(
        VENUES,
        ("14:00", "bybit", "W", 100.0, 99.0, 0.0004, 3e9, 2.5e9, 0.7, 1000.0, None, 1, 5, 40.0,
         0.55),
        ("14:00", "okx", "W", 102.0, 100.0, 0.0001, 1e9, None, 0.6, None, 500.0, 1, 3, 70.0,
         None),
        ("14:00", "hyperliquid", "W", 101.0, None, 0.0008, None, None, None, None, None, 0, 2,
         None, None),
        # No venue reports open interest: funding is a plain average.
        ("14:00", "bybit", "P", 10.0, 10.0, 0.0004, None, None, None, None, None, 0, 1, 5.0,
         None),
        ("14:00", "okx", "P", 11.0, 10.0, 0.0002, None, None, None, None, None, 0, 1, 5.0,
         None),
    ),
    "flows_unique": Rows.of(
        "event_time dedup_key direction amount_usd",
        ("14:00:59.999", "ethereum:0xa:1", "inflow", 10e6),
        ("14:00:59.999", "ethereum:0xa:2", "inflow", 5e6),
        ("14:00:59.999", "ethereum:0xb:1", "outflow", 2e6),
        ("14:00:59.999", "ethereum:0xc:7", "internal", 1e6),
        ("14:01:59.999", "ethereum:0xd:1", "outflow", 4e6),
    ),
}
FEATURES = ("window_start base price funding_8h oi_usd oi_change_pct price_change_pct "
            "long_share top_long_share liq_long_usd liq_short_usd liq_count venues events "
            "data_age_s")
BASELINE = "window_start base liq_seen liq_long_in liq_short_in"
FLOWS = "window_start inflow_usd outflow_usd internal_usd transfers baseline_usd"


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> dict[str, list[dict[str, Any]]]:
    return job_steps.run(INPUTS, {"asset_features": FEATURES, "asset_baseline": BASELINE,
                                  "flow_baseline": FLOWS})


def test_the_venues_of_a_minute_become_one_asset_row(out) -> None:
    assert_rows(out["asset_features"], Rows.of(
        FEATURES,
        # funding (0.0004 x 3e9 + 0.0001 x 1e9) / 4e9; OI change only where both ends exist
        # (bybit: 3e9 against 2.5e9); price change averaged over venues with a reference;
        # each long/short population averaged over the venues that report it.
        ("14:00", "W", 101.0, 0.000325, 4e9, 20.0, (100 / 99 - 1) * 50 + 1.0, 0.65, 0.55,
         1000.0, 500.0, 2, 3, 10, 70.0),
        ("14:00", "P", 10.5, 0.0003, None, None, 5.0, None, None, None, None, 0, 2, 2, 5.0),
    ))


def test_the_asset_baseline_counts_liquidations_of_every_venue(out) -> None:
    assert_rows(out["asset_baseline"], Rows.of(
        BASELINE,
        ("14:00", "P", 0, None, None),
        ("14:00", "W", 2, 1000.0, 500.0),
    ))


def test_flows_are_summed_by_direction_with_the_hours_typical_size(out) -> None:
    assert_rows(out["flow_baseline"], Rows.of(
        FLOWS,
        ("14:00", 15e6, 2e6, 1e6, 4, 17e6),
        # A minute with outflows only: inflow is a measured 0; the baseline averages the
        # gross (in + out) flow of the minutes so far.
        ("14:01", 0.0, 4e6, 0.0, 1, 10.5e6),
    ))

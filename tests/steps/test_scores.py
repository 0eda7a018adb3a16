"""Step: scores (sql/flink/50, 51). The all-venue and venue rows scored by the UDFs with
config/monitor.yaml's defaults, joined with the minute's Stablecoin Pressure. The inputs
are the worked examples of docs/scoring.md, so are the expected numbers (more digits).
A change to the scoring shows here first: update these rows and the docs together."""

from __future__ import annotations

from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows

ALL = ("minute base funding_8h oi_change_pct price_change_pct long_share liq_long_in "
       "liq_short_in oi_usd liq_baseline_usd liq_count venues events data_age_s")
VENUE = ("minute venue base funding_cf oi_change_cf price_change_cf long_share_cf liq_long_in "
         "liq_short_in oi_cf liq_baseline_usd liq_count events data_age_s")
INPUTS = {
    "asset_baseline": Rows.of(
        ALL,
        # Build-up before a long cascade (BTC, 14:07).
        ("14:07", "BTC", 0.00042, 3.4, 0.25, 0.74, 1.2e6, 0.0, 22.4e9, 0.35e6, 20, 4, 90, 52.0),
        # The cascade itself (ETH, three minutes later).
        ("14:10", "ETH", 0.00007, -6.5, -2.1, 0.60, 5.1e6, 0.0, 20.5e9, 0.9e6, 60, 4, 150, 49.0),
        # Short squeeze setup (SOL).
        ("14:07", "SOL", -0.00038, 2.2, 0.9, 0.36, 0.0, 0.4e6, 3.1e9, 0.15e6, 3, 4, 80, 51.0),
        # A minute without any stablecoin flow data: pressure unknown.
        ("14:20", "BTC", 0.0001, 0.0, 0.0, 0.5, 0.0, 0.0, 22e9, 0.3e6, 0, 4, 60, 40.0),
    ),
    # A thin venue row: Hyperliquid has no account ratio and no liquidation feed.
    "venue_inputs": Rows.of(
        VENUE,
        ("14:07", "hyperliquid", "BTC", 0.00042, 3.4, 0.25, None, None, None, 5e9, None, 0, 2,
         30.0),
    ),
    "flow_baseline": Rows.of(
        "minute inflow_usd outflow_usd internal_usd transfers baseline_usd",
        ("14:07", 0.0, 5e6, 0.0, 3, 2e6),
        ("14:10", 58.8e6, 0.0, 0.0, 9, 7.4e6),
    ),
}
COLUMNS = ("window_start base venue side risk long_risk short_risk funding_pts oi_buildup_pts "
           "imbalance_pts liquidation_pts confidence components data_age_s pressure")
EVERY = "funding,oi_buildup,imbalance,liquidations"


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> dict[str, list[dict[str, Any]]]:
    return job_steps.run(INPUTS, {"risk_scores": COLUMNS,
                                  "stablecoin_pressure": "window_start pressure"})


def test_risk_per_side_with_its_components(out) -> None:
    assert_rows(out["risk_scores"], Rows.of(
        COLUMNS,
        ("14:07", "BTC", "all", "long", 58.0986, 58.0986, 19.3333, 19.2, 19.3333, 18.8509,
         0.7143, 1.0, EVERY, 52.0, 39.4896),
        ("14:07", "BTC", "hyperliquid", "long", 38.5333, 38.5333, 19.3333, 19.2, 19.3333, None,
         None, 0.6, "funding,oi_buildup", 30.0, 39.4896),
        ("14:07", "SOL", "all", "short", 37.2249, 8.3333, 37.2249, 16.8, 8.3333, 8.5790,
         3.5125, 1.0, EVERY, 51.0, 39.4896),
        ("14:10", "ETH", "all", "long", 19.8706, 19.8706, 0.0, 0.0, 0.0, 4.8706, 15.0, 1.0,
         EVERY, 49.0, -62.3310),
        ("14:20", "BTC", "all", "long", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, EVERY, 40.0,
         None),
    ), abs_=1e-4, rel=0)


def test_pressure_of_the_minute(out) -> None:
    assert_rows(out["stablecoin_pressure"], Rows.of(
        "window_start pressure", ("14:07", 39.4896), ("14:10", -62.3310)), abs_=1e-4, rel=0)

"""Step: scores (sql/flink/45-47, 51). The all-venue rows turned into signals, judged against
the asset's own trailing history and scored by the UDF, joined with the minute's Stablecoin
Pressure (docs/scoring.md). Run with config/monitor-sample.yaml, whose short warm-up (an
input is judged from its fifth value on) lets six minutes show a whole history.

The expected numbers were worked out from docs/scoring.md's formulas (signal transforms,
trailing mean and sd with the current window taken out, z, weights, Phi) outside Flink and
are written here. A change to the scoring shows here first: update these rows and the docs
together."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flink_jobs.config import load_config
from harness.job_steps import JobSteps, LocalFlink, Rows, assert_rows
from lcm.paths import REPO_DIR

ALL = ("minute base funding_8h oi_usd oi_change_pct price_change_pct long_share "
       "top_long_share liq_long_in liq_short_in data_age_s")
INPUTS = {
    "asset_baseline": Rows.of(
        ALL,
        # BTC: five ordinary minutes, then a long cascade (liquidations of 0.2 % of open
        # interest in a minute, price down 2 %, funding and positioning stretched long).
        ("14:00", "BTC", 0.0001, 20e9, 0.2, 0.05, 0.52, 0.50, 0.1e6, 0.1e6, 30.0),
        ("14:01", "BTC", 0.00012, 20e9, -0.1, -0.1, 0.53, 0.49, 0.2e6, 0.05e6, 31.0),
        ("14:02", "BTC", 0.00009, 20e9, 0.3, 0.1, 0.51, 0.51, 0.05e6, 0.15e6, 32.0),
        ("14:03", "BTC", 0.00011, 20e9, 0.0, -0.05, 0.52, 0.50, 0.15e6, 0.1e6, 33.0),
        ("14:04", "BTC", 0.0001, 20e9, 0.1, 0.0, 0.52, 0.50, 0.1e6, 0.1e6, 34.0),
        ("14:05", "BTC", 0.0004, 20.5e9, 2.5, -2.0, 0.70, 0.62, 40e6, 0.1e6, 35.0),
        # SOL: no liquidation feed (NULL: missing, not zero) and no top-trader ratio; a
        # short squeeze setup in its fifth minute, judged on four inputs only.
        ("14:01", "SOL", -0.0001, 3e9, 0.1, 0.2, 0.45, None, None, None, 40.0),
        ("14:02", "SOL", -0.00012, 3e9, 0.2, 0.1, 0.44, None, None, None, 40.0),
        ("14:03", "SOL", -0.00011, 3e9, 0.0, 0.3, 0.46, None, None, None, 40.0),
        ("14:04", "SOL", -0.0001, 3e9, 0.1, 0.2, 0.45, None, None, None, 40.0),
        ("14:05", "SOL", -0.0005, 3.1e9, 3.0, 4.0, 0.30, None, None, None, 40.0),
    ),
    "venue_inputs": Rows((), ()),  # venue rows are scored by the same SQL; none here
    "flow_baseline": Rows.of(
        "minute inflow_usd outflow_usd internal_usd transfers baseline_usd",
        ("14:00", 1e6, 1e6, 0.0, 2, 2e6),
        ("14:01", 1e6, 1.2e6, 0.0, 2, 2e6),
        ("14:02", 0.8e6, 1e6, 0.0, 2, 2e6),
        ("14:03", 1e6, 0.9e6, 0.0, 2, 2e6),
        ("14:04", 1.1e6, 1e6, 0.0, 2, 2e6),
        # A whale's 30 M USD arriving on exchanges.
        ("14:05", 30e6, 0.5e6, 0.0, 5, 2.2e6),
    ),
}
COLUMNS = ("window_start base venue side risk long_risk short_risk liquidation_pts "
           "liquidation_recent_pts price_move_pts oi_buildup_pts funding_pts imbalance_pts "
           "top_imbalance_pts pressure_pts confidence components data_age_s pressure")
EVERY = ("liquidations,liquidations_recent,price_move,oi_buildup,funding,imbalance,"
         "top_imbalance")
WARMING = (None,) * 8 + (0.0, "")  # nothing judged yet: no points, confidence 0


@pytest.fixture(scope="module")
def job_steps() -> Iterator[JobSteps]:
    with LocalFlink() as flink:
        yield JobSteps(flink, load_config(REPO_DIR / "config" / "monitor-sample.yaml"))


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> dict[str, list[dict[str, Any]]]:
    return job_steps.run(INPUTS, {"risk_scores": COLUMNS,
                                  "stablecoin_pressure": "window_start pressure"})


def test_nothing_is_judged_before_the_warm_up(out) -> None:
    first_judged = {"BTC": "14:04", "SOL": "14:05"}
    early = [r for r in out["risk_scores"] if r["window_start"] < first_judged[r["base"]]]
    assert_rows(early, Rows.of(
        COLUMNS,
        ("14:00", "BTC", "all", "long", 50.0, 50.0, 50.0, *WARMING, 30.0, 0.0),
        ("14:01", "BTC", "all", "long", 50.0, 50.0, 50.0, *WARMING, 31.0, 3.1759),
        ("14:02", "BTC", "all", "long", 50.0, 50.0, 50.0, *WARMING, 32.0, 3.1759),
        ("14:03", "BTC", "all", "long", 50.0, 50.0, 50.0, *WARMING, 33.0, -1.6262),
        ("14:01", "SOL", "all", "long", 50.0, 50.0, 50.0, *WARMING, 40.0, 3.1759),
        ("14:02", "SOL", "all", "long", 50.0, 50.0, 50.0, *WARMING, 40.0, 3.1759),
        ("14:03", "SOL", "all", "long", 50.0, 50.0, 50.0, *WARMING, 40.0, -1.6262),
        ("14:04", "SOL", "all", "long", 50.0, 50.0, 50.0, *WARMING, 40.0, -1.6262),
    ), abs_=1e-3, rel=0)


def test_a_cascade_against_its_own_history(out) -> None:
    first_judged = {"BTC": "14:04", "SOL": "14:05"}
    judged = [r for r in out["risk_scores"] if r["window_start"] >= first_judged[r["base"]]]
    assert_rows(judged, Rows.of(
        COLUMNS,
        # An ordinary minute judged: close to the middle of the scale.
        ("14:04", "BTC", "all", "short", 52.2824, 44.689, 52.2824, 0.0022, 0.0303, 0.0,
         0.0015, 0.0805, 0.0, 0.0, None, 1.0, EVERY, 34.0, -1.6262),
        # The cascade: every long-side component at or near its clip, risk at the top.
        ("14:05", "BTC", "all", "long", 99.9991, 99.9991, 15.5375, 3.0358, 2.0239, 1.0119,
         0.7589, 0.7589, 0.506, 0.506, None, 1.0, EVERY, 35.0, -71.1041),
        # Four of the inputs only: the short side tops the scale, confidence says how
        # little of the input was there (below min_confidence: no alert follows).
        ("14:05", "SOL", "all", "short", 99.9951, 2.5788, 99.9951, None, None, 2.5955,
         1.9467, 1.9467, 1.2978, None, None, 0.3529, "price_move,oi_buildup,funding,imbalance",
         40.0, -71.1041),
    ), abs_=1e-3, rel=0)


def test_pressure_of_the_minute(out) -> None:
    assert_rows(out["stablecoin_pressure"], Rows.of(
        "window_start pressure", ("14:00", 0.0), ("14:01", 3.1759), ("14:02", 3.1759),
        ("14:03", -1.6262), ("14:04", -1.6262), ("14:05", -71.1041)), abs_=1e-3, rel=0)

"""Step: lookback and carry-forward (sql/flink/41). Per venue: the open interest and price
at the start of the 15-minute lookback, each periodic input carried forward while younger
than its pipeline.max_input_age_s at the window end (never beyond: then it is missing), the
age of the stalest input, and the liquidation inputs, which are 0 only where the venue's
feed delivered anything within the 60-minute baseline. The two populations of the
long/short ratio are carried apart."""

from __future__ import annotations

from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows
from harness.job_steps import epoch_ms as ms
from lcm.pipeline import load_pipeline

FEATURES = ("minute venue base price funding_8h oi_usd long_share liq_long_usd liq_short_usd "
            "liq_count events price_ts funding_ts oi_ts long_share_ts end_ms top_long_share "
            "top_long_share_ts")
INPUTS = {"venue_features": Rows.of(
    FEATURES,
    # CF: every input at 14:00, then prices only.
    ("14:00", "bybit", "CF", 100.0, 0.0004, 1000.0, 0.7, None, None, 0, 5,
     ms("14:00:30"), ms("14:00:20"), ms("14:00:40"), ms("14:00:50"), ms("14:01"),
     0.6, ms("14:00:45")),
    ("14:01", "bybit", "CF", 101.0, None, None, None, None, None, 0, 1,
     ms("14:01:30"), None, None, None, ms("14:02"), None, None),
    ("14:06", "bybit", "CF", 106.0, None, None, None, None, None, 0, 1,
     ms("14:06:30"), None, None, None, ms("14:07"), None, None),
    # RF: open interest only, every 10 minutes.
    ("14:00", "bybit", "RF", None, None, 100.0, None, None, None, 0, 1,
     None, None, ms("14:00:40"), None, ms("14:01"), None, None),
    ("14:10", "bybit", "RF", None, None, 110.0, None, None, None, 0, 1,
     None, None, ms("14:10:40"), None, ms("14:11"), None, None),
    ("14:20", "bybit", "RF", None, None, 121.0, None, None, None, 0, 1,
     None, None, ms("14:20:40"), None, ms("14:21"), None, None),
    # LQ: liquidations at 14:00 on bybit, none at 14:01; okx never had any.
    ("14:00", "bybit", "LQ", 10.0, None, None, None, 600.0, None, 2, 3,
     ms("14:00:30"), None, None, None, ms("14:01"), None, None),
    ("14:01", "bybit", "LQ", 10.0, None, None, None, None, None, 0, 1,
     ms("14:01:30"), None, None, None, ms("14:02"), None, None),
    ("14:01", "okx", "LQ", 10.0, None, None, None, None, None, 0, 1,
     ms("14:01:30"), None, None, None, ms("14:02"), None, None),
)}
CARRIED = ("window_start base price_cf funding_cf oi_cf long_share_cf price_age_ms "
           "funding_age_ms oi_age_ms long_share_age_ms data_age_s top_long_share_cf "
           "top_long_share_age_ms")
CHANGES = "window_start base oi_ref price_ref oi_change_cf price_change_cf"
LIQ = "window_start venue base liq_seen liq_long_in liq_short_in"


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> list[dict[str, Any]]:
    columns = " ".join(dict.fromkeys(f"venue {CARRIED} {CHANGES} {LIQ}".split()))
    return job_steps.run_one(INPUTS, "venue_inputs", columns)


def rows(out: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    return [r for r in out if r["base"] == base]


def test_the_configured_ages_are_what_these_rows_assume() -> None:
    ages = load_pipeline().max_input_age_s
    assert (ages.price, ages.funding, ages.open_interest, ages.long_short) == (120, 900, 300, 900)


def test_inputs_are_carried_forward_while_young_enough_and_never_beyond(out) -> None:
    assert_rows(rows(out, "CF"), Rows.of(
        CARRIED,
        ("14:00", "CF", 100.0, 0.0004, 1000.0, 0.7, 30_000, 40_000, 20_000, 10_000, 40.0,
         0.6, 15_000),
        ("14:01", "CF", 101.0, 0.0004, 1000.0, 0.7, 30_000, 100_000, 80_000, 70_000, 100.0,
         0.6, 75_000),
        # 14:07 is 380 s after the last open interest: older than 300 s, so missing.
        ("14:06", "CF", 106.0, 0.0004, None, 0.7, 30_000, 400_000, None, 370_000, 400.0,
         0.6, 375_000),
    ))


def test_changes_are_measured_against_the_start_of_the_lookback(out) -> None:
    assert_rows(rows(out, "CF"), Rows.of(
        CHANGES,
        ("14:00", "CF", 1000.0, 100.0, 0.0, 0.0),
        ("14:01", "CF", 1000.0, 100.0, 0.0, 1.0),
        ("14:06", "CF", 1000.0, 100.0, None, 6.0),
    ))
    assert_rows(rows(out, "RF"), Rows.of(
        CHANGES,
        ("14:00", "RF", 100.0, None, 0.0, None),
        ("14:10", "RF", 100.0, None, 10.0, None),
        # 15 minutes back from 14:20 reaches 14:10, not 14:00.
        ("14:20", "RF", 110.0, None, 10.0, None),
    ))


def test_no_liquidation_is_0_only_where_the_feed_delivered_within_the_baseline(out) -> None:
    assert_rows(rows(out, "LQ"), Rows.of(
        LIQ,
        ("14:00", "bybit", "LQ", 2, 600.0, 0.0),
        ("14:01", "bybit", "LQ", 2, 0.0, 0.0),
        ("14:01", "okx", "LQ", 0, None, None),
    ))

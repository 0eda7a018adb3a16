"""Step: venue features (sql/flink/32, 40). One row per venue, asset and minute: averages
of the periodic inputs, liquidation sums per side, when each input was last seen, and the
window's end; refused records and minutes without an input leave it NULL, never 0."""

from __future__ import annotations

from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows
from harness.job_steps import epoch_ms as ms

CHECKED = "event_time ts venue base {} problem"


def checked(measure: str, *rows: tuple[Any, ...]) -> Rows:
    """Rows of a *_checked view: (time, venue, base, value[, problem]); ts = event time."""
    return Rows.of(CHECKED.format(measure), *(
        (t, ms(t), venue, base, value, *(rest or (None,))) for t, venue, base, value, *rest
        in rows))


INPUTS = {
    "prices_checked": checked(
        "price",
        ("14:00:05", "bybit", "BTC", 100.0), ("14:00:35", "bybit", "BTC", 102.0),
        ("14:00:45", "bybit", "BTC", -1.0, "price: not positive"),
        ("14:00:10", "okx", "BTC", 99.0), ("14:01:05", "bybit", "BTC", 104.0)),
    "funding_rates_checked": checked("funding_8h", ("14:00:20", "bybit", "BTC", 0.0004)),
    "open_interest_checked": checked("oi_usd", ("14:00:40", "bybit", "BTC", 5e9)),
    # The two populations of the long/short ratio stay apart (accounts: long_share, top
    # traders' positions: top_long_share).
    "long_short_ratio_checked": Rows.of(
        "event_time ts venue base long_share population problem",
        ("14:00:50", ms("14:00:50"), "bybit", "BTC", 0.7, "accounts", None),
        ("14:00:55", ms("14:00:55"), "bybit", "BTC", 0.6, "top_positions", None)),
    "liquidations_unique": Rows.of(
        "event_time venue base side notional_usd ts",
        ("14:00:59.999", "bybit", "BTC", "long", 1000.0, ms("14:00:12")),
        ("14:00:59.999", "bybit", "BTC", "long", 500.0, ms("14:00:13")),
        ("14:00:59.999", "bybit", "BTC", "short", 200.0, ms("14:00:14"))),
}
COLUMNS = ("window_start venue base price funding_8h oi_usd long_share top_long_share "
           "liq_long_usd liq_short_usd liq_count events price_ts funding_ts oi_ts "
           "long_share_ts top_long_share_ts end_ms")


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> list[dict[str, Any]]:
    return job_steps.run_one(INPUTS, "venue_features", COLUMNS)


def test_every_input_of_a_venue_minute_in_one_row(out) -> None:
    assert_rows([r for r in out if r["venue"] == "bybit"], Rows.of(
        COLUMNS,
        ("14:00", "bybit", "BTC", 101.0, 0.0004, 5e9, 0.7, 0.6, 1500.0, 200.0, 3, 9,
         ms("14:00:35"), ms("14:00:20"), ms("14:00:40"), ms("14:00:50"), ms("14:00:55"),
         ms("14:01")),
        # The next minute has a price only: the other inputs are NULL here (41 carries
        # them forward), and no liquidation is no row of liquidations, not a 0.
        ("14:01", "bybit", "BTC", 104.0, None, None, None, None, None, None, 0, 1,
         ms("14:01:05"), None, None, None, None, ms("14:02")),
    ))


def test_each_venue_is_its_own_row(out) -> None:
    assert_rows([r for r in out if r["venue"] == "okx"], Rows.of(
        "window_start venue price liq_count events price_ts end_ms",
        ("14:00", "okx", 99.0, 0, 1, ms("14:00:10"), ms("14:01"))))

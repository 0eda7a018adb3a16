"""Unit tests of flink_jobs/scoring.py: no Flink, Kafka or PostgreSQL needed.

The tables below were computed by hand from the documented curves (a linear ramp between
the `start` and `full` thresholds, clamped to 0..1, times the component's max_points) for
the thresholds shipped in config/monitor.yaml. `test_tables_match_shipped_thresholds`
fails first, with a clear message, if those thresholds are retuned.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flink_jobs.config import DEFAULT_CONFIG, load_config
from flink_jobs.scoring import (
    alert_level,
    funding_points,
    imbalance_points,
    liquidation_points,
    liquidation_risk,
    oi_buildup_points,
    stablecoin_pressure,
)

CFG = load_config(DEFAULT_CONFIG).scoring
TOL = 1e-9


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def share_for_ratio(ratio: float) -> float:
    """long_share whose long/short account ratio is `ratio`."""
    return ratio / (1.0 + ratio)


def test_tables_match_shipped_thresholds() -> None:
    expected = {
        "funding": {"neutral_8h": 0.0001, "extreme_8h": 0.0006, "max_points": 30},
        "oi_buildup": {
            "start_pct": 0.5,
            "full_pct": 5.0,
            "price_flat_pct": 0.3,
            "price_moved_pct": 2.0,
            "moved_discount": 0.75,
            "max_points": 30,
        },
        "imbalance": {"start_ratio": 1.2, "full_ratio": 3.0, "max_points": 20},
        "liquidations": {
            "start_bp_of_oi": 0.5,
            "full_bp_of_oi": 5.0,
            "start_surge": 3.0,
            "full_surge": 15.0,
            "max_points": 20,
        },
        "pressure": {"min_baseline_usd": 1_000_000, "softness": 3.0},
        "alerts": {
            "critical_risk": 70,
            "critical_pressure": -30,
            "warning_risk": 50,
            "warning_pressure": 0,
            "info_risk": 30,
            "min_confidence": 0.5,
        },
    }
    actual = CFG.model_dump()
    assert actual == expected, (
        "config/monitor.yaml was retuned: recompute the hand-made tables in tests/test_scoring.py"
    )


# --- funding: ramp on |funding_8h| from 0.0001 (0 pts) to 0.0006 (30 pts) ---------------


@pytest.mark.parametrize(
    ("funding_8h", "expected"),
    [
        (0.0, 0.0),
        (0.00009, 0.0),  # just below neutral
        (0.0001, 0.0),  # at neutral
        (0.00011, 0.6),  # just above neutral: 30 * 0.00001 / 0.0005
        (0.00035, 15.0),  # halfway
        (0.00059, 29.4),  # just below extreme: 30 * 0.00049 / 0.0005
        (0.0006, 30.0),  # at extreme
        (0.00061, 30.0),  # just above extreme: clamped
        (0.01, 30.0),
        # negative funding (shorts paying) counts by absolute value
        (-0.00009, 0.0),
        (-0.0001, 0.0),
        (-0.00011, 0.6),
        (-0.00035, 15.0),
        (-0.0006, 30.0),
        (-0.05, 30.0),
    ],
)
def test_funding_points_table(funding_8h: float, expected: float) -> None:
    assert funding_points(funding_8h, CFG) == approx(expected)


def test_funding_points_missing_is_none() -> None:
    assert funding_points(None, CFG) is None


# --- open-interest build-up: ramp on oi_change_pct 0.5..5.0, times (1 - 0.75 * moved) ---
# where moved ramps on |price_change_pct| from 0.3 (flat) to 2.0 (moved).


@pytest.mark.parametrize(
    ("oi_change_pct", "expected"),
    [
        (-3.0, 0.0),  # open interest falling
        (0.0, 0.0),
        (0.4, 0.0),  # just below start
        (0.5, 0.0),  # at start
        (0.6, 30 * 0.1 / 4.5),  # just above start
        (2.75, 15.0),  # halfway
        (4.9, 30 * 4.4 / 4.5),  # just below full
        (5.0, 30.0),  # at full
        (5.1, 30.0),  # above full: clamped
        (80.0, 30.0),
    ],
)
def test_oi_buildup_points_flat_price(oi_change_pct: float, expected: float) -> None:
    assert oi_buildup_points(oi_change_pct, 0.0, CFG) == approx(expected)


@pytest.mark.parametrize(
    ("price_change_pct", "expected"),
    [
        (0.0, 30.0),
        (0.2, 30.0),  # below flat threshold: full weight
        (0.3, 30.0),  # at flat threshold
        (0.4, 30 * (1 - 0.75 * 0.1 / 1.7)),  # just above flat
        (1.15, 30 * (1 - 0.75 * 0.5)),  # halfway: 18.75
        (1.9, 30 * (1 - 0.75 * 1.6 / 1.7)),  # just below moved
        (2.0, 7.5),  # at moved: 30 * (1 - 0.75)
        (2.1, 7.5),  # above moved: clamped
        (-0.2, 30.0),  # price direction does not matter
        (-1.15, 18.75),
        (-2.0, 7.5),
        (-40.0, 7.5),
    ],
)
def test_oi_buildup_points_price_moved_discount(price_change_pct: float, expected: float) -> None:
    # open interest at full build-up, so only the price discount varies
    assert oi_buildup_points(5.0, price_change_pct, CFG) == approx(expected)


def test_oi_buildup_points_discount_scales_partial_buildup() -> None:
    assert oi_buildup_points(2.75, 0.0, CFG) == approx(15.0)
    assert oi_buildup_points(2.75, 2.0, CFG) == approx(3.75)  # 15 * 0.25
    assert oi_buildup_points(2.75, 1.15, CFG) == approx(15.0 * 0.625)


def test_oi_buildup_points_missing_oi_is_none() -> None:
    assert oi_buildup_points(None, 0.0, CFG) is None
    assert oi_buildup_points(None, None, CFG) is None


# --- imbalance: ramp on |ln(long/short)| from ln 1.2 (0 pts) to ln 3 (20 pts) -------------


def _imbalance_expected(ratio: float) -> float:
    skew = abs(math.log(ratio))
    lo, hi = math.log(1.2), math.log(3.0)
    return 20.0 * min(1.0, max(0.0, (skew - lo) / (hi - lo)))


IMBALANCE_RATIOS = [
    (1.0, 0.0),  # balanced
    (1.1, 0.0),  # just below start
    (1.2, 0.0),  # at start
    (1.3, 20.0 * math.log(1.3 / 1.2) / math.log(2.5)),  # just above start, ~1.747
    (math.sqrt(1.2 * 3.0), 10.0),  # halfway in log space
    (2.9, 20.0 * math.log(2.9 / 1.2) / math.log(2.5)),  # just below full, ~19.26
    (3.0, 20.0),  # at full
    (3.1, 20.0),  # just above full: clamped
    (50.0, 20.0),
]


@pytest.mark.parametrize(("ratio", "expected"), IMBALANCE_RATIOS)
def test_imbalance_points_long_heavy(ratio: float, expected: float) -> None:
    assert expected == approx(_imbalance_expected(ratio))
    assert imbalance_points(share_for_ratio(ratio), CFG) == approx(expected)


@pytest.mark.parametrize(("ratio", "expected"), IMBALANCE_RATIOS)
def test_imbalance_points_short_heavy_is_symmetric(ratio: float, expected: float) -> None:
    long_share = share_for_ratio(ratio)
    short_heavy = imbalance_points(1.0 - long_share, CFG)
    assert short_heavy == approx(expected)
    assert short_heavy == approx(imbalance_points(long_share, CFG))


@pytest.mark.parametrize("long_share", [0.0, 1.0])
def test_imbalance_points_one_sided_is_max_without_error(long_share: float) -> None:
    assert imbalance_points(long_share, CFG) == 20.0


def test_imbalance_points_missing_is_none() -> None:
    assert imbalance_points(None, CFG) is None


@pytest.mark.parametrize("long_share", [-0.01, 1.01, -5.0, 2.0])
def test_imbalance_points_share_out_of_range(long_share: float) -> None:
    with pytest.raises(ValueError, match="long_share"):
        imbalance_points(long_share, CFG)


# --- liquidations: max of (bp of OI, 0.5..5.0) and (surge over baseline, 3..15) ----------

OI = 1e9  # 1 bp of open interest = 100_000 USD
BASE = 100_000.0  # per-minute liquidation baseline


@pytest.mark.parametrize(
    ("liq_usd", "expected"),
    [
        (0.0, 0.0),
        (40_000.0, 0.0),  # 0.4 bp: just below start
        (50_000.0, 0.0),  # 0.5 bp: at start
        (60_000.0, 20 * 0.1 / 4.5),  # 0.6 bp: just above start
        (275_000.0, 10.0),  # 2.75 bp: halfway
        (490_000.0, 20 * 4.4 / 4.5),  # 4.9 bp: just below full
        (500_000.0, 20.0),  # 5 bp: at full
        (600_000.0, 20.0),  # 6 bp: clamped
    ],
)
def test_liquidation_points_against_open_interest(liq_usd: float, expected: float) -> None:
    assert liquidation_points(liq_usd, OI, None, CFG) == approx(expected)


@pytest.mark.parametrize(
    ("liq_usd", "expected"),
    [
        (0.0, 0.0),
        (290_000.0, 0.0),  # 2.9x: just below start
        (300_000.0, 0.0),  # 3x: at start
        (310_000.0, 20 * 0.1 / 12),  # 3.1x: just above start
        (900_000.0, 10.0),  # 9x: halfway
        (1_490_000.0, 20 * 11.9 / 12),  # 14.9x: just below full
        (1_500_000.0, 20.0),  # 15x: at full
        (1_600_000.0, 20.0),  # 16x: clamped
    ],
)
def test_liquidation_points_against_baseline_surge(liq_usd: float, expected: float) -> None:
    assert liquidation_points(liq_usd, None, BASE, CFG) == approx(expected)


@pytest.mark.parametrize(
    ("liq_usd", "oi_usd", "baseline_usd", "expected"),
    [
        (275_000.0, 1e9, BASE, 10.0),  # 2.75 bp -> 10; 2.75x surge -> 0
        (900_000.0, 1e9, BASE, 20.0),  # 9 bp -> 20; 9x surge -> 10
        (900_000.0, 1e10, BASE, 10.0),  # 0.9 bp -> 20*0.4/4.5; 9x surge -> 10
        (600_000.0, 1e10, 1e6, 20 * 0.1 / 4.5),  # 0.6 bp -> 0.44; 0.6x surge -> 0
    ],
)
def test_liquidation_points_takes_the_larger_signal(
    liq_usd: float, oi_usd: float, baseline_usd: float, expected: float
) -> None:
    assert liquidation_points(liq_usd, oi_usd, baseline_usd, CFG) == approx(expected)


@pytest.mark.parametrize(
    ("oi_usd", "baseline_usd", "expected"),
    [
        (0.0, None, None),  # nothing to measure against: unknown (None), not a fake 0
        (None, 0.0, None),
        (0.0, 0.0, None),
        (None, None, None),
        (0.0, BASE, 10.0),  # 9x surge still counts when OI is zero
        (None, BASE, 10.0),
        (1e9, 0.0, 20.0),  # 9 bp still counts when the baseline is zero
        (1e9, None, 20.0),
    ],
)
def test_liquidation_points_zero_or_missing_normalizers(
    oi_usd: float | None, baseline_usd: float | None, expected: float | None
) -> None:
    got = liquidation_points(900_000.0, oi_usd, baseline_usd, CFG)
    assert got == (None if expected is None else approx(expected))


def test_liquidation_points_missing_liquidations_is_none() -> None:
    assert liquidation_points(None, OI, BASE, CFG) is None


def test_liquidation_points_negative_rejected() -> None:
    with pytest.raises(ValueError, match="liq_usd"):
        liquidation_points(-1.0, OI, BASE, CFG)


# --- stablecoin pressure: sign(net) * 100 * tanh(ln(1 + |net| / scale) / 3) ---------------


def _pressure_expected(net: float, scale: float) -> float:
    return math.copysign(100.0 * math.tanh(math.log1p(abs(net) / scale) / 3.0), net)


@pytest.mark.parametrize(
    ("inflow", "outflow", "baseline", "expected"),
    [
        (0.0, 1e6, 1e6, 22.702358087),  # net outflow: accumulation, positive
        (1e6, 0.0, 1e6, -22.702358087),  # net inflow: distribution, negative
        (None, 1e6, 1e6, 22.702358087),  # missing side counts as no flow
        (1e6, None, 1e6, -22.702358087),
        (3e6, 5e6, 1e6, _pressure_expected(2e6, 1e6)),
        (0.0, 1e6, 1e7, _pressure_expected(1e6, 1e7)),  # baseline above the floor is used
    ],
)
def test_stablecoin_pressure_sign_and_scale(
    inflow: float | None, outflow: float | None, baseline: float, expected: float
) -> None:
    assert stablecoin_pressure(inflow, outflow, baseline, CFG.pressure) == approx(expected)


@pytest.mark.parametrize(("inflow", "outflow"), [(0.0, 0.0), (5e6, 5e6), (None, 0.0), (0.0, None)])
def test_stablecoin_pressure_zero_net_is_zero(inflow: float | None, outflow: float | None) -> None:
    assert stablecoin_pressure(inflow, outflow, 1e6, CFG.pressure) == 0.0


def test_stablecoin_pressure_whale_does_not_pin() -> None:
    whale = stablecoin_pressure(100e6, 0.0, 1e6, CFG.pressure)  # 100x the baseline
    assert whale == approx(_pressure_expected(-100e6, 1e6))  # ~ -91.2
    assert -99.0 < whale < -80.0


@pytest.mark.parametrize("baseline", [None, 0.0, 1_000.0, 999_999.0, 1_000_000.0])
def test_stablecoin_pressure_min_baseline_floor(baseline: float | None) -> None:
    # a quiet (or unknown) baseline is floored at 1,000,000 USD
    assert stablecoin_pressure(0.0, 1e6, baseline, CFG.pressure) == approx(22.702358087)


def test_stablecoin_pressure_none_when_no_flow_data() -> None:
    assert stablecoin_pressure(None, None, 1e6, CFG.pressure) is None
    assert stablecoin_pressure(None, None, None, CFG.pressure) is None


# --- alert level: DESIGN.md section 3, strict boundaries ---------------------------------


@pytest.mark.parametrize(
    ("risk", "pressure", "confidence", "expected"),
    [
        (70.01, -30.01, 1.0, "CRITICAL"),
        (100.0, -100.0, 1.0, "CRITICAL"),
        (70.0, -50.0, 1.0, "WARNING"),  # risk exactly 70 is not CRITICAL
        (71.0, -30.0, 1.0, "WARNING"),  # pressure exactly -30 is not CRITICAL
        (71.0, -29.99, 1.0, "WARNING"),
        (50.01, -0.01, 1.0, "WARNING"),
        (50.0, -50.0, 1.0, "INFO"),  # risk exactly 50 is not WARNING
        (90.0, 0.0, 1.0, "INFO"),  # pressure exactly 0 is not WARNING
        (90.0, 40.0, 1.0, "INFO"),
        (30.01, 10.0, 1.0, "INFO"),
        (30.0, -50.0, 1.0, None),  # risk exactly 30 is not INFO
        (0.0, -100.0, 1.0, None),
        # missing pressure caps the level at INFO
        (100.0, None, 1.0, "INFO"),
        (60.0, None, 1.0, "INFO"),
        (30.0, None, 1.0, None),
        # too little data present: no alert at all
        (100.0, -100.0, 0.49, None),
        (100.0, -100.0, 0.0, None),
        (100.0, -100.0, None, None),
        (100.0, -100.0, 0.5, "CRITICAL"),  # at min_confidence is enough
        # no risk score: no alert
        (None, -100.0, 1.0, None),
    ],
)
def test_alert_level_table(
    risk: float | None, pressure: float | None, confidence: float | None, expected: str | None
) -> None:
    assert alert_level(risk, pressure, confidence, CFG.alerts) == expected


def test_alert_level_rejects_nan_confidence() -> None:
    with pytest.raises(ValueError, match="confidence"):
        alert_level(100.0, -100.0, math.nan, CFG.alerts)


# --- liquidation_risk: sum, confidence, present names -----------------------------------

FULL_INPUTS = {
    "funding_8h": 0.00035,  # 15 of 30
    "oi_change_pct": 2.75,  # 15 of 30
    "price_change_pct": 0.0,
    "long_share": share_for_ratio(3.0),  # 20 of 20
    "liq_usd": 500_000.0,  # 5 bp of OI: 20 of 20
    "oi_usd": 1e9,
    "liq_baseline_usd": 1e6,
}


def test_liquidation_risk_all_present() -> None:
    score = liquidation_risk(**FULL_INPUTS, cfg=CFG)
    assert score.funding == approx(15.0)
    assert score.oi_buildup == approx(15.0)
    assert score.imbalance == approx(20.0)
    assert score.liquidations == approx(20.0)
    assert score.risk == approx(70.0)
    assert score.confidence == approx(1.0)
    assert score.present == "funding,oi_buildup,imbalance,liquidations"


@pytest.mark.parametrize(
    ("missing", "component", "risk", "confidence", "present"),
    [
        ("funding_8h", "funding", 55.0, 0.7, "oi_buildup,imbalance,liquidations"),
        ("oi_change_pct", "oi_buildup", 55.0, 0.7, "funding,imbalance,liquidations"),
        ("long_share", "imbalance", 50.0, 0.8, "funding,oi_buildup,liquidations"),
        ("liq_usd", "liquidations", 50.0, 0.8, "funding,oi_buildup,imbalance"),
    ],
)
def test_liquidation_risk_missing_input_is_none_and_lowers_confidence(
    missing: str, component: str, risk: float, confidence: float, present: str
) -> None:
    score = liquidation_risk(**{**FULL_INPUTS, missing: None}, cfg=CFG)
    assert getattr(score, component) is None  # never a fake 0
    assert score.risk == approx(risk)
    assert score.confidence == approx(confidence)
    assert score.present == present


def test_liquidation_risk_measured_zero_differs_from_missing() -> None:
    zero = liquidation_risk(**{**FULL_INPUTS, "funding_8h": 0.0}, cfg=CFG)
    missing = liquidation_risk(**{**FULL_INPUTS, "funding_8h": None}, cfg=CFG)
    assert zero.funding == 0.0
    assert missing.funding is None
    assert zero.risk == approx(missing.risk)
    assert zero.confidence == approx(1.0)
    assert missing.confidence == approx(0.7)
    assert "funding" in zero.present.split(",")
    assert "funding" not in missing.present.split(",")


def test_liquidation_risk_nothing_present() -> None:
    score = liquidation_risk(**dict.fromkeys(FULL_INPUTS), cfg=CFG)
    assert (score.funding, score.oi_buildup, score.imbalance, score.liquidations) == (None,) * 4
    assert score.risk == 0.0
    assert score.confidence == 0.0
    assert score.present == ""
    assert alert_level(score.risk, -100.0, score.confidence, CFG.alerts) is None


def test_liquidation_risk_maximal() -> None:
    score = liquidation_risk(
        funding_8h=-0.01,
        oi_change_pct=50.0,
        price_change_pct=0.0,
        long_share=0.0,
        liq_usd=1e9,
        oi_usd=1e9,
        liq_baseline_usd=1.0,
        cfg=CFG,
    )
    assert score.risk == approx(100.0)
    assert score.confidence == approx(1.0)


def test_thin_data_does_not_alert() -> None:
    # only imbalance and liquidations present: 40 of 100 points, confidence 0.4 < 0.5
    score = liquidation_risk(
        funding_8h=None,
        oi_change_pct=None,
        price_change_pct=None,
        long_share=0.0,
        liq_usd=1e9,
        oi_usd=1e9,
        liq_baseline_usd=None,
        cfg=CFG,
    )
    assert score.risk == approx(40.0)
    assert score.confidence == approx(0.4)
    assert alert_level(score.risk, -100.0, score.confidence, CFG.alerts) is None


# --- hypothesis properties ---------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
funding_st = st.floats(min_value=-0.05, max_value=0.05)
pct_st = st.floats(min_value=-100.0, max_value=1000.0)
share_st = st.floats(min_value=0.0, max_value=1.0)
usd_st = st.floats(min_value=0.0, max_value=1e13)
opt_usd_st = st.none() | usd_st
bad_st = st.sampled_from([math.nan, math.inf, -math.inf])


@given(funding_st)
def test_prop_funding_bounded(x: float) -> None:
    assert 0.0 <= funding_points(x, CFG) <= CFG.funding.max_points


@given(pct_st, st.none() | pct_st)
def test_prop_oi_buildup_bounded(oi: float, price: float | None) -> None:
    assert 0.0 <= oi_buildup_points(oi, price, CFG) <= CFG.oi_buildup.max_points


@given(share_st)
def test_prop_imbalance_bounded(share: float) -> None:
    assert 0.0 <= imbalance_points(share, CFG) <= CFG.imbalance.max_points


@given(usd_st, st.none() | finite, st.none() | finite)
def test_prop_liquidations_bounded(liq: float, oi: float | None, base: float | None) -> None:
    got = liquidation_points(liq, oi, base, CFG)
    if not oi and not base:
        assert got is None  # no normalizer: unknown
    else:
        assert 0.0 <= got <= CFG.liquidations.max_points


@given(
    funding_st | st.none(),
    st.none() | pct_st,
    st.none() | pct_st,
    st.none() | share_st,
    opt_usd_st,
    opt_usd_st,
    opt_usd_st,
)
def test_prop_risk_bounded(
    funding: float | None,
    oi: float | None,
    price: float | None,
    share: float | None,
    liq: float | None,
    oi_usd: float | None,
    base: float | None,
) -> None:
    score = liquidation_risk(
        funding_8h=funding,
        oi_change_pct=oi,
        price_change_pct=price,
        long_share=share,
        liq_usd=liq,
        oi_usd=oi_usd,
        liq_baseline_usd=base,
        cfg=CFG,
    )
    assert 0.0 <= score.risk <= 100.0
    assert 0.0 <= score.confidence <= 1.0 + TOL
    parts = [score.funding, score.oi_buildup, score.imbalance, score.liquidations]
    assert score.risk == approx(sum(p for p in parts if p is not None))
    names = ("funding", "oi_buildup", "imbalance", "liquidations")
    assert score.present == ",".join(n for n, p in zip(names, parts, strict=True) if p is not None)


@given(opt_usd_st, opt_usd_st, opt_usd_st)
def test_prop_pressure_bounded(
    inflow: float | None, outflow: float | None, base: float | None
) -> None:
    p = stablecoin_pressure(inflow, outflow, base, CFG.pressure)
    if inflow is None and outflow is None:
        assert p is None
    else:
        assert -100.0 <= p <= 100.0


@given(funding_st, funding_st)
def test_prop_funding_monotone_in_abs(a: float, b: float) -> None:
    if abs(a) > abs(b):
        a, b = b, a
    assert funding_points(a, CFG) <= funding_points(b, CFG) + TOL


@given(pct_st, pct_st, st.none() | pct_st)
def test_prop_oi_buildup_monotone_in_oi(a: float, b: float, price: float | None) -> None:
    a, b = sorted((a, b))
    assert oi_buildup_points(a, price, CFG) <= oi_buildup_points(b, price, CFG) + TOL


def _skew(share: float) -> float:
    return abs(math.log(share / (1.0 - share)))


@given(
    st.floats(min_value=1e-6, max_value=1 - 1e-6),
    st.floats(min_value=1e-6, max_value=1 - 1e-6),
)
def test_prop_imbalance_monotone_in_abs_log_ratio(a: float, b: float) -> None:
    if _skew(a) > _skew(b):
        a, b = b, a
    assert imbalance_points(a, CFG) <= imbalance_points(b, CFG) + TOL


@given(share_st)
def test_prop_imbalance_symmetric(share: float) -> None:
    assert imbalance_points(share, CFG) == pytest.approx(
        imbalance_points(1.0 - share, CFG), abs=1e-6
    )


@given(usd_st, usd_st, opt_usd_st, opt_usd_st)
def test_prop_liquidations_monotone(
    a: float, b: float, oi: float | None, base: float | None
) -> None:
    a, b = sorted((a, b))
    if oi or base:
        assert liquidation_points(a, oi, base, CFG) <= liquidation_points(b, oi, base, CFG) + TOL


@given(usd_st, usd_st, st.none() | usd_st, opt_usd_st)
def test_prop_pressure_monotone_in_outflow(
    a: float, b: float, inflow: float | None, base: float | None
) -> None:
    a, b = sorted((a, b))
    pa = stablecoin_pressure(inflow, a, base, CFG.pressure)
    pb = stablecoin_pressure(inflow, b, base, CFG.pressure)
    assert pa <= pb + TOL


@given(usd_st, usd_st, st.none() | usd_st, opt_usd_st)
def test_prop_pressure_non_increasing_in_inflow(
    a: float, b: float, outflow: float | None, base: float | None
) -> None:
    a, b = sorted((a, b))
    pa = stablecoin_pressure(a, outflow, base, CFG.pressure)
    pb = stablecoin_pressure(b, outflow, base, CFG.pressure)
    assert pa >= pb - TOL


# Non-finite inputs: every argument of every function, with the other arguments valid.


def _call_with(func_name: str, arg: str, bad: float, ok: dict[str, float | None]) -> None:
    calls = {
        "funding_points": lambda kw: funding_points(kw["funding_8h"], CFG),
        "oi_buildup_points": lambda kw: oi_buildup_points(
            kw["oi_change_pct"], kw["price_change_pct"], CFG
        ),
        "imbalance_points": lambda kw: imbalance_points(kw["long_share"], CFG),
        "liquidation_points": lambda kw: liquidation_points(
            kw["liq_usd"], kw["oi_usd"], kw["baseline_usd"], CFG
        ),
        "stablecoin_pressure": lambda kw: stablecoin_pressure(
            kw["inflow_usd"], kw["outflow_usd"], kw["baseline_usd"], CFG.pressure
        ),
        "alert_level": lambda kw: alert_level(
            kw["risk"], kw["pressure"], kw["confidence"], CFG.alerts
        ),
        "liquidation_risk": lambda kw: liquidation_risk(**kw, cfg=CFG),
    }
    calls[func_name]({**ok, arg: bad})


NON_FINITE_CASES = [
    ("funding_points", "funding_8h"),
    ("oi_buildup_points", "oi_change_pct"),
    ("oi_buildup_points", "price_change_pct"),
    ("imbalance_points", "long_share"),
    ("liquidation_points", "liq_usd"),
    ("liquidation_points", "oi_usd"),
    ("liquidation_points", "baseline_usd"),
    ("stablecoin_pressure", "inflow_usd"),
    ("stablecoin_pressure", "outflow_usd"),
    ("stablecoin_pressure", "baseline_usd"),
    ("alert_level", "risk"),
    ("alert_level", "pressure"),
    *(("liquidation_risk", name) for name in FULL_INPUTS),
]


@pytest.mark.parametrize(("func_name", "arg"), NON_FINITE_CASES)
@given(
    bad=bad_st,
    funding=funding_st,
    oi=pct_st,
    price=pct_st,
    share=share_st,
    usd=st.floats(min_value=1.0, max_value=1e12),
    score=st.floats(min_value=-100.0, max_value=100.0),
)
def test_prop_non_finite_rejected_naming_argument(
    func_name: str,
    arg: str,
    bad: float,
    funding: float,
    oi: float,
    price: float,
    share: float,
    usd: float,
    score: float,
) -> None:
    ok = {
        "funding_8h": funding,
        "oi_change_pct": oi,
        "price_change_pct": price,
        "long_share": share,
        "liq_usd": usd,
        "oi_usd": usd,
        "baseline_usd": usd,
        "liq_baseline_usd": usd,
        "inflow_usd": usd,
        "outflow_usd": usd,
        "risk": abs(score),
        "pressure": score,
        "confidence": 1.0,
    }
    if func_name == "liquidation_risk":
        ok = {k: ok[k] for k in FULL_INPUTS}
    with pytest.raises(ValueError, match=arg) as info:
        _call_with(func_name, arg, bad, ok)
    assert "finite" in str(info.value)


@given(
    st.floats(min_value=1.0, exclude_min=True, allow_infinity=False)
    | st.floats(max_value=0.0, exclude_max=True, allow_infinity=False)
)
def test_prop_long_share_out_of_range_rejected(share: float) -> None:
    assume(not math.isnan(share))
    with pytest.raises(ValueError, match="long_share"):
        imbalance_points(share, CFG)

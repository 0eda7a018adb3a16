"""Unit tests of flink_jobs/scoring.py: no Flink, Kafka or PostgreSQL needed.

The tables below were computed by hand from the documented curves (a linear ramp between
the `start` and `full` thresholds, clamped to 0..1, times the component's max_points) for
the thresholds shipped in config/monitor.yaml, for both sides: long-cascade risk (sign +1)
and short-squeeze risk (sign -1). `test_tables_match_shipped_thresholds` fails first, with a
clear message, if those thresholds are retuned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_jobs.config import DEFAULT_CONFIG, load_config
from flink_jobs.scoring import (
    RISK_INPUTS,
    RISK_OUTPUTS,
    alert_level,
    alert_states,
    alert_transition,
    funding_pts,
    imbalance_pts,
    level_frame,
    liquidation_pts,
    liquidation_risk,
    oi_buildup_pts,
    pressure_frame,
    score_frame,
    stablecoin_pressure,
)

CFG = load_config(DEFAULT_CONFIG).scoring
TOL = 1e-9
LONG, SHORT = +1, -1


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def share_for_ratio(ratio: float) -> float:
    """long_share whose long/short account ratio is `ratio`."""
    return ratio / (1.0 + ratio)


def test_tables_match_shipped_thresholds() -> None:
    expected = {
        "funding": {"neutral_8h": 0.0001, "extreme_8h": 0.0006, "max_points": 30},
        "oi_buildup": {"start_pct": 0.5, "full_pct": 5.0, "price_flat_pct": 0.3,
                       "price_moved_pct": 2.0, "moved_discount": 0.75, "max_points": 30},
        "imbalance": {"start_ratio": 1.2, "full_ratio": 3.0, "max_points": 20},
        "liquidations": {"start_bp_of_oi": 0.5, "full_bp_of_oi": 5.0, "start_surge": 3.0,
                         "full_surge": 15.0, "oi_drop_start_pct": 2.0, "oi_drop_full_pct": 8.0,
                         "max_points": 20},
        "pressure": {"min_baseline_usd": 1_000_000, "softness": 3.0},
        "alerts": {"critical_risk": 70, "critical_pressure": -30, "warning_risk": 50,
                   "warning_pressure": 0, "info_risk": 30, "min_confidence": 0.5,
                   "risk_margin": 5, "pressure_margin": 5, "cooldown_minutes": 5,
                   "state_windows": 60},
    }
    assert CFG.model_dump() == expected, (
        "config/monitor.yaml was retuned: recompute the hand-made tables in tests/test_scoring.py")


# --- funding: ramp on sign x funding_8h from 0.0001 (0 pts) to 0.0006 (30 pts) -------------
FUNDING = [(0.0, 0.0), (0.00005, 0.0), (0.0001, 0.0), (0.00015, 3.0), (0.00035, 15.0),
           (0.00055, 27.0), (0.0006, 30.0), (0.002, 30.0)]


@pytest.mark.parametrize(("funding", "expected"), FUNDING)
def test_funding_long_side(funding: float, expected: float) -> None:
    assert funding_pts(funding, LONG, CFG) == approx(expected)  # longs pay: long crowding
    assert funding_pts(funding, SHORT, CFG) == approx(0.0)


@pytest.mark.parametrize(("funding", "expected"), FUNDING)
def test_funding_short_side(funding: float, expected: float) -> None:
    assert funding_pts(-funding, SHORT, CFG) == approx(expected)  # shorts pay: short crowding
    assert funding_pts(-funding, LONG, CFG) == approx(0.0)


# --- OI build-up: ramp 0.5 % -> 5 %, x (1 - 0.75 x ramp(|price move|, 0.3 %, 2 %)) ----------
@pytest.mark.parametrize(("oi", "expected"), [
    (-3.0, 0.0), (0.0, 0.0), (0.5, 0.0), (0.95, 3.0), (2.75, 15.0), (4.55, 27.0), (5.0, 30.0),
    (12.0, 30.0)])
def test_oi_buildup_flat_price_same_for_both_sides(oi: float, expected: float) -> None:
    assert oi_buildup_pts(oi, 0.1, CFG) == approx(expected)


@pytest.mark.parametrize(("price", "expected"), [
    (0.0, 30.0), (0.3, 30.0), (1.15, 30 * (1 - 0.75 * 0.5)), (-1.15, 30 * (1 - 0.75 * 0.5)),
    (2.0, 7.5), (-2.0, 7.5), (9.0, 7.5)])
def test_oi_buildup_price_moved_discount(price: float, expected: float) -> None:
    assert oi_buildup_pts(5.0, price, CFG) == approx(expected)


def test_oi_buildup_needs_both_inputs() -> None:
    assert math.isnan(oi_buildup_pts(5.0, math.nan, CFG))
    assert math.isnan(oi_buildup_pts(math.nan, 0.0, CFG))


# --- imbalance: ramp on sign x ln(long/short) from ln 1.2 to ln 3 ---------------------------
IMBALANCE = [(1.0, 0.0), (1.2, 0.0), (math.sqrt(1.2 * 3.0), 10.0), (3.0, 20.0), (10.0, 20.0)]


@pytest.mark.parametrize(("ratio", "expected"), IMBALANCE)
def test_imbalance_long_heavy(ratio: float, expected: float) -> None:
    assert imbalance_pts(share_for_ratio(ratio), LONG, CFG) == approx(expected)
    assert imbalance_pts(share_for_ratio(ratio), SHORT, CFG) == approx(0.0)


@pytest.mark.parametrize(("ratio", "expected"), IMBALANCE)
def test_imbalance_short_heavy(ratio: float, expected: float) -> None:
    assert imbalance_pts(share_for_ratio(1 / ratio), SHORT, CFG) == approx(expected)
    assert imbalance_pts(share_for_ratio(1 / ratio), LONG, CFG) == approx(0.0)


@pytest.mark.parametrize(("share", "side"), [(1.0, LONG), (0.0, SHORT)])
def test_imbalance_one_sided_is_max_without_error(share: float, side: int) -> None:
    assert imbalance_pts(share, side, CFG) == approx(20.0)


# --- liquidations: max(bp of OI 0.5 -> 5, surge 3x -> 15x, OI flush) x 20 -------------------
NAN = math.nan


def _liq(liq: float, side: int, oi: float = NAN, base: float = NAN, oi_chg: float = NAN,
         px: float = NAN) -> float:
    return float(liquidation_pts(np.array([liq]), np.array([oi]), np.array([base]),
                                 np.array([oi_chg]), np.array([px]), side, CFG)[0])


@pytest.mark.parametrize(("liq", "expected"), [
    (0.0, 0.0), (5e4, 0.0), (9.5e4, 2.0), (2.75e5, 10.0), (4.55e5, 18.0), (5e5, 20.0),
    (5e6, 20.0)])
@pytest.mark.parametrize("side", [LONG, SHORT])
def test_liquidations_in_bp_of_open_interest(liq: float, expected: float, side: int) -> None:
    assert _liq(liq, side, oi=1e9) == approx(expected)  # the side's own liquidations


@pytest.mark.parametrize(("liq", "expected"), [
    (0.0, 0.0), (3e5, 0.0), (3.6e5, 1.0), (9e5, 10.0), (1.44e6, 19.0), (1.5e6, 20.0)])
@pytest.mark.parametrize("side", [LONG, SHORT])
def test_liquidations_surge_over_baseline(liq: float, expected: float, side: int) -> None:
    assert _liq(liq, side, base=1e5) == approx(expected)


def test_liquidations_take_the_larger_signal() -> None:
    # 1 bp of OI (2 pts) but 9x the baseline (10 pts): 10
    assert _liq(1e5, LONG, oi=1e9, base=1e5 / 9) == approx(10.0)


@pytest.mark.parametrize(("oi_chg", "px", "long_pts", "short_pts"), [
    (-1.0, -3.0, 0.0, 0.0),      # a small OI dip is noise
    (-2.0, -3.0, 0.0, 0.0),      # at the start threshold
    (-5.0, -3.0, 10.0, 0.0),     # half-way OI flush, price fell fully: longs forced out
    (-8.0, -2.0, 20.0, 0.0),
    (-8.0, 2.0, 0.0, 20.0),      # price rose: shorts squeezed
    (-8.0, 0.3, 0.0, 0.0),       # price flat: orderly deleveraging, nobody forced
    (-8.0, -1.15, 10.0, 0.0),    # price half-way moved
    (4.0, -3.0, 0.0, 0.0),       # OI rising is build-up, not flush
])
def test_liquidations_oi_flush(oi_chg: float, px: float, long_pts: float,
                               short_pts: float) -> None:
    assert _liq(0.0, LONG, oi=1e9, oi_chg=oi_chg, px=px) == approx(long_pts)
    assert _liq(0.0, SHORT, oi=1e9, oi_chg=oi_chg, px=px) == approx(short_pts)


def test_liquidations_missing_feed_is_missing_even_with_an_oi_flush() -> None:
    assert math.isnan(_liq(NAN, LONG, oi=1e9, oi_chg=-8.0, px=-3.0))


# --- liquidation_risk: sides, headline, components, confidence ------------------------------
FULL = {"funding_8h": 0.00035, "oi_change_pct": 2.75, "price_change_pct": 0.0,
        "long_share": share_for_ratio(3.0), "liq_long_usd": 5e5, "liq_short_usd": 0.0,
        "oi_usd": 1e9, "liq_baseline_usd": 1e6}


def test_long_cascade_row() -> None:
    s = liquidation_risk(**FULL, cfg=CFG)
    assert (s.side, s.long_risk, s.short_risk) == ("long", approx(70.0), approx(15.0))
    assert s.risk == s.long_risk
    assert (s.funding, s.oi_buildup, s.imbalance, s.liquidations) == (
        approx(15.0), approx(15.0), approx(20.0), approx(20.0))
    assert s.confidence == 1.0
    assert s.present == "funding,oi_buildup,imbalance,liquidations"


def test_short_squeeze_row_is_the_mirror() -> None:
    s = liquidation_risk(**{**FULL, "funding_8h": -0.00035,
                            "long_share": share_for_ratio(1 / 3.0), "liq_long_usd": 0.0,
                            "liq_short_usd": 5e5}, cfg=CFG)
    assert (s.side, s.risk, s.long_risk, s.short_risk) == (
        "short", approx(70.0), approx(15.0), approx(70.0))
    # the breakdown is the short side's
    assert (s.funding, s.imbalance, s.liquidations) == (approx(15.0), approx(20.0), approx(20.0))


def test_tie_reads_as_long() -> None:
    s = liquidation_risk(**{**FULL, "funding_8h": 0.0, "oi_change_pct": 0.0, "long_share": 0.5,
                            "liq_long_usd": 0.0}, cfg=CFG)
    assert (s.side, s.risk, s.long_risk, s.short_risk) == ("long", 0.0, 0.0, 0.0)


@pytest.mark.parametrize(("missing", "component", "confidence"), [
    ("funding_8h", "funding", 0.7), ("oi_change_pct", "oi_buildup", 0.7),
    ("price_change_pct", "oi_buildup", 0.7), ("long_share", "imbalance", 0.8),
    ("liq_long_usd", "liquidations", 0.8)])
def test_missing_input_is_none_and_lowers_confidence(missing: str, component: str,
                                                    confidence: float) -> None:
    args = {**FULL, missing: None}
    if missing == "liq_long_usd":
        args["liq_short_usd"] = None  # one feed: both sides missing together
    s = liquidation_risk(**args, cfg=CFG)
    assert getattr(s, component) is None
    assert s.confidence == approx(confidence)
    assert component not in s.present.split(",")


def test_measured_zero_differs_from_missing() -> None:
    zero = liquidation_risk(**{**FULL, "funding_8h": 0.0}, cfg=CFG)
    gone = liquidation_risk(**{**FULL, "funding_8h": None}, cfg=CFG)
    assert zero.funding == 0.0 and zero.confidence == 1.0
    assert gone.funding is None and gone.confidence == approx(0.7)
    assert zero.risk == approx(gone.risk)


def test_nothing_present() -> None:
    s = liquidation_risk(**dict.fromkeys(FULL), cfg=CFG)
    assert (s.risk, s.confidence, s.present) == (0.0, 0.0, "")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", list(FULL))
def test_non_finite_rejected_naming_the_input(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        liquidation_risk(**{**FULL, name: bad}, cfg=CFG)


@pytest.mark.parametrize(("name", "value"), [("long_share", 1.2), ("long_share", -0.1),
                                             ("liq_long_usd", -1.0), ("oi_usd", -5.0)])
def test_out_of_range_rejected(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        liquidation_risk(**{**FULL, name: value}, cfg=CFG)


def test_score_frame_rejects_infinity_naming_column_and_row() -> None:
    cols = [[FULL[n], FULL[n]] for n in RISK_INPUTS]
    cols[RISK_INPUTS.index("oi_usd")][1] = math.inf
    with pytest.raises(ValueError, match="oi_usd must be finite or NULL, got inf at row 1"):
        score_frame(cols, CFG)


def test_score_frame_nan_is_missing() -> None:
    cols = [[FULL[n]] for n in RISK_INPUTS]
    cols[0] = [math.nan]
    out = score_frame(cols, CFG)
    assert list(out.columns) == list(RISK_OUTPUTS)
    assert math.isnan(out["funding_pts"][0]) and out["confidence"][0] == approx(0.7)


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


# --- alert level: docs/scoring.md, strict boundaries --------------------------------------


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
        # missing pressure caps the entry level at INFO
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


def test_level_frame_matches_alert_level() -> None:
    rows = [(71.0, -31.0, 1.0), (55.0, -1.0, 1.0), (35.0, None, 1.0), (90.0, -90.0, 0.2),
            (None, -5.0, 1.0), (30.0, 0.0, 1.0)]
    r, p, c = ([math.nan if v is None else v for v in col] for col in zip(*rows, strict=True))
    assert level_frame(r, p, c, CFG.alerts) == [alert_level(*row, CFG.alerts) for row in rows]


# --- alert state: escalation immediate, hysteresis, cooldown, thin data frozen -------------
def _states(risks: list[float | None], pressure: float | None = -40.0,
            confidence: float = 1.0) -> list[str]:
    n = len(risks)
    return alert_states(range(n), risks, [pressure] * n, [confidence] * n, CFG.alerts)


def test_escalation_is_immediate_even_within_cooldown() -> None:
    assert _states([35, 55, 75]) == ["INFO", "WARNING", "CRITICAL"]


def test_hysteresis_holds_a_level_until_risk_falls_the_margin_below() -> None:
    # CRITICAL entered at 71; 66..69 are within 5 of 70: stays, whatever the cooldown
    assert _states([71, 69, 66, 66, 66, 66, 66, 66, 66]) == ["CRITICAL"] * 9
    # 64.9 is below 65: leaves (after the cooldown) to the highest level still held
    assert _states([71, 64.9, 64.9, 64.9, 64.9, 64.9]) == ["CRITICAL"] * 5 + ["WARNING"]


def test_cooldown_delays_de_escalation() -> None:
    got = _states([55, 10, 10, 10, 10, 10, 10])
    assert got == ["WARNING"] * 5 + ["NONE", "NONE"]  # leaves 5 minutes after entering


def test_de_escalation_steps_to_the_highest_level_still_held() -> None:
    # WARNING entered at minute 0; at minute 5 risk 40 holds INFO (> 25) but not WARNING (> 45)
    assert _states([55, 40, 40, 40, 40, 40]) == ["WARNING"] * 5 + ["INFO"]


def test_pressure_hysteresis() -> None:
    # WARNING needs pressure < 0; it is held while pressure < 5 and left above that
    n = 7
    press = [-1.0, 4.0, 4.0, 4.0, 4.0, 4.0, 6.0]
    got = alert_states(range(n), [55.0] * n, press, [1.0] * n, CFG.alerts)
    assert got == ["WARNING"] * 6 + ["INFO"]


def test_thin_data_changes_nothing() -> None:
    n = 8
    conf = [1.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1.0]
    got = alert_states(range(n), [55, 95, 0, 0, 0, 0, 0, 55], [-40.0] * n, conf, CFG.alerts)
    assert got == ["WARNING"] * 8  # neither raised by the 95 nor cleared by the zeros
    assert _states([95, 95], confidence=0.4) == ["NONE", "NONE"]  # thin data never alerts


def test_missing_pressure_neither_enters_nor_leaves_warning() -> None:
    n = 8
    press = [-5.0] + [None] * 7
    got = alert_states(range(n), [55.0] * n, press, [1.0] * n, CFG.alerts)
    assert got == ["WARNING"] * 8
    assert _states([55, 55], pressure=None) == ["INFO", "INFO"]


def test_cooldown_counts_minutes_not_rows() -> None:
    # rows at minutes 0 and 5 (a gap): the cooldown has passed at the second row
    assert alert_states([0, 5], [55, 10], [-40, -40], [1, 1], CFG.alerts) == ["WARNING", "NONE"]


def test_transition_reports_state_now_and_before() -> None:
    assert alert_transition([0], [55], [-40], [1], CFG.alerts) == "WARNING|NONE"
    assert alert_transition([0, 1], [55, 75], [-40, -40], [1, 1], CFG.alerts) == "CRITICAL|WARNING"
    assert alert_transition([0, 1], [55, 56], [-40, -40], [1, 1], CFG.alerts) == "WARNING|WARNING"


@given(st.lists(st.floats(min_value=-3.0, max_value=3.0), min_size=30, max_size=120),
       st.sampled_from([30.0, 50.0, 70.0]))
def test_prop_hovering_around_a_threshold_does_not_flap(noise: list[float],
                                                        threshold: float) -> None:
    """A score wandering within +-3 of an entry threshold (pressure deep negative) never
    flaps: it may enter the level (and any level below it), but never falls the 5 points
    below the entry threshold that leaving takes, so the level never goes down."""
    risks = [threshold + x for x in noise]
    states = _states(risks, pressure=-40.0)
    rank = ["NONE", "INFO", "WARNING", "CRITICAL"]
    assert [rank.index(s) for s in states] == sorted(rank.index(s) for s in states), states


@given(st.lists(st.tuples(st.floats(min_value=0, max_value=100),
                          st.floats(min_value=-100, max_value=100)), min_size=2, max_size=90))
def test_prop_no_level_is_re_entered_within_the_cooldown(rows: list[tuple[float, float]]) -> None:
    """Whatever the inputs, an asset leaves a level no sooner than cooldown_minutes after
    entering it, so the same level cannot be alerted twice within the cooldown."""
    states = alert_states(range(len(rows)), [r for r, _ in rows], [p for _, p in rows],
                          [1.0] * len(rows), CFG.alerts)
    entered: dict[str, int] = {}
    previous = "NONE"
    for t, s in enumerate(states):
        if s != previous:
            rank = ["NONE", "INFO", "WARNING", "CRITICAL"]
            if rank.index(s) < rank.index(previous):  # a de-escalation
                assert t - entered[previous] >= CFG.alerts.cooldown_minutes
            entered[s] = t
        previous = s


# --- hypothesis properties of the risk ------------------------------------------------------
funding_st = st.floats(min_value=-0.05, max_value=0.05)
pct_st = st.floats(min_value=-100.0, max_value=1000.0)
share_st = st.floats(min_value=0.0, max_value=1.0)
usd_st = st.floats(min_value=0.0, max_value=1e13)
opt = st.none


def _risk(**kw: float | None) -> object:
    return liquidation_risk(**{**dict.fromkeys(RISK_INPUTS), **kw}, cfg=CFG)


@given(st.tuples(funding_st | opt(), pct_st | opt(), pct_st | opt(), share_st | opt(),
                 usd_st | opt(), usd_st | opt(), usd_st | opt(), usd_st | opt()))
def test_prop_bounds_and_consistency(values: tuple[float | None, ...]) -> None:
    if (values[4] is None) != (values[5] is None):  # one liquidation feed, both sides
        with pytest.raises(ValueError, match="liq_long_usd and liq_short_usd"):
            liquidation_risk(**dict(zip(RISK_INPUTS, values, strict=True)), cfg=CFG)
        return
    s = liquidation_risk(**dict(zip(RISK_INPUTS, values, strict=True)), cfg=CFG)
    assert 0.0 <= s.short_risk <= 100.0 and 0.0 <= s.long_risk <= 100.0
    assert s.risk == max(s.long_risk, s.short_risk)
    assert s.side == ("long" if s.long_risk >= s.short_risk else "short")
    assert 0.0 <= s.confidence <= 1.0 + TOL
    parts = {"funding": s.funding, "oi_buildup": s.oi_buildup, "imbalance": s.imbalance,
             "liquidations": s.liquidations}
    maxima = {"funding": 30, "oi_buildup": 30, "imbalance": 20, "liquidations": 20}
    for name, pts in parts.items():
        assert pts is None or 0.0 <= pts <= maxima[name] + TOL
    assert s.risk == approx(sum(p for p in parts.values() if p is not None))
    assert s.present == ",".join(n for n, p in parts.items() if p is not None)
    assert s.confidence == approx(sum(maxima[n] for n, p in parts.items() if p is not None) / 100)
    # the vectorized path gives the same row
    out = score_frame([[math.nan if v is None else v] for v in values], CFG).iloc[0]
    assert out["risk"] == approx(s.risk) and out["side"] == s.side
    assert out["components"] == s.present and out["confidence"] == approx(s.confidence)


@given(funding_st, funding_st)
def test_prop_funding_monotone_per_side(a: float, b: float) -> None:
    a, b = sorted((a, b))
    lo, hi = _risk(funding_8h=a), _risk(funding_8h=b)
    assert lo.long_risk <= hi.long_risk + TOL  # more positive funding: more long risk
    assert lo.short_risk >= hi.short_risk - TOL  # ... and less short risk


@given(share_st, share_st)
def test_prop_imbalance_monotone_per_side(a: float, b: float) -> None:
    a, b = sorted((a, b))
    lo, hi = _risk(long_share=a), _risk(long_share=b)
    assert lo.long_risk <= hi.long_risk + TOL
    assert lo.short_risk >= hi.short_risk - TOL


@given(st.floats(min_value=0, max_value=1000), st.floats(min_value=0, max_value=1000),
       st.floats(min_value=-50, max_value=50))
def test_prop_oi_buildup_monotone_in_rising_oi(a: float, b: float, px: float) -> None:
    a, b = sorted((a, b))
    for side in ("long_risk", "short_risk"):
        assert (getattr(_risk(oi_change_pct=a, price_change_pct=px), side)
                <= getattr(_risk(oi_change_pct=b, price_change_pct=px), side) + TOL)


@given(st.floats(min_value=-100, max_value=0), st.floats(min_value=-100, max_value=0),
       st.floats(min_value=-50, max_value=50))
def test_prop_oi_flush_monotone_in_falling_oi(a: float, b: float, px: float) -> None:
    a, b = sorted((a, b))  # a is the deeper drop
    kw = {"price_change_pct": px, "liq_long_usd": 0.0, "liq_short_usd": 0.0, "oi_usd": 1e9}
    for side in ("long_risk", "short_risk"):
        assert (getattr(_risk(oi_change_pct=a, **kw), side)
                >= getattr(_risk(oi_change_pct=b, **kw), side) - TOL)


@given(usd_st, usd_st, usd_st | opt(), usd_st | opt())
def test_prop_liquidations_monotone_per_side(a: float, b: float, oi: float | None,
                                             base: float | None) -> None:
    a, b = sorted((a, b))
    kw = {"oi_usd": oi, "liq_baseline_usd": base}
    assert (_risk(liq_long_usd=a, liq_short_usd=0.0, **kw).long_risk
            <= _risk(liq_long_usd=b, liq_short_usd=0.0, **kw).long_risk + TOL)
    assert (_risk(liq_long_usd=0.0, liq_short_usd=a, **kw).short_risk
            <= _risk(liq_long_usd=0.0, liq_short_usd=b, **kw).short_risk + TOL)


@given(st.sampled_from(list(RISK_INPUTS)), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_prop_non_finite_rejected(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        liquidation_risk(**{**FULL, name: bad}, cfg=CFG)


@pytest.mark.parametrize("func", ["stablecoin_pressure", "alert_level"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_rejected_elsewhere(func: str, bad: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        if func == "stablecoin_pressure":
            stablecoin_pressure(bad, 1e6, 1e6, CFG.pressure)
        else:
            alert_level(bad, -10.0, 1.0, CFG.alerts)


def test_pressure_frame_matches_scalar() -> None:
    rows = [(0.0, 1e6, 1e6), (5e6, 0.0, 2e6), (None, None, 1e6), (3e6, None, None)]
    cols = [[math.nan if v is None else v for v in col] for col in zip(*rows, strict=True)]
    got = pressure_frame(*cols, CFG.pressure)
    for g, row in zip(got, rows, strict=True):
        want = stablecoin_pressure(*row, CFG.pressure)
        assert (want is None and math.isnan(g)) or g == approx(want)


usd_opt_st = usd_st | opt()
opt_usd_st = usd_opt_st


@given(opt_usd_st, opt_usd_st, opt_usd_st)
def test_prop_pressure_bounded(
    inflow: float | None, outflow: float | None, base: float | None
) -> None:
    p = stablecoin_pressure(inflow, outflow, base, CFG.pressure)
    if inflow is None and outflow is None:
        assert p is None
    else:
        assert -100.0 <= p <= 100.0


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



"""Unit tests of flink_jobs/scoring.py: no Flink, Kafka or PostgreSQL needed.

Expected values are computed in the tests from the documented formulas (docs/scoring.md):
z = clip((x - mean) / max(sd, min_sd), +-z_clip) over the history's count, sum and sum of
squares; S = sum(w z) / sqrt(sum(w^2)) over the components present;
risk = 100 Phi(S / risk_spread).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_jobs.config import COMPONENTS, DEFAULT_CONFIG, load_config
from flink_jobs.scoring import (
    RISK_INPUTS,
    RISK_OUTPUTS,
    SIGNALS,
    alert_level,
    alert_states,
    alert_transition,
    level_frame,
    liquidation_risk,
    pressure_frame,
    score_frame,
    stablecoin_pressure,
    zscore,
)

CFG = load_config(DEFAULT_CONFIG).scoring
W = CFG.components.weights()
TOL = 1e-9
SPREAD = CFG.risk_spread


def PHI(x: float) -> float:
    return NormalDist().cdf(x / SPREAD)


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def history(values: list[float]) -> dict[str, float]:
    """count, sum and sum of squares of past values, as the SQL sends them."""
    return {"n": float(len(values)), "sum": float(sum(values)),
            "sumsq": float(sum(v * v for v in values))}


def inputs(**signals: tuple[float | None, list[float]]) -> dict[str, float | None]:
    """RISK_INPUTS from {signal: (value now, past values)}; other signals missing."""
    out: dict[str, float | None] = dict.fromkeys(RISK_INPUTS)
    for sig, (x, past) in signals.items():
        h = history(past)
        out.update({sig: x, f"{sig}_n": h["n"], f"{sig}_sum": h["sum"],
                    f"{sig}_sumsq": h["sumsq"]})
    return out


PAST = [0.0, 1.0, 2.0, 3.0, 4.0] * 20  # mean 2, population sd sqrt(2), 100 values


def test_zscore_against_the_history() -> None:
    h = history(PAST)
    z = zscore(np.array([5.0, 2.0, -1.0]), np.full(3, h["n"]), np.full(3, h["sum"]),
               np.full(3, h["sumsq"]), CFG)
    assert z.tolist() == [approx(3 / math.sqrt(2)), approx(0.0), approx(-3 / math.sqrt(2))]


def test_zscore_clipped_and_sd_floored() -> None:
    flat = history([1.0] * 100)  # sd 0: the floor min_sd applies, then the clip
    z = zscore(np.array([1.0 + CFG.history.min_sd * 2, 100.0]), np.full(2, flat["n"]),
               np.full(2, flat["sum"]), np.full(2, flat["sumsq"]), CFG)
    assert z.tolist() == [approx(2.0), approx(CFG.history.z_clip)]


def test_zscore_warm_up_is_missing_not_zero() -> None:
    n = CFG.history.min_windows
    short, enough = history(PAST[: n - 1]), history(PAST[:n])
    z_short = zscore(np.array([4.0]), np.array([short["n"]]), np.array([short["sum"]]),
                     np.array([short["sumsq"]]), CFG)
    z_ok = zscore(np.array([4.0]), np.array([enough["n"]]), np.array([enough["sum"]]),
                  np.array([enough["sumsq"]]), CFG)
    assert math.isnan(z_short[0]) and not math.isnan(z_ok[0])


def test_one_liquidation_burst_long_side() -> None:
    z = 3 / math.sqrt(2)
    s = liquidation_risk(inputs(liq_long=(5.0, PAST), liq_short=(2.0, PAST)), CFG)
    # only the two liquidation components are judged; the short side's z is 0
    norm = math.sqrt(W["liquidations"] ** 2)
    assert s.long_risk == approx(100 * PHI(W["liquidations"] * z / norm))
    assert s.short_risk == approx(50.0)
    assert (s.side, s.risk) == ("long", s.long_risk)
    assert s.points["liquidations"] == approx(z)
    assert s.points["funding"] is None  # not judged, not zero
    assert s.present == "liquidations"
    total = sum(abs(w) for w in W.values())
    assert s.confidence == approx(W["liquidations"] / total)


def test_components_combine_by_weight_and_mirror_per_side() -> None:
    """Funding high and price falling: both raise long risk and lower short risk."""
    z = 3 / math.sqrt(2)
    s = liquidation_risk(inputs(funding=(5.0, PAST), price=(-1.0, PAST)), CFG)
    wf, wp = W["funding"], W["price_move"]
    norm = math.sqrt(wf * wf + wp * wp)
    assert s.long_risk == approx(100 * PHI((wf * z + wp * z) / norm))
    assert s.short_risk == approx(100 * PHI((-wf * z - wp * z) / norm))
    assert s.points["funding"] + s.points["price_move"] == approx(SPREAD * NormalDist().inv_cdf(
        s.long_risk / 100))


@pytest.mark.parametrize(("signal", "component", "long_sign"), [
    ("oi", "oi_buildup", +1), ("ls", "imbalance", +1), ("top_ls", "top_imbalance", +1),
    ("funding", "funding", +1), ("price", "price_move", -1)])
def test_direction_of_each_component(signal: str, component: str, long_sign: int) -> None:
    s = liquidation_risk(inputs(**{signal: (5.0, PAST)}), CFG)
    up, down = (s.long_risk, s.short_risk) if long_sign > 0 else (s.short_risk, s.long_risk)
    if component == "oi_buildup":  # new leverage fuels both sides alike
        assert s.long_risk == approx(s.short_risk) and s.long_risk > 50
    else:
        assert up > 50 > down


def test_pressure_needs_a_weight_and_never_blocks() -> None:
    """Pressure has weight 0 by default: present or missing, the risk is the same."""
    with_p = liquidation_risk(inputs(liq_long=(5.0, PAST), pressure=(-1.0, PAST)), CFG)
    without = liquidation_risk(inputs(liq_long=(5.0, PAST)), CFG)
    assert with_p.risk == approx(without.risk) and with_p.confidence == without.confidence
    assert "pressure" not in with_p.present


def test_nothing_judged_is_an_ordinary_row() -> None:
    s = liquidation_risk({}, CFG)
    assert (s.risk, s.side, s.confidence, s.present) == (50.0, "long", 0.0, "")


@pytest.mark.parametrize("name", ["liq_long", "oi_sum", "pressure_n"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_rejected_naming_the_input(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        liquidation_risk({name: bad}, CFG)


def test_unknown_input_rejected() -> None:
    with pytest.raises(ValueError, match="unknown risk inputs"):
        liquidation_risk({"liq_long_usd": 1.0}, CFG)


def test_negative_history_count_rejected() -> None:
    with pytest.raises(ValueError, match="history count"):
        liquidation_risk({"oi": 1.0, "oi_n": -1.0, "oi_sum": 0.0, "oi_sumsq": 0.0}, CFG)


def test_score_frame_rejects_infinity_naming_column_and_row() -> None:
    cols = [np.full(3, np.nan) for _ in RISK_INPUTS]
    cols[RISK_INPUTS.index("funding_sum")][2] = np.inf
    with pytest.raises(ValueError, match=r"funding_sum must be finite or NULL, got inf at row 2"):
        score_frame(cols, CFG)


def test_score_frame_matches_the_scalar_function() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(50):
        sig = {s: (float(rng.normal()) if rng.random() > 0.2 else None,
                   list(rng.normal(size=int(rng.integers(0, 120))))) for s in SIGNALS}
        rows.append(inputs(**sig))
    cols = [[math.nan if r[c] is None else r[c] for r in rows] for c in RISK_INPUTS]
    frame = score_frame(cols, CFG)
    assert list(frame.columns) == list(RISK_OUTPUTS)
    for i, row in enumerate(rows):
        one = liquidation_risk(row, CFG)
        assert frame["risk"][i] == approx(one.risk) and frame["side"][i] == one.side
        assert frame["components"][i] == one.present
        for c in COMPONENTS:
            got, want = frame[f"{c}_pts"][i], one.points[c]
            assert (want is None and math.isnan(got)) or got == approx(want)


@given(st.lists(st.floats(-5, 5), min_size=0, max_size=len(SIGNALS)),
       st.floats(-20, 20))
def test_prop_risk_bounded_and_monotone_in_long_liquidations(zs: list[float], x: float) -> None:
    base = inputs(**{s: (z, PAST) for s, z in zip(SIGNALS, zs, strict=False)})
    lo = liquidation_risk({**base, **inputs(liq_long=(x, PAST))}, CFG)
    hi = liquidation_risk({**base, **inputs(liq_long=(x + 1, PAST))}, CFG)
    assert 0 <= lo.long_risk <= hi.long_risk + TOL <= 100 + TOL
    assert lo.risk == max(lo.long_risk, lo.short_risk)


# --- stablecoin pressure ----------------------------------------------------------------
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


# --- alert level: entry thresholds, strict boundaries; no level needs pressure ------------
A = CFG.alerts


@pytest.mark.parametrize(
    ("risk", "confidence", "expected"),
    [
        (A.critical_risk + 0.01, 1.0, "CRITICAL"),
        (100.0, 1.0, "CRITICAL"),
        (A.critical_risk, 1.0, "WARNING"),  # exactly at the threshold is not above it
        (A.warning_risk + 0.01, 1.0, "WARNING"),
        (A.warning_risk, 1.0, "INFO"),
        (A.info_risk + 0.01, 1.0, "INFO"),
        (A.info_risk, 1.0, None),
        (0.0, 1.0, None),
        # too little data present: no alert at all
        (100.0, A.min_confidence - 0.01, None),
        (100.0, 0.0, None),
        (100.0, None, None),
        (100.0, A.min_confidence, "CRITICAL"),  # at min_confidence is enough
        (None, 1.0, None),  # no risk score: no alert
    ],
)
def test_alert_level_table(risk: float | None, confidence: float | None,
                           expected: str | None) -> None:
    assert alert_level(risk, confidence, CFG.alerts) == expected


def test_alert_level_rejects_nan_confidence() -> None:
    with pytest.raises(ValueError, match="confidence"):
        alert_level(100.0, math.nan, CFG.alerts)


def test_level_frame_matches_alert_level() -> None:
    rows = [(99.9, 1.0), (97.5, 1.0), (90.0, 1.0), (99.9, 0.2), (None, 1.0), (10.0, 1.0)]
    r, c = ([math.nan if v is None else v for v in col] for col in zip(*rows, strict=True))
    assert level_frame(r, c, CFG.alerts) == [alert_level(*row, CFG.alerts) for row in rows]


# --- alert state: escalation immediate, hysteresis, cooldown, thin data frozen -------------
IN, WN, CR = A.info_risk + 1, A.warning_risk + 1 if A.warning_risk < 99 else 99.0, 99.9
M = A.risk_margin


def _states(risks: list[float | None], confidence: float = 1.0) -> list[str]:
    n = len(risks)
    return alert_states(range(n), risks, [confidence] * n, CFG.alerts)


def test_escalation_is_immediate_even_within_cooldown() -> None:
    assert _states([IN, WN, CR]) == ["INFO", "WARNING", "CRITICAL"]


def test_hysteresis_holds_a_level_until_risk_falls_the_margin_below() -> None:
    hold = A.critical_risk - M + 0.5
    assert _states([CR] + [hold] * 8) == ["CRITICAL"] * 9
    below = A.critical_risk - M - 0.1  # still above WARNING's stay condition
    cd = A.cooldown_windows
    assert _states([CR] + [below] * cd) == ["CRITICAL"] * cd + ["WARNING"]


def test_cooldown_delays_de_escalation() -> None:
    cd = A.cooldown_windows
    got = _states([WN] + [10] * (cd + 1))
    assert got == ["WARNING"] * cd + ["NONE", "NONE"]  # leaves cooldown windows after entering


def test_de_escalation_steps_to_the_highest_level_still_held() -> None:
    cd = A.cooldown_windows
    mid = A.warning_risk - M - 0.1  # below WARNING's stay condition, above INFO's
    assert mid > A.info_risk - M
    assert _states([WN] + [mid] * cd) == ["WARNING"] * cd + ["INFO"]


def test_thin_data_changes_nothing() -> None:
    n = 8
    conf = [1.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1.0]
    got = alert_states(range(n), [WN, CR, 0, 0, 0, 0, 0, WN], conf, CFG.alerts)
    assert got == ["WARNING"] * 8  # neither raised by the CR nor cleared by the zeros
    assert _states([CR, CR], confidence=0.1) == ["NONE", "NONE"]  # thin data never alerts


def test_cooldown_counts_windows_not_rows() -> None:
    # rows at windows 0 and cooldown (a gap): the cooldown has passed at the second row
    assert alert_states([0, A.cooldown_windows], [WN, 10], [1, 1], CFG.alerts) == [
        "WARNING", "NONE"]


def test_transition_reports_state_now_and_before() -> None:
    assert alert_transition([0], [WN], [1], CFG.alerts) == "WARNING|NONE"
    assert alert_transition([0, 1], [WN, CR], [1, 1], CFG.alerts) == "CRITICAL|WARNING"
    assert alert_transition([0, 1], [WN, WN], [1, 1], CFG.alerts) == "WARNING|WARNING"


@given(st.lists(st.floats(min_value=-M * 0.6, max_value=M * 0.6), min_size=30, max_size=120),
       st.sampled_from(["info_risk", "warning_risk", "critical_risk"]))
def test_prop_hovering_around_a_threshold_does_not_flap(noise: list[float],
                                                        threshold: str) -> None:
    """A score wandering within 0.6 margins of an entry threshold (and not above the next
    level's) never flaps: it may enter the level, but never falls the margin below it that
    leaving takes."""
    t = getattr(A, threshold)
    ceiling = {"info_risk": A.warning_risk, "warning_risk": A.critical_risk}.get(threshold, 100.0)
    states = _states([min(ceiling, t + x) for x in noise])
    rank = ["NONE", "INFO", "WARNING", "CRITICAL"]
    assert [rank.index(s) for s in states] == sorted(rank.index(s) for s in states), states


@given(st.lists(st.floats(min_value=0, max_value=100), min_size=2, max_size=90))
def test_prop_no_level_is_left_within_the_cooldown(rows: list[float]) -> None:
    """Whatever the inputs, an asset leaves a level no sooner than cooldown_windows after
    entering it, so the same level cannot be alerted twice within the cooldown."""
    states = alert_states(range(len(rows)), rows, [1.0] * len(rows), CFG.alerts)
    entered: dict[str, int] = {}
    previous = "NONE"
    rank = ["NONE", "INFO", "WARNING", "CRITICAL"]
    for t, s in enumerate(states):
        if s != previous:
            if rank.index(s) < rank.index(previous):  # a de-escalation
                assert t - entered[previous] >= A.cooldown_windows
            entered[s] = t
        previous = s


usd_st = st.floats(min_value=0.0, max_value=1e13)
opt = st.none


@pytest.mark.parametrize("func", ["stablecoin_pressure", "alert_level"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_rejected_elsewhere(func: str, bad: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        if func == "stablecoin_pressure":
            stablecoin_pressure(bad, 1e6, 1e6, CFG.pressure)
        else:
            alert_level(bad, 1.0, CFG.alerts)


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



"""Pure scoring functions: directional Liquidation Risk, Stablecoin Pressure, the alert level
and the alert state machine (hysteresis and cooldown).

No Flink import here: udfs.py wraps these, and tests call them directly. Every component is
a clamped, monotone function of one normalized input (docs/scoring.md).

Two entry points share one implementation:
- scalar functions (`liquidation_risk`, `stablecoin_pressure`, ...) for one row: None is a
  missing input; NaN and infinities are rejected with an error naming the input;
- frame functions (`score_frame`, `pressure_frame`, `level_frame`) for the vectorized UDFs:
  a batch of rows as numpy/pandas columns, where NaN is a missing input (SQL NULL arrives
  as NaN) and an infinity is rejected.
A missing input scores no points and lowers confidence; it is never a measured zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flink_jobs.config import Alerts, Pressure, Scoring

LEVELS = ("INFO", "WARNING", "CRITICAL")
NONE = "NONE"  # the alert state "no alert"; written as NULL in risk_scores.level
_RANK = {NONE: 0, "INFO": 1, "WARNING": 2, "CRITICAL": 3}
COMPONENTS = ("funding", "oi_buildup", "imbalance", "liquidations")
RISK_INPUTS = ("funding_8h", "oi_change_pct", "price_change_pct", "long_share",
               "liq_long_usd", "liq_short_usd", "oi_usd", "liq_baseline_usd")
RISK_OUTPUTS = ("risk", "side", "long_risk", "short_risk", "funding_pts", "oi_buildup_pts",
                "imbalance_pts", "liquidation_pts", "confidence", "components")
_EPS = 1e-9  # a long share of exactly 0 or 1 is maximal imbalance, not a division by zero


# --- input checks ----------------------------------------------------------------------
def _finite(name: str, value: float | None) -> float:
    """Scalar input: None -> NaN (missing); NaN or an infinity -> ValueError."""
    if value is None:
        return math.nan
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number or missing (None), got {value!r}")
    return value


def _column(name: str, values: object) -> np.ndarray:
    """Frame input: NaN = missing; an infinity -> ValueError naming the column and row."""
    arr = np.asarray(values, dtype=float)
    bad = np.isinf(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite or NULL, got {arr[i]!r} at row {i}")
    return arr


def _check_ranges(x: dict[str, np.ndarray]) -> None:
    share = x["long_share"]
    bad = ~np.isnan(share) & ((share < 0) | (share > 1))
    if bad.any():
        raise ValueError(f"long_share must be within 0..1, got {share[bad][0]!r}")
    for name in ("liq_long_usd", "liq_short_usd", "oi_usd", "liq_baseline_usd"):
        v = x[name]
        neg = ~np.isnan(v) & (v < 0)
        if neg.any():
            raise ValueError(f"{name} must not be negative, got {v[neg][0]!r}")


def _none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --- curves ----------------------------------------------------------------------------
def ramp(x: float | np.ndarray, start: float, full: float) -> np.ndarray:
    """0 at or below `start`, 1 at or above `full`, linear between; NaN stays NaN."""
    return np.clip((np.asarray(x, dtype=float) - start) / (full - start), 0.0, 1.0)


def _moved(price_change_pct: np.ndarray, cfg: Scoring) -> np.ndarray:
    """0 when price stayed flat, 1 when it moved fully (either way)."""
    c = cfg.oi_buildup
    return ramp(np.abs(price_change_pct), c.price_flat_pct, c.price_moved_pct)


def funding_pts(funding_8h: np.ndarray, sign: int, cfg: Scoring) -> np.ndarray:
    """Crowding paid for: positive funding (longs pay) for sign +1, negative for -1."""
    c = cfg.funding
    return c.max_points * ramp(sign * funding_8h, c.neutral_8h, c.extreme_8h)


def oi_buildup_pts(oi_change_pct: np.ndarray, price_change_pct: np.ndarray,
                   cfg: Scoring) -> np.ndarray:
    """Open interest rising over the lookback; discounted as price moved with it. Both
    sides get the same points: new leverage is fuel for either cascade. Needs both inputs."""
    c = cfg.oi_buildup
    build = ramp(oi_change_pct, c.start_pct, c.full_pct)
    return c.max_points * build * (1.0 - c.moved_discount * _moved(price_change_pct, cfg))


def imbalance_pts(long_share: np.ndarray, sign: int, cfg: Scoring) -> np.ndarray:
    """Positioning lopsided towards the side, on ln(long/short) of the account ratio."""
    c = cfg.imbalance
    share = np.clip(long_share, _EPS, 1 - _EPS)
    skew = sign * np.log(share / (1.0 - share))
    return c.max_points * ramp(skew, math.log(c.start_ratio), math.log(c.full_ratio))


def liquidation_pts(liq_side_usd: np.ndarray, oi_usd: np.ndarray, baseline_usd: np.ndarray,
                    oi_change_pct: np.ndarray, price_change_pct: np.ndarray, sign: int,
                    cfg: Scoring) -> np.ndarray:
    """The side's positions already being force-closed: the largest of
    - its liquidated notional in basis points of open interest,
    - its liquidated notional against the asset's rolling per-minute baseline (both sides),
    - the open-interest flush: OI falling over the lookback while price moved against the
      side, the footprint of liquidations that sampled feeds (Binance, OKX: at most one per
      symbol per second) undercount.
    Missing (NaN) when the row has no liquidation feed."""
    c = cfg.liquidations
    with np.errstate(divide="ignore", invalid="ignore"):
        of_oi = np.where(oi_usd > 0, ramp(liq_side_usd / oi_usd * 1e4, c.start_bp_of_oi,
                                          c.full_bp_of_oi), 0.0)
        surge = np.where(baseline_usd > 0, ramp(liq_side_usd / baseline_usd, c.start_surge,
                                                c.full_surge), 0.0)
    against = ramp(-sign * price_change_pct, cfg.oi_buildup.price_flat_pct,
                   cfg.oi_buildup.price_moved_pct)
    flush = np.nan_to_num(ramp(-oi_change_pct, c.oi_drop_start_pct, c.oi_drop_full_pct)
                          * against, nan=0.0)
    best = np.maximum(np.maximum(np.nan_to_num(of_oi), np.nan_to_num(surge)), flush)
    return np.where(np.isnan(liq_side_usd), np.nan, c.max_points * best)


# --- risk --------------------------------------------------------------------------------
def _side_parts(x: dict[str, np.ndarray], sign: int, cfg: Scoring) -> list[np.ndarray]:
    liq = x["liq_long_usd"] if sign > 0 else x["liq_short_usd"]
    return [
        funding_pts(x["funding_8h"], sign, cfg),
        oi_buildup_pts(x["oi_change_pct"], x["price_change_pct"], cfg),
        imbalance_pts(x["long_share"], sign, cfg),
        liquidation_pts(liq, x["oi_usd"], x["liq_baseline_usd"], x["oi_change_pct"],
                        x["price_change_pct"], sign, cfg),
    ]


def _score_arrays(x: dict[str, np.ndarray], cfg: Scoring) -> dict[str, np.ndarray]:
    _check_ranges(x)
    long_parts, short_parts = _side_parts(x, +1, cfg), _side_parts(x, -1, cfg)
    present = [~np.isnan(p) for p in long_parts]  # the same inputs feed both sides
    maxima = (cfg.funding.max_points, cfg.oi_buildup.max_points, cfg.imbalance.max_points,
              cfg.liquidations.max_points)
    long_risk = np.minimum(100.0, np.nansum(np.vstack(long_parts), axis=0))
    short_risk = np.minimum(100.0, np.nansum(np.vstack(short_parts), axis=0))
    is_long = long_risk >= short_risk  # a tie (e.g. all zero) reads as the long side
    chosen = [np.where(is_long, lp, sp) for lp, sp in zip(long_parts, short_parts, strict=True)]
    n = len(long_risk)
    confidence = sum(np.where(p, m, 0.0) for p, m in zip(present, maxima, strict=True)) / 100.0
    components = [",".join(name for name, p in zip(COMPONENTS, present, strict=True) if p[i])
                  for i in range(n)]
    return {
        "risk": np.maximum(long_risk, short_risk),
        "side": np.where(is_long, "long", "short"),
        "long_risk": long_risk, "short_risk": short_risk,
        "funding_pts": chosen[0], "oi_buildup_pts": chosen[1],
        "imbalance_pts": chosen[2], "liquidation_pts": chosen[3],
        "confidence": np.broadcast_to(confidence, (n,)).astype(float),
        "components": np.array(components, dtype=object),
    }


def score_frame(columns: Sequence[object], cfg: Scoring) -> pd.DataFrame:
    """Vectorized risk: columns in RISK_INPUTS order (NaN = missing) -> one row per input
    row with the RISK_OUTPUTS columns (NaN component = no input)."""
    x = {name: _column(name, col) for name, col in zip(RISK_INPUTS, columns, strict=True)}
    out = _score_arrays(x, cfg)
    return pd.DataFrame({k: out[k] for k in RISK_OUTPUTS})


@dataclass(frozen=True)
class RiskScore:
    risk: float                 # max(long_risk, short_risk)
    side: str                   # 'long' (long-cascade risk) or 'short' (short squeeze)
    long_risk: float
    short_risk: float
    funding: float | None       # points of the headline side; None = no input
    oi_buildup: float | None
    imbalance: float | None
    liquidations: float | None
    confidence: float           # share of the 100 possible points whose inputs were present
    present: str                # comma-separated names of the components that had data


def liquidation_risk(
    *,
    funding_8h: float | None,
    oi_change_pct: float | None,
    price_change_pct: float | None,
    long_share: float | None,
    liq_long_usd: float | None,
    liq_short_usd: float | None,
    oi_usd: float | None,
    liq_baseline_usd: float | None,
    cfg: Scoring,
) -> RiskScore:
    """Liquidation Risk of one row: long-cascade and short-squeeze risk, each 0..100."""
    args = locals()
    x = {name: np.array([_finite(name, args[name])]) for name in RISK_INPUTS}
    out = _score_arrays(x, cfg)
    return RiskScore(
        risk=float(out["risk"][0]), side=str(out["side"][0]),
        long_risk=float(out["long_risk"][0]), short_risk=float(out["short_risk"][0]),
        funding=_none(out["funding_pts"][0]), oi_buildup=_none(out["oi_buildup_pts"][0]),
        imbalance=_none(out["imbalance_pts"][0]),
        liquidations=_none(out["liquidation_pts"][0]),
        confidence=float(out["confidence"][0]), present=str(out["components"][0]),
    )


# --- stablecoin pressure ----------------------------------------------------------------
def _pressure(inflow: np.ndarray, outflow: np.ndarray, baseline: np.ndarray,
              cfg: Pressure) -> np.ndarray:
    for name, v in (("inflow_usd", inflow), ("outflow_usd", outflow),
                    ("flow_baseline_usd", baseline)):
        if (~np.isnan(v) & (v < 0)).any():
            raise ValueError(f"{name} must not be negative")
    net = np.nan_to_num(outflow) - np.nan_to_num(inflow)
    scale = np.maximum(np.nan_to_num(baseline), cfg.min_baseline_usd)
    p = np.sign(net) * 100.0 * np.tanh(np.log1p(np.abs(net) / scale) / cfg.softness)
    return np.where(np.isnan(inflow) & np.isnan(outflow), np.nan, p)


def stablecoin_pressure(inflow_usd: float | None, outflow_usd: float | None,
                        baseline_usd: float | None, cfg: Pressure) -> float | None:
    """-100..+100: net exchange outflow positive (accumulation), net inflow negative.

    The net flow is measured in units of the typical per-minute flow size and compressed
    logarithmically, so one whale transfer moves the score a lot but does not pin it.
    """
    p = _pressure(np.array([_finite("inflow_usd", inflow_usd)]),
                  np.array([_finite("outflow_usd", outflow_usd)]),
                  np.array([_finite("flow_baseline_usd", baseline_usd)]), cfg)
    return _none(p[0])


def pressure_frame(inflow: object, outflow: object, baseline: object,
                   cfg: Pressure) -> np.ndarray:
    """Vectorized stablecoin_pressure (NaN = missing)."""
    return _pressure(_column("inflow_usd", inflow), _column("outflow_usd", outflow),
                     _column("flow_baseline_usd", baseline), cfg)


# --- alert level and state ---------------------------------------------------------------
def _meets(level: str, risk: float, pressure: float, cfg: Alerts, hold: bool) -> bool:
    """Does (risk, pressure) meet `level`'s entry condition, or, with hold=True, its stay
    condition (thresholds moved by the hysteresis margins)? An unknown pressure never
    enters WARNING/CRITICAL but does not push an asset out of them either."""
    rm = cfg.risk_margin if hold else 0.0
    pm = cfg.pressure_margin if hold else 0.0
    if level == "INFO":
        return risk > cfg.info_risk - rm
    risk_t, press_t = ((cfg.warning_risk, cfg.warning_pressure) if level == "WARNING"
                       else (cfg.critical_risk, cfg.critical_pressure))
    if math.isnan(pressure):
        return hold and risk > risk_t - rm
    return risk > risk_t - rm and pressure < press_t + pm


def _entry_level(risk: float, pressure: float, cfg: Alerts) -> str:
    for level in reversed(LEVELS):
        if _meets(level, risk, pressure, cfg, hold=False):
            return level
    return NONE


def _thin(risk: float, confidence: float, cfg: Alerts) -> bool:
    return math.isnan(risk) or math.isnan(confidence) or confidence < cfg.min_confidence


def alert_level(risk: float | None, pressure: float | None, confidence: float | None,
                cfg: Alerts) -> str | None:
    """The instantaneous level (entry thresholds, no hysteresis): CRITICAL when risk >
    critical_risk and pressure < critical_pressure, WARNING likewise, INFO when risk >
    info_risk; None when none holds or the data is too thin."""
    risk = _finite("risk", risk)
    pressure = _finite("pressure", pressure)
    confidence = _finite("confidence", confidence)
    if _thin(risk, confidence, cfg):
        return None
    level = _entry_level(risk, pressure, cfg)
    return None if level == NONE else level


def level_frame(risk: object, pressure: object, confidence: object, cfg: Alerts) -> list:
    """Vectorized alert_level (NaN = missing)."""
    r, p, c = (_column(n, v) for n, v in (("risk", risk), ("pressure", pressure),
                                          ("confidence", confidence)))
    out = []
    for ri, pi, ci in zip(r, p, c, strict=True):
        level = NONE if _thin(ri, ci, cfg) else _entry_level(ri, pi, cfg)
        out.append(None if level == NONE else level)
    return out


def alert_states(minutes: Iterable[float], risks: Iterable[float | None],
                 pressures: Iterable[float | None], confidences: Iterable[float | None],
                 cfg: Alerts) -> list[str]:
    """Replay the alert state machine over one asset's rows in time order (minute = window
    start in minutes); return the state after each row (NONE, INFO, WARNING, CRITICAL).

    - escalation (the entry condition of a higher level holds) is immediate;
    - the asset leaves its level only when the level's stay condition fails (risk below
      entry - risk_margin, or pressure above entry + pressure_margin) AND at least
      cooldown_minutes have passed since the last change; it then drops to the highest
      level whose stay condition still holds;
    - a row with too-thin data (confidence below min_confidence) changes nothing.
    The same rows always give the same states, so a replay or restart writes the same alerts.
    """
    state, since = NONE, -math.inf
    out: list[str] = []
    for t, r, p, c in zip(minutes, risks, pressures, confidences, strict=True):
        r, p, c = (math.nan if v is None else float(v) for v in (r, p, c))
        if not _thin(r, c, cfg):
            entry = _entry_level(r, p, cfg)
            if _RANK[entry] > _RANK[state]:
                state, since = entry, t
            elif (state != NONE and not _meets(state, r, p, cfg, hold=True)
                  and t - since >= cfg.cooldown_minutes):
                lower = [lv for lv in LEVELS if _RANK[lv] < _RANK[state]
                         and _meets(lv, r, p, cfg, hold=True)]
                state, since = (lower[-1] if lower else NONE), t
        out.append(state)
    return out


def alert_transition(minutes: Sequence[float], risks: Sequence[float | None],
                     pressures: Sequence[float | None], confidences: Sequence[float | None],
                     cfg: Alerts) -> str:
    """'<level>|<previous level>' at the last row, from one replay of the rows given (the
    UDAF's bounded window): the asset's alert state now and one row before."""
    states = alert_states(minutes, risks, pressures, confidences, cfg)
    previous = states[-2] if len(states) > 1 else NONE
    return f"{states[-1]}|{previous}"

"""Pure scoring functions: directional Liquidation Risk from inputs judged against the
asset's own trailing history, Stablecoin Pressure, the alert level and the alert state
machine (hysteresis and cooldown).

No Flink import here: udfs.py wraps these, the backtest calls them on the rows the job
wrote, and tests call them directly (docs/scoring.md).

The SQL (sql/flink/45, 46) turns every input of a window row into a *signal* (a
variance-stabilised number: log of liquidations in basis points of open interest, asinh of
percent changes and of funding in basis points, log of the long/short ratio) and sums, per
asset and venue, the signal's past values over the trailing history (count, sum, sum of
squares; the current window excluded). This module turns each into a z-score

    z = clip((x - mean) / max(sd, min_sd), -z_clip, z_clip)

and combines the side's components as S = sum(w z) / sqrt(sum(w^2)) over the components
present, risk = 100 x Phi(S / risk_spread): 50 is an ordinary window for this asset; with
the spread of 2, 97.7 is four standard deviations of evidence towards a cascade.

Two entry points share one implementation:
- `liquidation_risk` for one row: None is a missing input; NaN and infinities are rejected
  with an error naming the input;
- `score_frame` for the vectorized UDF: columns in RISK_INPUTS order, NaN = missing (SQL
  NULL arrives as NaN), an infinity is rejected naming the column and row.
A missing input scores nothing and lowers confidence; it is never a measured zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from flink_jobs.config import COMPONENTS, Alerts, Pressure, Scoring

LEVELS = ("INFO", "WARNING", "CRITICAL")
NONE = "NONE"  # the alert state "no alert"; written as NULL in risk_scores.level
_RANK = {NONE: 0, "INFO": 1, "WARNING": 2, "CRITICAL": 3}

# The signals the SQL computes per window row (sql/flink/45_signals.sql), side-free.
SIGNALS = ("liq_long", "liq_short", "liq_long_recent", "liq_short_recent", "price", "oi",
           "funding", "ls", "top_ls", "pressure")
# Per component: (signal, sign) of the long side and of the short side. A sign flip
# mirrors the z-score exactly (the mean flips, the sd does not).
SIDES: dict[str, tuple[tuple[str, int], tuple[str, int]]] = {
    "liquidations": (("liq_long", +1), ("liq_short", +1)),
    "liquidations_recent": (("liq_long_recent", +1), ("liq_short_recent", +1)),
    "price_move": (("price", -1), ("price", +1)),      # a fall hurts longs, a rise shorts
    "oi_buildup": (("oi", +1), ("oi", +1)),            # new leverage fuels either cascade
    "funding": (("funding", +1), ("funding", -1)),     # longs pay positive funding
    "imbalance": (("ls", +1), ("ls", -1)),             # long-heavy / short-heavy accounts
    "top_imbalance": (("top_ls", +1), ("top_ls", -1)),  # the same for top traders' positions
    "pressure": (("pressure", -1), ("pressure", +1)),  # long side: inflow; short: outflow
}
# UDF inputs: each signal's value, then its history count, sum and sum of squares.
RISK_INPUTS = tuple(f"{s}{suffix}" for s in SIGNALS for suffix in ("", "_n", "_sum", "_sumsq"))
POINT_COLUMNS = tuple(f"{c}_pts" for c in COMPONENTS)
RISK_OUTPUTS = ("risk", "side", "long_risk", "short_risk", *POINT_COLUMNS, "confidence",
                "components")


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
        raise ValueError(f"{name} must be finite or NULL, got {float(arr[i])!r} at row {i}")
    return arr


def _none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --- history -----------------------------------------------------------------------------
def zscore(x: np.ndarray, n: np.ndarray, total: np.ndarray, sumsq: np.ndarray,
           cfg: Scoring) -> np.ndarray:
    """x judged against its trailing history (count n, sum, sum of squares of the past
    values): clipped z, NaN when x is missing or the history has fewer than
    history.min_windows values (warm-up: not judged yet)."""
    h = cfg.history
    bad = ~np.isnan(n) & (n < 0)
    if bad.any():
        raise ValueError(f"a history count must not be negative, got {float(n[bad][0])!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.maximum(sumsq / n - mean * mean, 0.0)
        z = (x - mean) / np.maximum(np.sqrt(var), h.min_sd)
    ok = ~np.isnan(x) & ~np.isnan(n) & (n >= h.min_windows)
    return np.where(ok, np.clip(z, -h.z_clip, h.z_clip), np.nan)


def component_z(x: Mapping[str, np.ndarray], cfg: Scoring) -> dict[str, np.ndarray]:
    """Each signal's z-score against its own history (NaN = missing or warming up)."""
    return {s: zscore(x[s], x[f"{s}_n"], x[f"{s}_sum"], x[f"{s}_sumsq"], cfg) for s in SIGNALS}


def side_z(z: Mapping[str, np.ndarray], side: str) -> dict[str, np.ndarray]:
    """The components of one side ('long' or 'short') from the signals' z-scores."""
    i = 0 if side == "long" else 1
    out = {}
    for comp, pair in SIDES.items():
        signal, sign = pair[i]
        out[comp] = sign * z[signal]
    return out


def combine(parts: Mapping[str, np.ndarray], weights: Mapping[str, float]
            ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """S = sum(w z) / sqrt(sum(w^2)) over the components present, and each component's
    signed contribution w z / sqrt(sum(w^2)) (they add up to S). S is 0 (risk 50, an
    ordinary window) when no weighted component is present."""
    n = len(next(iter(parts.values())))
    num, norm = np.zeros(n), np.zeros(n)
    for comp, z in parts.items():
        w = weights[comp]
        if w:
            present = ~np.isnan(z)
            num += np.where(present, w * z, 0.0)
            norm += np.where(present, w * w, 0.0)
    scale = np.sqrt(norm)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(norm > 0, num / scale, 0.0)
        contrib = {comp: np.where(np.isnan(z) | (weights[comp] == 0), np.nan,
                                  weights[comp] * z / np.where(norm > 0, scale, 1.0))
                   for comp, z in parts.items()}
    return s, contrib


def risk_of(s: np.ndarray, cfg: Scoring) -> np.ndarray:
    """0..100: the standard normal CDF of the combined score over risk_spread, in percent."""
    return 100.0 * ndtr(s / cfg.risk_spread)


# --- risk --------------------------------------------------------------------------------
def _score_arrays(x: dict[str, np.ndarray], cfg: Scoring) -> dict[str, np.ndarray]:
    weights = cfg.components.weights()
    z = component_z(x, cfg)
    s_long, c_long = combine(side_z(z, "long"), weights)
    s_short, c_short = combine(side_z(z, "short"), weights)
    long_risk, short_risk = risk_of(s_long, cfg), risk_of(s_short, cfg)
    is_long = long_risk >= short_risk  # a tie (e.g. nothing judged yet) reads as long
    present = {c: ~np.isnan(side_z(z, "long")[c]) for c in COMPONENTS}
    total = sum(abs(w) for w in weights.values())
    confidence = sum(np.where(present[c], abs(weights[c]), 0.0) for c in COMPONENTS) / total
    n = len(s_long)
    names = np.array(COMPONENTS, dtype=object)
    mask = np.vstack([present[c] & (weights[c] != 0) for c in COMPONENTS]).T
    components = np.array([",".join(names[row]) for row in mask], dtype=object)
    out: dict[str, np.ndarray] = {
        "risk": np.maximum(long_risk, short_risk),
        "side": np.where(is_long, "long", "short"),
        "long_risk": long_risk, "short_risk": short_risk,
        "confidence": np.broadcast_to(confidence, (n,)).astype(float),
        "components": components,
    }
    for c in COMPONENTS:
        out[f"{c}_pts"] = np.where(is_long, c_long[c], c_short[c])
    return out


def score_frame(columns: Sequence[object], cfg: Scoring) -> pd.DataFrame:
    """Vectorized risk: columns in RISK_INPUTS order (NaN = missing) -> one row per input
    row with the RISK_OUTPUTS columns (NaN contribution = component missing)."""
    x = {name: _column(name, col) for name, col in zip(RISK_INPUTS, columns, strict=True)}
    out = _score_arrays(x, cfg)
    return pd.DataFrame({k: out[k] for k in RISK_OUTPUTS})


def side_components(columns: Mapping[str, object], cfg: Scoring) -> dict[str, pd.DataFrame]:
    """Each component's z-score for each side ({'long': frame, 'short': frame}, one column
    per component, NaN = missing): what the backtest judges component by component."""
    x = {name: _column(name, columns[name]) for name in RISK_INPUTS}
    z = component_z(x, cfg)
    return {side: pd.DataFrame(side_z(z, side)) for side in ("long", "short")}


@dataclass(frozen=True)
class RiskScore:
    risk: float                 # max(long_risk, short_risk)
    side: str                   # 'long' (long-cascade risk) or 'short' (short squeeze)
    long_risk: float
    short_risk: float
    points: dict[str, float | None]  # each component's contribution to the side's S
    confidence: float           # share of the weights whose inputs were judged
    present: str                # comma-separated names of the components judged


def liquidation_risk(inputs: Mapping[str, float | None], cfg: Scoring) -> RiskScore:
    """Liquidation Risk of one row from its RISK_INPUTS (a missing key is a missing input)."""
    unknown = set(inputs) - set(RISK_INPUTS)
    if unknown:
        raise ValueError(f"unknown risk inputs {sorted(unknown)}")
    x = {name: np.array([_finite(name, inputs.get(name))]) for name in RISK_INPUTS}
    out = _score_arrays(x, cfg)
    return RiskScore(
        risk=float(out["risk"][0]), side=str(out["side"][0]),
        long_risk=float(out["long_risk"][0]), short_risk=float(out["short_risk"][0]),
        points={c: _none(out[f"{c}_pts"][0]) for c in COMPONENTS},
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
def _threshold(level: str, cfg: Alerts) -> float:
    return {"INFO": cfg.info_risk, "WARNING": cfg.warning_risk,
            "CRITICAL": cfg.critical_risk}[level]


def _meets(level: str, risk: float, cfg: Alerts, hold: bool) -> bool:
    """Does risk meet `level`'s entry condition (risk > threshold) or, with hold=True, its
    stay condition (risk > threshold - risk_margin)? No level needs stablecoin pressure:
    a user without flow data gets every level (docs/scoring.md)."""
    return risk > _threshold(level, cfg) - (cfg.risk_margin if hold else 0.0)


def _entry_level(risk: float, cfg: Alerts) -> str:
    for level in reversed(LEVELS):
        if _meets(level, risk, cfg, hold=False):
            return level
    return NONE


def _thin(risk: float, confidence: float, cfg: Alerts) -> bool:
    return math.isnan(risk) or math.isnan(confidence) or confidence < cfg.min_confidence


def alert_level(risk: float | None, confidence: float | None, cfg: Alerts) -> str | None:
    """The instantaneous level (entry thresholds, no hysteresis): CRITICAL when risk >
    critical_risk, WARNING, INFO likewise; None when none holds or the data is too thin."""
    risk = _finite("risk", risk)
    confidence = _finite("confidence", confidence)
    if _thin(risk, confidence, cfg):
        return None
    level = _entry_level(risk, cfg)
    return None if level == NONE else level


def level_frame(risk: object, confidence: object, cfg: Alerts) -> list:
    """Vectorized alert_level (NaN = missing)."""
    r, c = _column("risk", risk), _column("confidence", confidence)
    out = []
    for ri, ci in zip(r, c, strict=True):
        level = NONE if _thin(ri, ci, cfg) else _entry_level(ri, cfg)
        out.append(None if level == NONE else level)
    return out


def alert_states(windows: Iterable[float], risks: Iterable[float | None],
                 confidences: Iterable[float | None], cfg: Alerts) -> list[str]:
    """Replay the alert state machine over one asset's rows in time order (window = the
    window's index: window start / window length); return the state after each row
    (NONE, INFO, WARNING, CRITICAL).

    - escalation (the entry condition of a higher level holds) is immediate;
    - the asset leaves its level only when risk falls risk_margin below the level's entry
      threshold AND at least cooldown_windows have passed since the last change; it then
      drops to the highest level whose stay condition still holds;
    - a row with too-thin data (confidence below min_confidence) changes nothing.
    The same rows always give the same states, so a replay or restart writes the same alerts.
    """
    state, since = NONE, -math.inf
    out: list[str] = []
    for t, r, c in zip(windows, risks, confidences, strict=True):
        r, c = (math.nan if v is None else float(v) for v in (r, c))
        if not _thin(r, c, cfg):
            entry = _entry_level(r, cfg)
            if _RANK[entry] > _RANK[state]:
                state, since = entry, t
            elif (state != NONE and not _meets(state, r, cfg, hold=True)
                  and t - since >= cfg.cooldown_windows):
                lower = [lv for lv in LEVELS if _RANK[lv] < _RANK[state]
                         and _meets(lv, r, cfg, hold=True)]
                state, since = (lower[-1] if lower else NONE), t
        out.append(state)
    return out


def alert_transition(windows: Sequence[float], risks: Sequence[float | None],
                     confidences: Sequence[float | None], cfg: Alerts) -> str:
    """'<level>|<previous level>' at the last row, from one replay of the rows given (the
    UDAF's bounded window): the asset's alert state now and one row before."""
    states = alert_states(windows, risks, confidences, cfg)
    previous = states[-2] if len(states) > 1 else NONE
    return f"{states[-1]}|{previous}"

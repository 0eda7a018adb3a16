"""Pure scoring functions: Liquidation Risk, Stablecoin Pressure and the alert level.

No Flink import here: the UDFs in udfs.py are thin wrappers, and tests call these
directly. Every component is a clamped, monotone function of one normalized input
(docs/scoring.md). A missing input (None) scores no points and lowers confidence; it is
never treated as a measured zero. NaN and infinities are rejected with a clear error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flink_jobs.config import Alerts, Pressure, Scoring

LEVELS = ("INFO", "WARNING", "CRITICAL")


def _finite(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def ramp(x: float, start: float, full: float) -> float:
    """0 at or below `start`, 1 at or above `full`, linear between."""
    if x <= start:
        return 0.0
    if x >= full:
        return 1.0
    return (x - start) / (full - start)


def funding_points(funding_8h: float | None, cfg: Scoring) -> float | None:
    """Crowding from the funding rate (decimal per 8 h), either sign."""
    funding_8h = _finite("funding_8h", funding_8h)
    if funding_8h is None:
        return None
    c = cfg.funding
    return c.max_points * ramp(abs(funding_8h), c.neutral_8h, c.extreme_8h)


def oi_buildup_points(
    oi_change_pct: float | None, price_change_pct: float | None, cfg: Scoring
) -> float | None:
    """Open interest rising over the lookback; discounted when price moved with it."""
    oi_change_pct = _finite("oi_change_pct", oi_change_pct)
    price_change_pct = _finite("price_change_pct", price_change_pct)
    if oi_change_pct is None:
        return None
    c = cfg.oi_buildup
    build = ramp(oi_change_pct, c.start_pct, c.full_pct)
    moved = 0.0 if price_change_pct is None else ramp(
        abs(price_change_pct), c.price_flat_pct, c.price_moved_pct
    )
    return c.max_points * build * (1.0 - c.moved_discount * moved)


def imbalance_points(long_share: float | None, cfg: Scoring) -> float | None:
    """Positioning lopsided either way, on |ln(long/short)| of the account ratio."""
    long_share = _finite("long_share", long_share)
    if long_share is None:
        return None
    if not 0.0 <= long_share <= 1.0:
        raise ValueError(f"long_share must be within 0..1, got {long_share!r}")
    c = cfg.imbalance
    eps = 1e-9  # a share of exactly 0 or 1 is maximal imbalance, not a division by zero
    skew = abs(math.log(max(long_share, eps) / max(1.0 - long_share, eps)))
    return c.max_points * ramp(skew, math.log(c.start_ratio), math.log(c.full_ratio))


def liquidation_points(
    liq_usd: float | None, oi_usd: float | None, baseline_usd: float | None, cfg: Scoring
) -> float | None:
    """Liquidations already running: against open interest and against the asset's baseline."""
    liq_usd = _finite("liq_usd", liq_usd)
    oi_usd = _finite("oi_usd", oi_usd)
    baseline_usd = _finite("liq_baseline_usd", baseline_usd)
    if liq_usd is None:
        return None
    if liq_usd < 0:
        raise ValueError(f"liq_usd must not be negative, got {liq_usd!r}")
    if not oi_usd and not baseline_usd:
        return None  # nothing to measure the liquidations against: unknown, not zero
    c = cfg.liquidations
    of_oi = ramp(liq_usd / oi_usd * 1e4, c.start_bp_of_oi, c.full_bp_of_oi) if oi_usd else 0.0
    surge = ramp(liq_usd / baseline_usd, c.start_surge, c.full_surge) if baseline_usd else 0.0
    return c.max_points * max(of_oi, surge)


@dataclass(frozen=True)
class RiskScore:
    risk: float
    funding: float | None
    oi_buildup: float | None
    imbalance: float | None
    liquidations: float | None
    confidence: float  # share of the 100 possible points whose inputs were present

    @property
    def present(self) -> str:
        """Comma-separated names of the components that had data, for the score row."""
        names = ("funding", "oi_buildup", "imbalance", "liquidations")
        return ",".join(n for n in names if getattr(self, n) is not None)


def liquidation_risk(
    *,
    funding_8h: float | None,
    oi_change_pct: float | None,
    price_change_pct: float | None,
    long_share: float | None,
    liq_usd: float | None,
    oi_usd: float | None,
    liq_baseline_usd: float | None,
    cfg: Scoring,
) -> RiskScore:
    """Liquidation Risk 0..100: the sum of the four components that had data."""
    parts = {
        "funding": (funding_points(funding_8h, cfg), cfg.funding.max_points),
        "oi_buildup": (
            oi_buildup_points(oi_change_pct, price_change_pct, cfg),
            cfg.oi_buildup.max_points,
        ),
        "imbalance": (imbalance_points(long_share, cfg), cfg.imbalance.max_points),
        "liquidations": (
            liquidation_points(liq_usd, oi_usd, liq_baseline_usd, cfg),
            cfg.liquidations.max_points,
        ),
    }
    risk = sum(p for p, _ in parts.values() if p is not None)
    confidence = sum(m for p, m in parts.values() if p is not None) / 100.0
    return RiskScore(
        risk=min(100.0, risk),
        confidence=confidence,
        **{name: p for name, (p, _) in parts.items()},
    )


def stablecoin_pressure(
    inflow_usd: float | None, outflow_usd: float | None, baseline_usd: float | None, cfg: Pressure
) -> float | None:
    """-100..+100: net exchange outflow positive (accumulation), net inflow negative.

    The net flow is measured in units of the typical per-minute flow size and compressed
    logarithmically, so one whale transfer moves the score a lot but does not pin it.
    """
    inflow_usd = _finite("inflow_usd", inflow_usd)
    outflow_usd = _finite("outflow_usd", outflow_usd)
    baseline_usd = _finite("flow_baseline_usd", baseline_usd)
    if inflow_usd is None and outflow_usd is None:
        return None
    net = (outflow_usd or 0.0) - (inflow_usd or 0.0)
    scale = max(baseline_usd or 0.0, cfg.min_baseline_usd)
    return math.copysign(100.0 * math.tanh(math.log1p(abs(net) / scale) / cfg.softness), net)


def alert_level(
    risk: float | None, pressure: float | None, confidence: float | None, cfg: Alerts
) -> str | None:
    """CRITICAL / WARNING / INFO per DESIGN.md §3, or None. Thin data never alerts."""
    risk = _finite("risk", risk)
    pressure = _finite("pressure", pressure)
    confidence = _finite("confidence", confidence)
    if risk is None or (confidence or 0.0) < cfg.min_confidence:
        return None
    if pressure is not None:
        if risk > cfg.critical_risk and pressure < cfg.critical_pressure:
            return "CRITICAL"
        if risk > cfg.warning_risk and pressure < cfg.warning_pressure:
            return "WARNING"
    if risk > cfg.info_risk:
        return "INFO"
    return None

"""Score rows of a backtest -> labels, the monitor's and the baselines' figures.

The monitor's risk and alert state are what the job wrote (backtest.batch). A candidate
config (calibration) is scored by the same pure functions the UDFs wrap
(flink_jobs.scoring) on the UDF inputs the job wrote; nothing here re-implements a score.
Baselines (not the monitor, for comparison on the same rows): persistence (the side's
liquidations in the window / OI), funding alone (side-signed), the seed's fixed formula
(30/30/20/20 ramps and levels), random alerts at the monitor's rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backtest import metrics
from flink_jobs import scoring
from flink_jobs.config import Scoring

LEVEL_RANK = {None: 0, "NONE": 0, "INFO": 1, "WARNING": 2, "CRITICAL": 3}


@dataclass(frozen=True)
class LabelSpec:
    top_share: float = 0.03
    min_bp: float = 0.0
    merge_gap: int = 2
    horizons_minutes: tuple[int, ...] = (15, 60)


def horizons(spec: LabelSpec, window_minutes: int) -> list[int]:
    """Horizons in windows: each at least one window, duplicates dropped."""
    return sorted({max(1, math.ceil(h / window_minutes)) for h in spec.horizons_minutes})


# --- baselines -------------------------------------------------------------------------
def _ramp(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.clip((x - a) / (b - a), 0, 1)


def seed_formula(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The original fixed formula (seed commit): funding 30, OI change 30, long/short 20,
    recent liquidations 20, either direction; (risk, level rank) with CRITICAL risk > 70
    and pressure < -30, WARNING risk > 50 and pressure < 0, INFO risk > 30."""
    f = 30 * _ramp(np.abs(df["funding_8h"].to_numpy()), 0.0001, 0.0006)
    moved = _ramp(np.abs(df["price_change_pct"].to_numpy()), 0.3, 2.0)
    o = 30 * _ramp(df["oi_change_pct"].to_numpy(), 0.5, 5.0) * (1 - 0.75 * moved)
    ls = df["long_share"].clip(1e-9, 1 - 1e-9).to_numpy()
    imb = 20 * _ramp(np.abs(np.log(ls / (1 - ls))), math.log(1.2), math.log(3.0))
    liq = (df["liq_long_usd"].fillna(0) + df["liq_short_usd"].fillna(0)).to_numpy()
    oi = df["oi_usd"].to_numpy()
    base = df.groupby("base")["liq_total"].transform(
        lambda s: s.rolling(60, min_periods=1).mean()).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        of_oi = np.where(oi > 0, _ramp(liq / oi * 1e4, 0.5, 5), 0)
        surge = np.where(base > 0, _ramp(liq / base, 3, 15), 0)
    lq = 20 * np.maximum(np.nan_to_num(of_oi), np.nan_to_num(surge))
    risk = np.minimum(100, np.nansum(np.vstack([f, o, imb, lq]), axis=0))
    p = df["pressure_value"].to_numpy()
    level = np.where((risk > 70) & (p < -30), 3,
                     np.where((risk > 50) & (p < 0), 2, np.where(risk > 30, 1, 0)))
    return risk, level


def side_scores(df: pd.DataFrame, side: str) -> dict[str, np.ndarray]:
    """Each baseline's score for one side (higher = more risk of that side's cascade)."""
    liq = df[f"liq_{side}_usd"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        persistence = np.where(df["oi_usd"] > 0, liq / df["oi_usd"].to_numpy(), np.nan)
    sign = 1 if side == "long" else -1
    return {"persistence": persistence, "funding": sign * df["funding_8h"].to_numpy(),
            "seed_formula": df["seed_risk"].to_numpy()}


# --- the rows ----------------------------------------------------------------------------
def prepare(inputs: pd.DataFrame, scores: pd.DataFrame, window_minutes: int) -> pd.DataFrame:
    """One row per asset and window: the UDF inputs, the job's all-venue score and level,
    the previous window's OI (labels), the seed formula (baseline)."""
    df = inputs.merge(scores, on=["base", "window_start"], how="inner", suffixes=("", "_s"))
    df = df.sort_values(["base", "window_start"]).reset_index(drop=True)
    df["oi_prev"] = df.groupby("base")["oi_usd"].shift(1)
    df["liq_total"] = df["liq_long_usd"].fillna(0) + df["liq_short_usd"].fillna(0)
    df["seed_risk"], df["seed_level"] = seed_formula(df)
    df["state"] = df["level"].map(lambda v: LEVEL_RANK.get(v, 0))
    return df


@dataclass
class Evaluation:
    """Every figure of one predictor over a set of rows."""

    name: str
    auc: dict = field(default_factory=dict)          # (group, side, H) -> roc/pr
    levels: dict = field(default_factory=dict)       # (group, side, H, level) -> figures
    time_share: dict = field(default_factory=dict)   # level -> share of asset-time


def _series(df: pd.DataFrame, side: str, spec: LabelSpec):
    """Per asset: (frame, episodes) for one side."""
    for base, g in df.groupby("base", sort=True):
        flags = metrics.cascade_windows(g[f"liq_{side}_usd"].fillna(0).to_numpy(),
                                        g["oi_prev"].to_numpy(), spec.top_share, spec.min_bp)
        yield base, g, metrics.episodes(flags, spec.merge_gap)


def evaluate(df: pd.DataFrame, spec: LabelSpec, window_minutes: int,
             predictors: dict[str, dict[str, str]], states: dict[str, str],
             seed: int = 7) -> dict[str, Evaluation]:
    """predictors: name -> {side: column with that side's score}; states: name -> column
    with the alert-state rank (0..3) of that predictor (the random baseline is added)."""
    rng = np.random.default_rng(seed)
    out = {name: Evaluation(name) for name in [*predictors, *states, "random"]}
    week = 7 * 1440 / window_minutes
    day = 1440 / window_minutes
    for h in horizons(spec, window_minutes):
        for side in ("long", "short"):
            pooled: dict[str, list] = {name: [[], []] for name in predictors}
            lv: dict[tuple, list] = {}
            for base, g, eps in _series(df, side, spec):
                y = metrics.target(len(g), eps, h)
                for name, cols in predictors.items():
                    s = g[cols[side]].to_numpy(dtype=float)
                    pooled[name][0].append(y)
                    pooled[name][1].append(s)
                    out[name].auc[(base, side, h)] = metrics.auc(y, s)
                for name, col in {**states, "random": states.get("monitor")}.items():
                    if col is None:
                        continue
                    st = g[col].to_numpy()
                    if name == "random":
                        st = metrics.random_alerts(st, rng)
                    for level, rank in (("WARNING", 2), ("CRITICAL", 3)):
                        r = metrics.level_result(st >= rank, eps, h)
                        false_crit = (r.alerts - r.hits) if rank == 3 else None
                        acc = lv.setdefault((name, level), [])
                        acc.append((base, r, false_crit, len(g)))
            for name, (ys, ss) in pooled.items():
                out[name].auc[("all", side, h)] = metrics.auc(np.concatenate(ys),
                                                              np.concatenate(ss))
            for (name, level), items in lv.items():
                for group in ["all", *sorted({b for b, *_ in items})]:
                    sel = [it for it in items if group in ("all", it[0])]
                    eps_n = sum(r.episodes for _, r, _, _ in sel)
                    alerts = sum(r.alerts for _, r, _, _ in sel)
                    hits = sum(r.hits for _, r, _, _ in sel)
                    leads = [x for _, r, _, _ in sel for x in r.leads]
                    rows = sum(n for *_, n in sel)
                    fig = {"episodes": eps_n,
                           "recall": sum(r.warned for _, r, _, _ in sel) / eps_n if eps_n else None,
                           "detected_only": sum(r.detected for _, r, _, _ in sel),
                           "precision": hits / alerts if alerts else None,
                           "alerts": alerts,
                           "alerts_per_asset_day": alerts / (rows / day) if rows else None,
                           "lead_minutes_p10_p50_p90": [
                               None if q is None else q * window_minutes
                               for q in metrics.quantiles(leads)]}
                    if level == "CRITICAL":
                        fc = sum(f for _, _, f, _ in sel)
                        fig["false_critical_per_asset_week"] = fc / (rows / week) if rows else None
                    out[name].levels[(group, side, h, level)] = fig
    for name, col in states.items():
        st = df[col].to_numpy()
        out[name].time_share = {lv: float(np.mean(st == r)) for lv, r in
                                (("INFO", 1), ("WARNING", 2), ("CRITICAL", 3))}
    return out


# --- scoring a candidate config on the same rows ----------------------------------------
def rescore(df: pd.DataFrame, cfg: Scoring, window_minutes: int) -> pd.DataFrame:
    """Risk, side risks and alert state of every row under `cfg`, by flink_jobs.scoring
    (the functions the job's UDFs wrap), from the UDF inputs the job wrote."""
    frame = scoring.score_frame([df[c].to_numpy(dtype=float) for c in scoring.RISK_INPUTS], cfg)
    out = pd.DataFrame({"long_risk": frame["long_risk"].to_numpy(),
                        "short_risk": frame["short_risk"].to_numpy(),
                        "risk": frame["risk"].to_numpy(),
                        "confidence": frame["confidence"].to_numpy()}, index=df.index)
    windows = (df["window_start"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(
        minutes=window_minutes)
    state = np.zeros(len(df), dtype=int)
    for _, idx in df.groupby("base").indices.items():
        st = scoring.alert_states(windows.iloc[idx].tolist(), out["risk"].iloc[idx].tolist(),
                                  out["confidence"].iloc[idx].tolist(), cfg.alerts)
        state[idx] = [LEVEL_RANK[s] for s in st]
    out["state"] = state
    return out


def component_z(df: pd.DataFrame, cfg: Scoring) -> dict[str, pd.DataFrame]:
    """Each component's z-score per side on every row (backtest per-component table)."""
    return scoring.side_components({c: df[c].to_numpy(dtype=float)
                                    for c in scoring.RISK_INPUTS}, cfg)

"""Synthetic markets where the answer is known: per-asset aggregates (the CSV of
backtest.csv_import) with planted events, for the backtest's own tests and figures.

    python -m backtest.scenario --bar 1d --days 1500 --out scen/daily.csv
    python -m backtest.scenario --bar 1m --days 3 --out scen/minute.csv

What it plants, per asset, at random times (a fixed seed gives the same market):
- leverage build-ups: open interest rising, funding drifting to the crowded side, accounts
  leaning that way; about half end in a cascade of that side, the rest fizzle out;
- cascades: a burst of the side's liquidations (heavy-tailed size), price moving against
  the side, open interest flushed, aftershocks that decay (liquidations cluster);
- cascades WITHOUT a build-up (a third of them), and short squeezes (the mirror);
- background liquidations that excite themselves (a Hawkes-like intensity), so quiet and
  busy stretches alternate, and volatility that clusters;
- stretches without stablecoin data, and stablecoin flows whose only effect is a small
  positive drift of price after net inflows (buying power), not a cascade signal.
Precursors are noisy on purpose: each build-up's funding, OI and accounts signal is scaled
by a random strength, sometimes zero. Assets differ by size (open interest $50 M to $20 B)
and activity. Nothing here reads the scoring config: the market does not know the score.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from backtest.csv_import import BARS

ASSETS = (("BTC", 2.0e10, 1.0), ("ETH", 8.0e9, 1.1), ("SOL", 2.0e9, 1.4),
          ("DOGE", 6.0e8, 1.6), ("PEPE", 1.5e8, 2.0), ("TINY", 5.0e7, 2.4))


@dataclass(frozen=True)
class Planted:
    asset: str
    side: str          # 'long' cascade or 'short' squeeze
    kind: str          # 'cascade', 'cascade_no_buildup', 'fizzle'
    start: pd.Timestamp  # the cascade's first bar, or the fizzled build-up's end


def generate(bar_minutes: int, days: float, seed: int = 11, n_assets: int = 6,
             start: str = "2022-01-01") -> tuple[pd.DataFrame, list[Planted]]:
    """(rows of the CSV, planted events)."""
    rng = np.random.default_rng(seed)
    n = int(days * 1440 / bar_minutes)
    t0 = pd.Timestamp(start, tz="UTC")
    times = t0 + pd.to_timedelta(np.arange(n) * bar_minutes, unit="min")
    per_day = 1440 / bar_minutes
    scale = math.sqrt(bar_minutes / 1440)  # price/OI moves per bar, as a share of a day's
    frames, planted = [], []
    # Market-wide stablecoin flows, with gaps (no data) of random length.
    flow_scale = 4e8 * bar_minutes / 1440
    inflow = rng.gamma(2.0, flow_scale / 2, n)
    outflow = rng.gamma(2.0, flow_scale / 2, n)
    gap = np.zeros(n, dtype=bool)
    for _ in range(max(1, int(days / 120))):
        a = rng.integers(0, n)
        gap[a: a + int(rng.uniform(10, 40) * per_day / 4)] = True
    net_in = (inflow - outflow) / flow_scale
    for name, oi0, activity in ASSETS[:n_assets]:
        lev = np.zeros(n)           # crowding: + long-crowded, - short-crowded
        cascade = np.zeros(n)       # +: long cascade intensity, -: short squeeze
        n_events = max(2, int(days / (45 if bar_minutes >= 60 else 0.5) * activity))
        for _ in range(n_events):
            side = +1 if rng.random() < 0.6 else -1
            at = int(rng.integers(min(int(3 * per_day), n // 5), n - 2))
            kind = rng.choice(["cascade", "cascade_no_buildup", "fizzle"], p=[0.4, 0.3, 0.3])
            strength = rng.choice([0.0, 0.5, 1.0, 1.5], p=[0.2, 0.3, 0.3, 0.2])
            if kind != "cascade_no_buildup":
                length = int(rng.uniform(3, 12) * per_day / (8 if bar_minutes < 60 else 1))
                length = max(3, min(length, at))
                lev[at - length: at] += side * strength * np.linspace(0, 1, length)
            if kind != "fizzle":
                size = min(8.0, rng.pareto(1.8) + 1.0)
                decay = np.exp(-np.arange(min(n - at, int(4 * per_day / 4) + 3)) / max(
                    1.0, per_day / 12 if bar_minutes < 60 else 1.2))
                cascade[at: at + len(decay)] += side * size * decay
            planted.append(Planted(name, "long" if side > 0 else "short", str(kind),
                                   times[at]))
        # leverage decays after its build-up (a fizzle unwinds slowly)
        lev_s = pd.Series(lev).ewm(halflife=max(1.0, per_day / 6 if bar_minutes < 60 else 2),
                                   adjust=False).mean().to_numpy()
        vol_day = 0.025 * activity
        vol = np.exp(pd.Series(rng.normal(0, 0.35, n)).ewm(halflife=per_day * 3 / 4 + 1)
                     .mean().to_numpy() * 2) * vol_day * scale
        ret = rng.standard_t(4, n) / math.sqrt(2) * vol
        ret -= 0.025 * np.tanh(cascade) * scale * 4          # cascades move price against
        ret += 0.002 * scale * np.concatenate([[0], np.nan_to_num(net_in[:-1])])  # buying power
        price = 100.0 * activity * np.exp(np.cumsum(ret))
        oi_growth = 0.02 * scale * lev_s + rng.normal(0, 0.01 * scale, n) \
            - 0.08 * np.abs(np.tanh(cascade)) * scale * 3
        # log OI reverts slowly to the asset's size (half-life ~20 days), so it stays put
        keep = 0.5 ** (bar_minutes / 1440 / 20)
        oi = oi0 * np.exp(lfilter([1.0], [1.0, -keep], oi_growth))
        funding = 0.0001 + 0.0004 * np.tanh(lev_s) + rng.normal(0, 0.00006, n)
        accounts = np.exp(0.15 + 0.6 * np.tanh(lev_s) + rng.normal(0, 0.08, n))
        top = np.exp(0.05 + 0.3 * np.tanh(lev_s) + rng.normal(0, 0.12, n))
        # Background liquidations: a self-exciting intensity in bp of OI per bar.
        base_bp = 1.5 * activity * bar_minutes / 1440 * 10
        liq = {+1: np.zeros(n), -1: np.zeros(n)}
        excite = {+1: 0.0, -1: 0.0}
        for i in range(n):
            for side in (+1, -1):
                drive = max(0.0, -side * ret[i] / max(vol[i], 1e-12))  # moves against the side
                lam = base_bp * (1 + 0.8 * drive + excite[side]) * (
                    1 + 0.5 * max(0.0, side * lev_s[i]))
                shock = max(0.0, side * cascade[i]) * 15 * base_bp * (1 + max(0.0, side * lev_s[i]))
                bp = lam * rng.lognormal(-0.5, 1.0) + shock * rng.lognormal(0, 0.5)
                if rng.random() < math.exp(-lam * 3):   # quiet bars of a small asset
                    bp = shock * rng.lognormal(0, 0.5)
                liq[side][i] = bp * oi[i] / 1e4
                excite[side] = 0.7 * excite[side] + 0.3 * bp / max(base_bp, 1e-12) * 0.2
        frames.append(pd.DataFrame({
            "time": times, "asset": name, "long_liq_usd": liq[+1], "short_liq_usd": liq[-1],
            "oi_usd": oi, "funding_8h": funding, "long_short_ratio": accounts,
            "top_long_short_ratio": top, "price": price,
            "inflow_usd": np.where(gap, np.nan, inflow / n_assets),
            "outflow_usd": np.where(gap, np.nan, outflow / n_assets)}))
    rows = pd.concat(frames, ignore_index=True).sort_values(["time", "asset"], kind="stable")
    return rows, planted


def write_csv(rows: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = rows.copy()
    out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False, float_format="%.10g")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m backtest.scenario", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bar", choices=sorted(BARS, key=BARS.get), default="1d")
    ap.add_argument("--days", type=float, default=1500)
    ap.add_argument("--assets", type=int, default=6, choices=range(1, len(ASSETS) + 1))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, required=True, help="CSV for backtest.csv_import")
    args = ap.parse_args(argv)
    rows, planted = generate(BARS[args.bar], args.days, args.seed, args.assets)
    write_csv(rows, args.out)
    events = pd.DataFrame([p.__dict__ for p in planted])
    events.to_csv(args.out.with_suffix(".planted.csv"), index=False)
    print(f"{args.out}: {len(rows):,} rows; planted {len(planted)} events "
          f"({events['kind'].value_counts().to_dict()}) -> {args.out.with_suffix('.planted.csv')}")


if __name__ == "__main__":
    main()

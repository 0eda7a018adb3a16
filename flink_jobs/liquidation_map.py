"""The liquidation-level map: where positions opened over the last hours would be force-closed.

Pure functions, no Flink import: map_udfs.py wraps `levels_text` for the job, the backtest
and the tests call `asset_levels` directly. docs/liquidation-map.md states the model, its
parameters and its limits; config/liquidation_map.yaml holds every number.

The model, per asset and minute T, from the minute rows of the last `horizon_minutes`:

1. Positions opened: per venue, an increase of open interest (in coins: oi_usd / price)
   between two reports at most `max_oi_gap_minutes` apart is new positions at that
   minute's average price, one long and one short per contract, so N USD of each side.
2. Their liquidation prices: each side's N is split by the leverage mix; with the venue's
   maintenance-margin rate m for the assumed position size (its tier) and isolated margin,
   a long entered at P with leverage L is liquidated at P (1 - 1/L) / (1 - m), a short at
   P (1 + 1/L) / (1 + m). A leverage above the tier's maximum is capped at that maximum.
3. What is left at T: a level is cleared once a later minute's low (long) or high (short)
   on that venue reaches it; notional decays with a half-life; an OI decrease beyond the
   minute's liquidations closes that share of every older position on the venue.
4. What is written: the surviving levels summed into log-scale price buckets
   (`bucket_pct` wide), within `max_distance_pct` of the price, at least `min_notional_usd`,
   the `top_buckets_per_side` largest per side.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from lcm.paths import CONFIG_DIR
from lcm.settings import Strict, load_yaml_model

log = logging.getLogger(__name__)
DEFAULT_CONFIG = CONFIG_DIR / "liquidation_map.yaml"
DEFAULT_KEY = "default"


# --- configuration ------------------------------------------------------------------------
class Window(Strict):
    horizon_minutes: int = Field(ge=5, le=10080)
    half_life_minutes: float = Field(gt=0, le=100000)
    max_oi_gap_minutes: int = Field(ge=1, le=1440)


class Grid(Strict):
    bucket_pct: float = Field(gt=0, le=10)
    max_distance_pct: float = Field(gt=0, le=90)
    top_buckets_per_side: int = Field(ge=1, le=500)
    min_notional_usd: float = Field(ge=0)


class Tier(Strict):
    up_to_usd: float = Field(gt=0)
    max_leverage: float = Field(ge=1, le=1000)
    mmr: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _margin_below_initial(self) -> Tier:
        if self.mmr >= 1 / self.max_leverage:
            raise ValueError(f"mmr {self.mmr} must be below the initial margin "
                             f"1/max_leverage = {1 / self.max_leverage:.6g}, or a position "
                             "would be liquidated when opened")
        return self


class Venue(Strict):
    source: str = Field(min_length=10)
    tiers: dict[str, list[Tier]]

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: dict[str, list[Tier]]) -> dict[str, list[Tier]]:
        if DEFAULT_KEY not in tiers:
            raise ValueError(f"needs a '{DEFAULT_KEY}' entry for assets not listed")
        for asset, ladder in tiers.items():
            if not ladder:
                raise ValueError(f"{asset}: no tier")
            bounds = [t.up_to_usd for t in ladder]
            if bounds != sorted(set(bounds)):
                raise ValueError(f"{asset}: up_to_usd must increase from tier to tier")
        return tiers


class MapConfig(Strict):
    window: Window
    grid: Grid
    position_notional_usd: float = Field(gt=0)
    leverage_mix: dict[float, float]
    venues: dict[str, Venue]

    @field_validator("leverage_mix")
    @classmethod
    def _mix(cls, mix: dict[float, float]) -> dict[float, float]:
        if not mix:
            raise ValueError("needs at least one leverage")
        for lev, share in mix.items():
            if not 1 <= lev <= 1000:
                raise ValueError(f"leverage {lev:g} is outside 1..1000")
            if share < 0:
                raise ValueError(f"share of {lev:g}x is negative")
        total = sum(mix.values())
        if abs(total - 1) > 1e-6:
            raise ValueError(f"shares must sum to 1, not {total:g}")
        return mix

    @field_validator("venues")
    @classmethod
    def _default_venue(cls, venues: dict[str, Venue]) -> dict[str, Venue]:
        if DEFAULT_KEY not in venues:
            raise ValueError(f"needs a '{DEFAULT_KEY}' venue for venues not listed")
        return venues

    def tier(self, venue: str, asset: str) -> Tier:
        """The margin tier a position of position_notional_usd falls in on this venue."""
        v = self.venues.get(venue) or self.venues[DEFAULT_KEY]
        ladder = v.tiers.get(asset.upper()) or v.tiers[DEFAULT_KEY]
        for t in ladder:
            if self.position_notional_usd <= t.up_to_usd:
                return t
        return ladder[-1]

    def leverage_split(self, venue: str, asset: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(leverages, shares, mmr) on this venue for this asset, leverage capped at the
        tier's maximum (the shares of capped leverages are merged)."""
        t = self.tier(venue, asset)
        merged: dict[float, float] = {}
        for lev, share in self.leverage_mix.items():
            capped = min(lev, t.max_leverage)
            merged[capped] = merged.get(capped, 0.0) + share
        levs = np.array(sorted(merged))
        return levs, np.array([merged[x] for x in levs]), t.mmr


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path or os.environ.get("LCM_LIQUIDATION_MAP_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> MapConfig:
    """config/liquidation_map.yaml (or $LCM_LIQUIDATION_MAP_CONFIG), validated: a bad value
    fails at job start naming the file and the key."""
    return load_yaml_model(config_path(path), MapConfig, "liquidation map config")


# --- liquidation prices -------------------------------------------------------------------
def long_liquidation_price(entry: np.ndarray | float, leverage: np.ndarray | float,
                           mmr: float) -> np.ndarray:
    """Isolated margin, linear contract: equity N/L - Q (P_e - P) falls to m Q P."""
    return np.asarray(entry) * (1 - 1 / np.asarray(leverage)) / (1 - mmr)


def short_liquidation_price(entry: np.ndarray | float, leverage: np.ndarray | float,
                            mmr: float) -> np.ndarray:
    """Isolated margin, linear contract: equity N/L - Q (P - P_e) falls to m Q P."""
    return np.asarray(entry) * (1 + 1 / np.asarray(leverage)) / (1 + mmr)


# --- one asset ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VenueSeries:
    """One venue's minute rows of one asset, oldest first; NaN = no value that minute."""

    venue: str
    minutes: np.ndarray  # minutes since the epoch (int)
    price: np.ndarray  # average price of the minute
    low: np.ndarray
    high: np.ndarray
    oi_usd: np.ndarray
    liq_usd: np.ndarray  # notional liquidated in the minute, both sides


@dataclass(frozen=True)
class Level:
    side: str  # 'long': longs liquidated if price falls to the bucket; 'short': rises to it
    bucket: int  # index on the log grid: the bucket is [(1+b)^i, (1+b)^(i+1))
    price_low: float
    price_high: float
    notional_usd: float


def bucket_of(price: np.ndarray | float, bucket_pct: float) -> np.ndarray:
    return np.floor(np.log(price) / math.log1p(bucket_pct / 100)).astype(np.int64)


def bucket_bounds(bucket: int, bucket_pct: float) -> tuple[float, float]:
    step = math.log1p(bucket_pct / 100)
    return math.exp(bucket * step), math.exp((bucket + 1) * step)


def _suffix_after(values: np.ndarray, fill: float, op: np.ufunc) -> np.ndarray:
    """out[i] = op over values[i+1:], `fill` where that is empty; NaN counts as fill."""
    v = np.where(np.isnan(values), fill, values)
    acc = op.accumulate(v[::-1])[::-1]
    return np.append(acc[1:], fill)


def _venue_levels(s: VenueSeries, now: int, asset: str, low_all: np.ndarray,
                  high_all: np.ndarray, cfg: MapConfig) -> tuple[list[np.ndarray], ...]:
    """(sides, prices, notionals) of the levels still open at minute `now` on one venue."""
    w = cfg.window
    coins = s.oi_usd / s.price
    known = np.flatnonzero(np.isfinite(coins) & (coins >= 0))
    if len(known) < 2:
        return [], [], []
    cur, prev = known[1:], known[:-1]
    close_gap = (s.minutes[cur] - s.minutes[prev]) <= w.max_oi_gap_minutes
    delta = np.where(close_gap, coins[cur] - coins[prev], 0.0)
    opened_usd = np.clip(delta, 0, None) * s.price[cur]
    # An OI decrease beyond what was liquidated closes that share of every older position.
    liq = np.nan_to_num(s.liq_usd[cur])
    closed = np.clip(-delta * s.price[cur] - liq, 0, None)
    held = coins[prev] * s.price[cur]
    keep = np.where(held > 0, 1 - np.clip(closed / np.where(held > 0, held, 1), 0, 1), 1.0)
    # keep_after[k]: the share of a position opened at cur[k] still held at `now`.
    keep_after = np.append(np.cumprod(keep[::-1])[::-1][1:], 1.0)
    age = now - s.minutes[cur]
    weight = opened_usd * keep_after * np.exp2(-age / w.half_life_minutes)
    live = weight > 0
    if not live.any():
        return [], [], []
    cur, weight = cur[live], weight[live]
    # The price path after each opening: this venue's low/high, the asset's where missing.
    low = np.where(np.isnan(s.low), low_all, s.low)
    high = np.where(np.isnan(s.high), high_all, s.high)
    min_after = _suffix_after(low, math.inf, np.minimum)[cur]
    max_after = _suffix_after(high, -math.inf, np.maximum)[cur]
    levs, shares, mmr = cfg.leverage_split(s.venue, asset)
    entry = s.price[cur][:, None]
    notional = (weight[:, None] * shares[None, :]).ravel()
    long_px = long_liquidation_price(entry, levs[None, :], mmr).ravel()
    short_px = short_liquidation_price(entry, levs[None, :], mmr).ravel()
    long_alive = long_px < np.repeat(min_after, len(levs))
    short_alive = short_px > np.repeat(max_after, len(levs))
    return ([np.full(long_alive.sum(), 0), np.full(short_alive.sum(), 1)],
            [long_px[long_alive], short_px[short_alive]],
            [notional[long_alive], notional[short_alive]])


def asset_levels(series: Sequence[VenueSeries], asset: str, cfg: MapConfig) -> list[Level]:
    """The map of one asset at the last minute of its series: the largest buckets per side.

    Every series must cover the same minutes (the asset's minute rows, NaN where a venue
    had nothing); the last is `now`."""
    if not series or len(series[0].minutes) == 0:
        return []
    minutes = series[0].minutes
    now = int(minutes[-1])
    recent = minutes > now - cfg.window.horizon_minutes
    series = [VenueSeries(s.venue, *(getattr(s, f)[recent] for f in
                                     ("minutes", "price", "low", "high", "oi_usd", "liq_usd")))
              for s in series]
    with np.errstate(all="ignore"):  # all-NaN minutes are expected (a venue skipped one)
        low_all = np.nanmin(np.vstack([s.low for s in series]), axis=0)
        high_all = np.nanmax(np.vstack([s.high for s in series]), axis=0)
        last_prices = [s.price[-1] for s in series if np.isfinite(s.price[-1])]
    if not last_prices:  # no venue priced the current minute: the latest price seen
        latest = [s.price[np.isfinite(s.price)] for s in series]
        last_prices = [p[-1] for p in latest if len(p)]
    if not last_prices:
        return []
    price_now = float(np.mean(last_prices))
    sides, prices, notionals = [], [], []
    for s in series:
        si, pr, no = _venue_levels(s, now, asset, low_all, high_all, cfg)
        sides += si
        prices += pr
        notionals += no
    if not prices:
        return []
    side = np.concatenate(sides)
    price = np.concatenate(prices)
    notional = np.concatenate(notionals)
    g = cfg.grid
    near = (np.abs(price / price_now - 1) <= g.max_distance_pct / 100) & (price > 0)
    side, price, notional = side[near], price[near], notional[near]
    bucket = bucket_of(price, g.bucket_pct)
    out: list[Level] = []
    for code, name in ((0, "long"), (1, "short")):
        mask = side == code
        if not mask.any():
            continue
        keys, inverse = np.unique(bucket[mask], return_inverse=True)
        sums = np.bincount(inverse, weights=notional[mask])
        order = np.argsort(-sums, kind="stable")[:g.top_buckets_per_side]
        for k in order:
            if sums[k] < g.min_notional_usd or sums[k] <= 0:
                continue
            low, high = bucket_bounds(int(keys[k]), g.bucket_pct)
            out.append(Level(name, int(keys[k]), low, high, float(sums[k])))
    return out


# --- the packed minute rows the job hands over -------------------------------------------
# One asset-minute row carries every venue's minute: "venue,price,low,high,oi_usd,liq_usd"
# joined by '|' (sql/flink/54_liquidation_map_minutes.sql builds it); an empty field is NULL.
VENUE_SEP, FIELD_SEP = "|", ","
FIELDS = ("price", "low", "high", "oi_usd", "liq_usd")


def parse_minutes(minutes: Sequence[int], packed: Sequence[str | None],
                  asset: str = "?") -> list[VenueSeries]:
    """The asset's minute rows (packed as the job packs them) as one series per venue.

    pandas' C reader parses the window's entries at once (half the time of a Python loop
    over 360 rows of 4 venues, measured); an entry without exactly six fields, or with a
    quote or line break in it, is left out and counted. A value that is not a number,
    negative or not finite is missing."""
    n = len(minutes)
    lines: list[str] = []
    bad: list[str] = []
    for i, text in enumerate(packed):
        for entry in (text or "").split(VENUE_SEP):
            if not entry:
                continue
            if entry.count(FIELD_SEP) != len(FIELDS) or any(c in entry for c in '"\n\r'):
                bad.append(f"minute {minutes[i]}: {entry[:80]!r} "
                           f"({entry.count(FIELD_SEP) + 1} fields, expected {1 + len(FIELDS)})")
                continue
            lines.append(f"{i}{FIELD_SEP}{entry}")
    if bad:  # one line per call, not per entry: the window is replayed every minute
        log.warning("liquidation map: %s: %d unreadable venue entries left out, first: %s",
                    asset, len(bad), bad[0])
    if not lines:
        return []
    frame = pd.read_csv(io.StringIO("\n".join(lines)), header=None,
                        names=["row", "venue", *FIELDS], dtype={"venue": str},
                        keep_default_na=False, na_values=[""])
    rows = frame["row"].to_numpy()
    m = np.asarray(minutes, dtype=np.int64)
    out = []
    for venue, idx in frame.groupby("venue", sort=True).indices.items():
        cols = []
        for f in FIELDS:
            values = pd.to_numeric(frame[f].iloc[idx], errors="coerce").to_numpy(float)
            values[~np.isfinite(values) | (values < 0)] = math.nan
            col = np.full(n, math.nan)
            col[rows[idx]] = values
            cols.append(col)
        out.append(VenueSeries(str(venue), m, *cols))
    return out


def format_levels(levels: Sequence[Level]) -> str:
    """What the UDAF returns: 'side:bucket:price_low:price_high:notional' joined by ';'
    (sql/flink/55_liquidation_map.sql splits it into rows)."""
    return ";".join(f"{lv.side}:{lv.bucket}:{lv.price_low!r}:{lv.price_high!r}:"
                    f"{lv.notional_usd!r}" for lv in levels)


def levels_text(minutes: Sequence[int], packed: Sequence[str | None], asset: str,
                cfg: MapConfig) -> str:
    """The job's entry point: an asset's window of minute rows in, its map now out."""
    order = np.argsort(np.asarray(minutes, dtype=np.int64), kind="stable")
    minutes = [int(minutes[i]) for i in order]
    packed = [packed[i] for i in order]
    return format_levels(asset_levels(parse_minutes(minutes, packed, asset), asset, cfg))

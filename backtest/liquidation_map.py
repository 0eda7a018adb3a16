"""How well does the liquidation-level map say where liquidations happen?

    python -m backtest.liquidation_map                       # the sample and 8 scenarios
    python -m backtest.liquidation_map --recording rec/*.jsonl.gz --scenarios 0

For every minute u with liquidations, the map the job had written for the minute before
(u - 1, so nothing of minute u is known to it) gives each side's band: the price buckets it
wrote. A liquidation is inside the band when its price's bucket is one of them, or within
`--tolerance` buckets (venues report the fill or bankruptcy price, a little beyond the
trigger). The figure is the share of liquidated notional inside the bands, against the same
share for bands of the same number of buckets drawn at random on the same side of the price,
within the map's max_distance_pct (mean and 5-95 % range over `--draws` draws).

The minute rows are computed here the way sql/flink/54 computes them (average, low and high
price, average open interest, deduplicated liquidations per venue and minute), and the map
by the job's own function (flink_jobs.liquidation_map), so this is the job's map;
tests/test_liquidation_map_job.py checks that it equals what the job wrote for the sample.

Scenarios are generated from the message contract (ingest/contract.py): a market whose
positions are opened with a leverage mix unknown to the map, closed at random, and
liquidated when their venue's price path crosses their liquidation price (which feeds
back into the price), with the feeds' real sampling (Binance and OKX: at most one
liquidation per symbol and second). docs/liquidation-map.md says what they can and cannot
show.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flink_jobs import liquidation_map as lm
from ingest import contract
from ingest.replay import iter_lines, parse_envelope
from lcm.topics import LIQUIDATIONS, OPEN_INTEREST, PRICES

SAMPLE = Path(contract.__file__).resolve().parent / "samples" / "sample.jsonl"
MINUTE_MS = 60_000


# --- minute rows, as sql/flink/54 builds them ------------------------------------------------
@dataclass
class _VenueMinute:
    prices: list[float] = field(default_factory=list)
    ois: list[float] = field(default_factory=list)
    liq: dict[str, float] = field(default_factory=dict)  # dedup key -> notional


@dataclass(frozen=True)
class Liquidation:
    minute: int
    venue: str
    base: str
    side: str
    price: float
    notional_usd: float


@dataclass
class History:
    """Per asset: its minutes (epoch minutes, sorted) and one series per venue over them."""

    series: dict[str, list[lm.VenueSeries]]
    liquidations: list[Liquidation]


def load_records(paths: Iterable[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(topic, message) of every well-formed line of replay files (plain or .gz)."""
    for path in paths:
        for _, raw in iter_lines(path):
            try:
                yield parse_envelope(raw)
            except ValueError:
                continue  # replay dead-letters it; the job never sees it


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def history(records: Iterable[tuple[str, dict[str, Any]]]) -> History:
    """The job's minute rows of the map (54) and the liquidations, from messages."""
    cells: dict[tuple[str, str, int], _VenueMinute] = defaultdict(_VenueMinute)
    liquidations: dict[tuple[int, str], Liquidation] = {}
    for topic, v in records:
        venue, base, ts = v.get("exchange"), v.get("base"), v.get("ts")
        if not isinstance(venue, str) or not isinstance(base, str) or not isinstance(ts, int):
            continue
        base, minute = base.upper(), ts // MINUTE_MS
        if topic == PRICES:
            price = _number(v.get("price"))
            if price is not None and price > 0:
                cells[(base, venue, minute)].prices.append(price)
        elif topic == OPEN_INTEREST:
            oi = _number(v.get("oi_usd"))
            if oi is not None and oi >= 0:
                cells[(base, venue, minute)].ois.append(oi)
        elif topic == LIQUIDATIONS:
            notional, side = _number(v.get("notional_usd")), str(v.get("side", "")).lower()
            if notional is None or notional < 0 or side not in ("long", "short"):
                continue
            key = f"{venue}:{v['id']}" if v.get("id") is not None else (
                f"{venue}:{v.get('symbol')}:{ts}:{side}:{notional}")
            cells[(base, venue, minute)].liq[key] = notional
            price = _number(v.get("price"))
            if price is not None and price > 0:
                liquidations[(minute, key)] = Liquidation(minute, venue, base, side, price,
                                                          notional)
    by_asset: dict[str, dict[int, dict[str, _VenueMinute]]] = defaultdict(dict)
    for (base, venue, minute), cell in cells.items():
        if cell.prices or cell.ois:  # the job drops venue minutes without price and OI
            by_asset[base].setdefault(minute, {})[venue] = cell
    series: dict[str, list[lm.VenueSeries]] = {}
    for base, minutes in by_asset.items():
        order = sorted(minutes)
        venues = sorted({v for m in order for v in minutes[m]})
        out = []
        for venue in venues:
            cols = {k: np.full(len(order), math.nan) for k in lm.FIELDS}
            for i, m in enumerate(order):
                cell = minutes[m].get(venue)
                if cell is None:
                    continue
                if cell.prices:
                    cols["price"][i] = sum(cell.prices) / len(cell.prices)
                    cols["low"][i], cols["high"][i] = min(cell.prices), max(cell.prices)
                if cell.ois:
                    cols["oi_usd"][i] = sum(cell.ois) / len(cell.ois)
                cols["liq_usd"][i] = sum(cell.liq.values())
            out.append(lm.VenueSeries(venue, np.array(order, dtype=np.int64),
                                      *(cols[k] for k in lm.FIELDS)))
        series[base] = out
    return History(series, sorted(liquidations.values(), key=lambda x: (x.minute, x.base)))


def maps(h: History, cfg: lm.MapConfig) -> dict[tuple[str, int], list[lm.Level]]:
    """(asset, minute) -> the map the job writes for that minute: the asset's last
    horizon_minutes rows (sql/flink/55's ROWS window) up to and including it."""
    rows = max(1, cfg.window.horizon_minutes)
    out = {}
    for base, series in h.series.items():
        minutes = series[0].minutes
        for i in range(len(minutes)):
            lo = max(0, i - rows + 1)
            window = [lm.VenueSeries(s.venue, *(getattr(s, f)[lo:i + 1] for f in
                                                ("minutes", *lm.FIELDS))) for s in series]
            out[(base, int(minutes[i]))] = lm.asset_levels(window, base, cfg)
    return out


def asset_price(h: History, base: str, minute: int) -> float | None:
    """The asset's price in a minute: the mean of its venues' averages (as the map's)."""
    series = h.series.get(base)
    if not series:
        return None
    idx = np.searchsorted(series[0].minutes, minute)
    if idx >= len(series[0].minutes) or series[0].minutes[idx] != minute:
        return None
    prices = [s.price[idx] for s in series if np.isfinite(s.price[idx])]
    return float(np.mean(prices)) if prices else None


# --- the measurement -----------------------------------------------------------------------
@dataclass(frozen=True)
class Score:
    name: str
    band: str  # which buckets of a side form its band: all written, or the k largest
    liquidations: int
    notional_usd: float
    covered_usd: float  # notional of liquidations with a map of the minute before
    inside_usd: float  # ... that fell inside the map's bands
    random_mean: float  # share inside random bands, mean over draws
    random_p5: float
    random_p95: float
    nearest: float  # share inside as many buckets right next to the price
    buckets_per_side: float  # average band size, buckets

    @property
    def share(self) -> float:
        return self.inside_usd / self.covered_usd if self.covered_usd else math.nan

    @property
    def lift(self) -> float:
        return self.share / self.random_mean if self.random_mean else math.nan


def evaluate(name: str, h: History, cfg: lm.MapConfig, *, tolerance: int = 1,
             draws: int = 500, seed: int = 1, top: int | None = None, lead: int = 1,
             maps_by: dict[tuple[str, int], list[lm.Level]] | None = None) -> Score:
    """Score the map's bands (each side's written buckets, or its `top` largest) of `lead`
    minutes before each liquidation against bands of as many buckets drawn at random on
    the same side of the price, and against as many buckets right next to the price."""
    maps_by = maps(h, cfg) if maps_by is None else maps_by
    g = cfg.grid
    rng = np.random.default_rng(seed)
    covered = inside = near = 0.0
    random_inside = np.zeros(draws)
    band_sizes: list[int] = []
    for liq in h.liquidations:
        levels = maps_by.get((liq.base, liq.minute - lead))
        price = asset_price(h, liq.base, liq.minute - lead)
        if levels is None or price is None:
            continue
        covered += liq.notional_usd
        side = sorted((lv for lv in levels if lv.side == liq.side),
                      key=lambda lv: -lv.notional_usd)[:top]
        band = np.array([lv.bucket for lv in side], dtype=np.int64)
        band_sizes.append(len(band))
        if not len(band):
            continue
        b = int(lm.bucket_of(liq.price, g.bucket_pct))
        if np.min(np.abs(band - b)) <= tolerance:
            inside += liq.notional_usd
        # The same number of buckets anywhere on the same side within the map's reach...
        here = int(lm.bucket_of(price, g.bucket_pct))
        reach = round(math.log1p(g.max_distance_pct / 100) / math.log1p(g.bucket_pct / 100))
        sign = -1 if liq.side == "long" else 1
        choices = here + sign * np.arange(0, reach + 1)
        k = min(len(band), len(choices))
        picks = np.argsort(rng.random((draws, len(choices))), axis=1)[:, :k]
        hit = (np.abs(choices[picks] - b) <= tolerance).any(axis=1)
        random_inside += hit * liq.notional_usd
        # ... and right next to the price.
        if np.min(np.abs(choices[:k] - b)) <= tolerance:
            near += liq.notional_usd
    shares = random_inside / covered if covered else np.full(draws, math.nan)
    return Score(name, "all" if top is None else f"top {top}", len(h.liquidations),
                 sum(x.notional_usd for x in h.liquidations), covered, inside,
                 float(np.mean(shares)), float(np.percentile(shares, 5)),
                 float(np.percentile(shares, 95)), near / covered if covered else math.nan,
                 float(np.mean(band_sizes)) if band_sizes else 0.0)


def crossing(h: History, cfg: lm.MapConfig,
             maps_by: dict[tuple[str, int], list[lm.Level]] | None = None,
             ) -> tuple[float, float, int]:
    """Does the map say how much is liquidated when price gets there? Per asset, minute and
    side: the notional the map of the minute before held in the buckets the minute's price
    range reached, against the notional liquidated on that side in the minute. Returns the
    Spearman correlation of the two over every minute, that of a naive predictor (how far
    the price moved that way, percent) and the number of minute-sides."""
    maps_by = maps(h, cfg) if maps_by is None else maps_by
    realized: dict[tuple[str, int, str], float] = defaultdict(float)
    for liq in h.liquidations:
        realized[(liq.base, liq.minute, liq.side)] += liq.notional_usd
    predicted, naive, actual = [], [], []
    for base, series in h.series.items():
        minutes = series[0].minutes
        with np.errstate(all="ignore"):
            low = np.nanmin(np.vstack([s.low for s in series]), axis=0)
            high = np.nanmax(np.vstack([s.high for s in series]), axis=0)
        for i in range(1, len(minutes)):
            before = maps_by.get((base, int(minutes[i - 1])))
            price = asset_price(h, base, int(minutes[i - 1]))
            if before is None or price is None or not np.isfinite(low[i]):
                continue
            for side in ("long", "short"):
                if side == "long":
                    reached = sum(lv.notional_usd for lv in before
                                  if lv.side == side and lv.price_high >= low[i])
                    moved = max(0.0, 1 - low[i] / price)
                else:
                    reached = sum(lv.notional_usd for lv in before
                                  if lv.side == side and lv.price_low <= high[i])
                    moved = max(0.0, high[i] / price - 1)
                predicted.append(reached)
                naive.append(moved)
                actual.append(realized.get((base, int(minutes[i]), side), 0.0))
    if len(actual) < 3:
        return math.nan, math.nan, len(actual)
    return _spearman(predicted, actual), _spearman(naive, actual), len(actual)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    rx = _ranks(np.asarray(x, float))
    ry = _ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


# --- scenarios from the contract -----------------------------------------------------------
VENUES = {"binance": ("BTCUSDT", True), "bybit": ("BTCUSDT", False),
          "okx": ("BTC-USDT-SWAP", True)}
# The market's own leverage mix: unknown to the map (config/liquidation_map.yaml differs).
TRUE_LEVERAGE = {3: 0.15, 5: 0.2, 10: 0.25, 20: 0.2, 50: 0.12, 100: 0.08}


def scenario(seed: int, minutes: int = 240, cfg: lm.MapConfig | None = None,
             start_ms: int = 1_795_183_200_000) -> list[tuple[str, dict[str, Any]]]:
    """One asset on three venues for `minutes`: prices every 10 s, open interest every
    minute, liquidations as they happen, all built by ingest/contract.py.

    Each minute every venue opens new positions in pairs (a long and a short per contract)
    with leverages drawn from TRUE_LEVERAGE, closes some at random (half-life 3 h), and
    force-closes every position whose liquidation price (the venue's margin tier from
    `cfg`) its second-by-second price crosses; each forced order pushes the price further
    its way, so a move can cascade.
    """
    cfg = cfg or lm.load_config()
    rng = np.random.default_rng(seed)
    levs = np.array(list(TRUE_LEVERAGE), dtype=float)
    weights = np.array(list(TRUE_LEVERAGE.values()))
    price = 60_000.0 * rng.uniform(0.8, 1.2)
    vol = 0.00012 * rng.uniform(0.7, 1.5)  # per second: about 0.1 % per minute
    # Per venue: is_long, coins, liquidation price of every open position.
    books = {v: (np.zeros(0, bool), np.zeros(0), np.zeros(0)) for v in VENUES}
    out: list[tuple[str, dict[str, Any]]] = []
    impact = 0.0
    close_p = 1 - 0.5 ** (1 / 180)
    for m in range(minutes):
        minute_ms = start_ms + m * MINUTE_MS
        trend = rng.normal(0, 0.0004)
        if rng.random() < 0.03:  # a shock now and then starts a move
            trend += rng.choice((-1, 1)) * rng.uniform(0.004, 0.012)
        for venue in VENUES:
            tier = cfg.tier(venue, "BTC")
            is_long, coins, liq_px = books[venue]
            alive = rng.random(len(coins)) > close_p
            n = int(rng.integers(3, 13))
            usd = rng.lognormal(math.log(2e6), 0.8) / n
            new_long = np.repeat([True, False], n)
            new_lev = np.minimum(rng.choice(levs, 2 * n, p=weights), tier.max_leverage)
            new_px = np.where(new_long, lm.long_liquidation_price(price, new_lev, tier.mmr),
                              lm.short_liquidation_price(price, new_lev, tier.mmr))
            books[venue] = (np.concatenate([is_long[alive], new_long]),
                            np.concatenate([coins[alive], np.full(2 * n, usd / price)]),
                            np.concatenate([liq_px[alive], new_px]))
        for s in range(60):
            ts = minute_ms + s * 1000 + int(rng.integers(1, 1000))
            price *= math.exp(trend / 60 + rng.normal(0, vol) + impact)
            impact = 0.0
            for venue, (symbol, sampled) in VENUES.items():
                vp = price * (1 + rng.normal(0, 0.0002))  # each venue's own mark
                is_long, coins, liq_px = books[venue]
                hit = np.where(is_long, vp <= liq_px, vp >= liq_px)
                if hit.any():
                    idx = np.flatnonzero(hit)
                    # A forced sale (long) pushes the price down, a forced buy (short) up.
                    impact += float(np.sum(np.where(is_long[idx], -1, 1) * coins[idx])) * vp / 2e10
                    if sampled:  # the feed pushes one per symbol and second
                        idx = idx[[int(rng.integers(len(idx)))]]
                    for i in idx:
                        out.append((LIQUIDATIONS, contract.liquidation_msg(
                            venue, symbol, "BTC", ts, "long" if is_long[i] else "short",
                            round(vp, 1), float(coins[i]), sampled=sampled,
                            ingest_ts=ts + 200)))
                    books[venue] = (is_long[~hit], coins[~hit], liq_px[~hit])
                if s % 10 == 5:
                    out.append((PRICES, contract.price_msg(venue, symbol, "BTC", ts,
                                                             round(vp, 1), ingest_ts=ts + 150)))
        for venue, (symbol, _) in VENUES.items():
            held = float(books[venue][1].sum()) / 2  # a contract = one long + one short
            ts = minute_ms + 30_000 + int(rng.integers(1, 1000))
            out.append((OPEN_INTEREST, contract.oi_msg(venue, symbol, "BTC", ts,
                                                         oi_base=held, price=price,
                                                         ingest_ts=ts + 300)))
    out.sort(key=lambda r: r[1]["ts"])
    return out


# --- report ----------------------------------------------------------------------------------
HEADER = (f"{'history':20} {'band':>6} {'liqs':>5} {'USD M':>8} {'mapped':>7} {'inside':>7} "
          f"{'random':>7} {'5-95 %':>11} {'lift':>5} {'nearest':>7} {'bkts':>5}")


def _row(s: Score) -> str:
    if not s.covered_usd:
        return f"{s.name:20} {s.band:>6} {s.liquidations:5d} {s.notional_usd / 1e6:8.1f}  no map"
    return (f"{s.name:20} {s.band:>6} {s.liquidations:5d} {s.notional_usd / 1e6:8.1f} "
            f"{100 * s.covered_usd / s.notional_usd:6.1f}% {100 * s.share:6.1f}% "
            f"{100 * s.random_mean:6.1f}% {100 * s.random_p5:5.1f}-{100 * s.random_p95:<5.1f} "
            f"{s.lift:5.2f} {100 * s.nearest:6.1f}% {s.buckets_per_side:5.1f}")


def pooled(name: str, scores: Sequence[Score]) -> str:
    covered = sum(s.covered_usd for s in scores)
    inside = sum(s.inside_usd for s in scores)
    rand = sum(s.random_mean * s.covered_usd for s in scores)
    near = sum(s.nearest * s.covered_usd for s in scores)
    total = sum(s.notional_usd for s in scores)
    return (f"{name:20} {scores[0].band:>6} {sum(s.liquidations for s in scores):5d} "
            f"{total / 1e6:8.1f} {100 * covered / total:6.1f}% {100 * inside / covered:6.1f}% "
            f"{100 * rand / covered:6.1f}% {'':11} {inside / rand:5.2f} "
            f"{100 * near / covered:6.1f}%")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m backtest.liquidation_map", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recording", type=Path, nargs="*", default=[SAMPLE],
                    help="replay files (.jsonl or .jsonl.gz); default: the sample")
    ap.add_argument("--scenarios", type=int, default=8, help="generated scenarios (0: none)")
    ap.add_argument("--minutes", type=int, default=240, help="length of each scenario")
    ap.add_argument("--tolerance", type=int, default=1,
                    help="buckets either side of a band that still count as inside")
    ap.add_argument("--top", type=int, default=5,
                    help="also score the narrow band: each side's N largest buckets")
    ap.add_argument("--draws", type=int, default=500, help="random bands per liquidation")
    ap.add_argument("--lead", type=int, nargs="*", default=[1, 30],
                    help="score the map of this many minutes before each liquidation")
    ap.add_argument("--config", type=Path, default=None,
                    help="map config (default config/liquidation_map.yaml)")
    args = ap.parse_args(argv)
    cfg = lm.load_config(args.config)
    histories: list[tuple[str, History]] = []
    for path in args.recording:
        if not path.exists():
            print(f"backtest: {path}: no such file", file=sys.stderr)
            return 2
        histories.append((path.name, history(load_records([path]))))
    for seed in range(1, args.scenarios + 1):
        histories.append((f"scenario {seed}", history(scenario(seed, args.minutes, cfg))))
    print(f"The map of the minute before each liquidation; inside = within {args.tolerance} "
          f"bucket(s) of a band bucket ({cfg.grid.bucket_pct} % buckets). random: as many "
          f"buckets drawn on the same side within {cfg.grid.max_distance_pct:g} % of the price "
          f"({args.draws} draws); nearest: as many right next to the price.")
    for lead in args.lead:
        for top in (None, args.top):
            print(f"\nmap of {lead} minute(s) before; band: "
                  f"{'every bucket written' if top is None else f'the {top} largest buckets'}")
            print(HEADER)
            scores = []
            for name, h in histories:
                seed = int(name.split()[-1]) if name.startswith("scenario") else 0
                scores.append(evaluate(name, h, cfg, tolerance=args.tolerance,
                                       draws=args.draws, seed=seed, top=top, lead=lead,
                                       maps_by=_maps_cached(h, cfg)))
                print(_row(scores[-1]))
            generated = [s for s in scores if s.name.startswith("scenario")]
            if generated:
                print(pooled("scenarios, pooled", generated))
    print("\nWhen the price reaches levels, is the notional liquidated what the map held there? "
          "Spearman correlation over asset-minute-sides (map of the minute before) against a "
          "naive predictor: how far the price moved that way.")
    print(f"{'history':20} {'map':>6} {'naive':>6} {'n':>6}")
    for name, h in histories:
        rho, naive, n = crossing(h, cfg, _maps_cached(h, cfg))
        print(f"{name:20} {rho:6.2f} {naive:6.2f} {n:6d}")
    return 0


_MAPS: dict[int, dict[tuple[str, int], list[lm.Level]]] = {}


def _maps_cached(h: History, cfg: lm.MapConfig) -> dict[tuple[str, int], list[lm.Level]]:
    if id(h) not in _MAPS:
        _MAPS[id(h)] = maps(h, cfg)
    return _MAPS[id(h)]


if __name__ == "__main__":
    sys.exit(main())

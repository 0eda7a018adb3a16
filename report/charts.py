"""PNG charts of one time range, drawn from the same SQL the Grafana panels run (the
provisioned dashboards, expanded by report.grafana_sql), so a picture without Grafana shows
the numbers Grafana would.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.colors as mcolors
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import psycopg

from lcm.names import is_asset_name
from report import dashboards as dash
from report.grafana_sql import TimeRange

LEVEL_COLOURS = {"INFO": "tab:blue", "WARNING": "tab:orange", "CRITICAL": "tab:red",
                 "NONE": "tab:green"}
RISK_BANDS = [(30, "tab:blue", "INFO"), (50, "tab:orange", "WARNING"), (70, "tab:red", "CRITICAL")]
COMPONENTS = ["funding", "OI build-up", "long/short imbalance", "liquidations"]
# The panels each chart draws: (dashboard uid, panel title).
PANELS = {
    "price": ("lcm-asset", "Open interest and price ($asset, $venue)"),
    "alerts": ("lcm-asset", "Alerts for $asset"),
    "risk": ("lcm-asset", "Risk components ($asset, $venue)"),
    "liquidations": ("lcm-asset", "Liquidations, long vs short ($asset, $venue)"),
    "pressure": ("lcm-overview", "Stablecoin Pressure (market-wide)"),
    "levels": ("lcm-asset", "Liquidation map: estimated levels ($asset)"),
    "levels_now": ("lcm-asset", "Largest estimated liquidation levels now ($asset)"),
    "scores": ("lcm-overview", "Risk and pressure per asset (latest)"),
    "alert_history": ("lcm-overview", "Latest alerts"),
}


class NoData(RuntimeError):
    """The range holds nothing to draw; the message says what was empty, for which range."""


@dataclass
class Series:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def col(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


class PanelReader:
    """Runs a dashboard panel's query for one range and asset, as the reader role."""

    def __init__(self, db: psycopg.Connection, rng: TimeRange) -> None:
        self.db, self.rng = db, rng
        self.dashboards = dash.load_dashboards()

    def assets(self) -> list[str]:
        """The assets Overview shows for the range (its $asset variable, All)."""
        d = self.dashboards["lcm-overview"]
        return sorted(dash.resolve_variables(self.db, d, self.rng)["asset"].options)

    def read(self, key: str, asset: str | list[str]) -> Series:
        """The panel's rows for one asset (or, on Overview, several)."""
        uid, title = PANELS[key]
        d = self.dashboards[uid]
        (query,) = [q for q in dash.panel_queries(d) if f"{title}'" in q.label]
        if uid == "lcm-overview":
            chosen: dict[str, str | list[str]] = {
                "asset": asset if isinstance(asset, list) else [asset]}
        else:
            chosen = {"asset": str(asset), "venue": "all"}
        variables = dash.resolve_variables(self.db, d, self.rng, chosen)
        cur = self.db.execute(dash.expand_query(query, self.rng, variables))
        return Series([c.name for c in cur.description or []], cur.fetchall())


def _finish(fig: plt.Figure, ax: plt.Axes, title: str, rng: TimeRange, path: Path) -> Path:
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlim(rng.start, rng.end)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(alpha=0.3)
    fig.text(0.99, 0.01, f"{rng.start:%Y-%m-%d %H:%M} - {rng.end:%Y-%m-%d %H:%M} UTC",
             ha="right", fontsize=7, color="grey")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _need(series: Series, what: str, asset: str, rng: TimeRange) -> Series:
    if not series.rows:
        raise NoData(f"no {what} for {asset} between {rng.start:%Y-%m-%d %H:%M} and "
                     f"{rng.end:%Y-%m-%d %H:%M} UTC: pick a range the monitor has data for")
    return series


def price_with_alerts(reader: PanelReader, asset: str, out: Path) -> Path:
    s = _need(reader.read("price", asset), "prices", asset, reader.rng)
    alerts = reader.read("alerts", asset)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    times, prices = s.col("time"), s.col("price")
    ax.plot(times, prices, color="black", lw=1.2, label=f"{_label(asset)} price (all venues)")
    by_time = dict(zip(times, prices, strict=True))
    for level in ("INFO", "WARNING", "CRITICAL", "NONE"):
        at = [t for t, lv in zip(alerts.col("time"), alerts.col("level"), strict=True)
              if lv == level] if alerts.rows else []
        if not at:
            continue
        for t in at:
            ax.axvline(t, color=LEVEL_COLOURS[level], alpha=0.35, lw=1)
        y = [by_time.get(t, min(prices)) or min(prices) for t in at]
        ax.scatter(at, y, color=LEVEL_COLOURS[level], zorder=3, s=36,
                   label=f"alert {level.lower() if level == 'NONE' else level}")
    ax.set_ylabel("USD")
    ax.legend(loc="upper left", fontsize=8)
    return _finish(fig, ax, f"{_label(asset)}: price with alerts ({len(alerts.rows)} alert "
                   "changes)", reader.rng, chart_path(out, asset, "price_alerts"))


def risk_components(reader: PanelReader, asset: str, out: Path) -> Path:
    s = _need(reader.read("risk", asset), "risk scores", asset, reader.rng)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    times = s.col("time")
    layers = [[v if v is not None else 0.0 for v in s.col(c)] for c in COMPONENTS]
    ax.stackplot(times, layers, labels=COMPONENTS, alpha=0.75)
    ax.plot(times, s.col("risk"), color="black", lw=1.5, label="risk")
    for y, colour, name in RISK_BANDS:
        ax.axhline(y, color=colour, ls="--", lw=1)
        ax.text(times[0], y + 1, name, color=colour, fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("points (0-100)")
    ax.legend(loc="upper left", fontsize=8, ncol=5)
    return _finish(fig, ax, f"{_label(asset)}: Liquidation Risk and its components (all "
                   "venues)", reader.rng, chart_path(out, asset, "risk_components"))


def liquidations(reader: PanelReader, asset: str, out: Path) -> Path:
    s = reader.read("liquidations", asset)
    fig, ax = plt.subplots(figsize=(11, 4))
    if s.rows:
        times = s.col("time")
        width = (times[1] - times[0]) * 0.8 if len(times) > 1 else 1 / 1440 * 0.8
        longs = [v or 0.0 for v in s.col("longs liquidated")]
        shorts = [-(v or 0.0) for v in s.col("shorts liquidated")]
        ax.bar(times, longs, width=width, color="tab:red", label="longs liquidated")
        ax.bar(times, shorts, width=width, color="tab:green", label="shorts liquidated (down)")
        ax.axhline(0, color="black", lw=0.8)
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no liquidations reported in this range", ha="center",
                transform=ax.transAxes)
    ax.set_ylabel("USD per interval")
    return _finish(fig, ax, f"{_label(asset)}: liquidations, long vs short (all venues)",
                   reader.rng, chart_path(out, asset, "liquidations"))


def liquidation_map(reader: PanelReader, asset: str, out: Path) -> Path:
    """The estimated liquidation levels over price and time (the drill-down's heatmap), with
    the all-venue price on top."""
    s = reader.read("levels", asset)
    price = reader.read("price", asset)
    fig, ax = plt.subplots(figsize=(11, 5))
    if s.rows:
        times = sorted(set(s.col("time")))
        lows = sorted({float(m) for m in s.col("metric")})
        # The buckets are a log grid: the smallest ratio of neighbours is one bucket.
        ratio = min((b / a for a, b in itertools.pairwise(lows) if b > a),
                    default=1.0025)
        index = {low: round(math.log(low / lows[0]) / math.log(ratio)) for low in lows}
        rows = max(index.values()) + 1
        grid = np.full((rows, len(times)), np.nan)
        col = {t: i for i, t in enumerate(times)}
        for t, m, n in zip(s.col("time"), s.col("metric"), s.col("notional"), strict=True):
            grid[index[float(m)], col[t]] = n
        step = times[1] - times[0] if len(times) > 1 else timedelta(minutes=1)
        x = [*times, times[-1] + step]
        y = [lows[0] * ratio ** k for k in range(rows + 1)]
        mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(grid), cmap="inferno",
                             norm=mcolors.PowerNorm(0.5), shading="flat")
        cbar = fig.colorbar(mesh, ax=ax, pad=0.01)
        cbar.set_label("estimated notional, USD")
        ax.set_facecolor("#111")
    else:
        ax.text(0.5, 0.5, "no estimated levels in this range", ha="center",
                transform=ax.transAxes)
    if price.rows:
        ax.plot(price.col("time"), price.col("price"), color="cyan", lw=1.3,
                label=f"{_label(asset)} price (all venues)")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_ylabel("price, USD")
    return _finish(fig, ax, f"{_label(asset)}: estimated liquidation levels (longs below the "
                   "price, shorts above)", reader.rng, chart_path(out, asset, "liquidation_map"))


def stablecoin_pressure(reader: PanelReader, out: Path) -> Path:
    s = reader.read("pressure", "")
    if not s.rows:
        raise NoData(f"no Stablecoin Pressure between {reader.rng.start:%Y-%m-%d %H:%M} and "
                     f"{reader.rng.end:%Y-%m-%d %H:%M} UTC")
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.axhspan(-100, -30, color="tab:red", alpha=0.08)
    ax.axhspan(-30, 0, color="tab:orange", alpha=0.08)
    for y in (-30, 0):
        ax.axhline(y, color="grey", ls="--", lw=1)
    ax.plot(s.col("time"), s.col("pressure"), color="tab:blue", lw=1.5, marker=".")
    ax.set_ylim(-100, 100)
    ax.set_ylabel("pressure (-100..+100, outflow +)")
    return _finish(fig, ax, "Stablecoin Pressure (market-wide)", reader.rng,
                   out / "stablecoin_pressure.png")


def chart_path(out: Path, asset: str, chart: str) -> Path:
    """<out>/<asset>_<chart>.png for an asset name (lcm.names); any other text from the
    database (a replayed file can carry one) gets a name from its hash instead, so no
    asset can write outside --out (../../x) or clash with another."""
    stem = asset if is_asset_name(asset) else \
        "asset-" + hashlib.sha256(asset.encode("utf-8", "backslashreplace")).hexdigest()[:16]
    path = out / f"{stem}_{chart}.png"
    if path.resolve().parent != out.resolve():  # pragma: no cover (names cannot do this)
        raise NoData(f"refusing to write {path}: outside {out}")
    return path


def _label(asset: str) -> str:
    """An asset as chart text: bounded, and with no $ for matplotlib's mathtext."""
    text = asset if len(asset) <= 40 else asset[:40] + "..."
    return text.replace("$", r"\$")


def render(db: psycopg.Connection, rng: TimeRange, assets: list[str] | None,
           out: Path) -> list[Path]:
    """Every chart for the range: per asset price+alerts, risk, liquidations, estimated
    liquidation levels; one pressure. Default assets: those Overview shows (top N by open
    interest and any in WARNING or above)."""
    out.mkdir(parents=True, exist_ok=True)
    reader = PanelReader(db, rng)
    paths = [stablecoin_pressure(reader, out)]
    chosen = assets or reader.assets()
    if not chosen:
        raise NoData(f"no asset has scores between {rng.start:%Y-%m-%d %H:%M} and "
                     f"{rng.end:%Y-%m-%d %H:%M} UTC: is the pipeline writing?")
    for asset in chosen:
        paths += [price_with_alerts(reader, asset, out), risk_components(reader, asset, out),
                  liquidations(reader, asset, out), liquidation_map(reader, asset, out)]
    return paths

"""The report as one HTML page beside its PNG files: the charts, the latest scores per asset,
the alert history of the range, the estimated liquidation levels, and links to the Grafana
drill-down at each alert's window. Self-contained: styles inline, images by relative path,
no script and nothing fetched, so the folder opens offline (and can be mailed or zipped).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lcm import links
from report.charts import PanelReader, Series, chart_path
from report.grafana_sql import TimeRange

PAGE = "index.html"
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1240px;
       padding: 16px 24px 48px; color: #1d2430; background: #fff; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #5b6472; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 4px 8px; text-align: right;
         white-space: nowrap; }
th { background: #f4f6f8; font-weight: 600; }
td.text, th.text { text-align: left; }
.level { font-weight: 600; }
.NONE { color: #2e7d32; } .INFO { color: #1565c0; } .WARNING { color: #e65100; }
.CRITICAL { color: #c62828; } .long { color: #c62828; } .short { color: #2e7d32; }
img { display: block; width: 100%; height: auto; margin: 6px 0 10px;
      border: 1px solid #e3e6ea; }
nav a { margin-right: 12px; } .empty { color: #5b6472; font-style: italic; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: object, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}{unit}"
    return _e(value)


def _time(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return _e(value)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], text_cols: int = 1) -> str:
    """Cells are HTML already (escaped by the caller); the first text_cols align left."""
    cls = [' class="text"' if i < text_cols else "" for i in range(len(head))]
    out = ["<table><thead><tr>", *(f"<th{c}>{_e(h)}</th>" for c, h in zip(cls, head,
                                                                        strict=True)),
           "</tr></thead><tbody>"]
    for row in rows:
        out += ["<tr>", *(f"<td{c}>{v}</td>" for c, v in zip(cls, row, strict=True)), "</tr>"]
    out.append("</tbody></table>")
    return "".join(out)


def _rows(s: Series) -> list[dict[str, Any]]:
    return [dict(zip(s.columns, r, strict=True)) for r in s.rows]


def _level(level: object) -> str:
    name = str(level or "NONE")
    return f'<span class="level {_e(name)}">{_e(name.lower() if name == "NONE" else name)}</span>'


def _side(side: object) -> str:
    return f'<span class="{_e(side)}">{_e(side)}</span>' if side else "n/a"


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url)}">{_e(text)}</a>'


def _img(path: Path, alt: str) -> str:
    return f'<img src="{_e(path.name)}" alt="{_e(alt)}" loading="eager">'


def scores_table(reader: PanelReader, assets: list[str]) -> str:
    rows = _rows(reader.read("scores", assets))
    if not rows:
        return '<p class="empty">No scores up to the end of the range.</p>'
    return _table(
        ["asset", "minute (UTC)", "level", "side", "risk", "long", "short", "pressure",
         "confidence", "data age"],
        ([f'<a href="#{_e(r["asset"])}">{_e(r["asset"])}</a>', _time(r["time"]),
          _level(r["level"]), _side(r["side"]), _num(r["risk"]), _num(r["long risk"]),
          _num(r["short risk"]), _num(r["pressure"]),
          _num(None if r["confidence"] is None else 100 * r["confidence"], 0, " %"),
          _num(r["data age"], 0, " s")] for r in rows), text_cols=2)


def alerts_table(reader: PanelReader, assets: list[str], grafana_url: str) -> str:
    rows = _rows(reader.read("alert_history", assets))
    if not rows:
        return '<p class="empty">No alert changed level in this range.</p>'
    window = timedelta(minutes=1)
    return _table(
        ["minute (UTC)", "asset", "level", "was", "side", "risk", "pressure", "confidence",
         "Grafana"],
        ([_time(r["time"]), _e(r["asset"]), _level(r["level"]), _level(r["previous"]),
          _side(r["side"]), _num(r["risk"]), _num(r["pressure"]),
          _num(None if r["confidence"] is None else 100 * r["confidence"], 0, " %"),
          _link(links.drill_down_url(grafana_url, r["asset"], r["time"], r["time"] + window),
                "drill-down at the alert")] for r in rows), text_cols=5)


def levels_table(reader: PanelReader, asset: str) -> str:
    rows = _rows(reader.read("levels_now", asset))
    if not rows:
        return '<p class="empty">No estimated liquidation levels up to the end of the range.</p>'
    return _table(
        ["side", "from", "to", "distance", "estimated notional"],
        ([_side(r["side"]), _num(r["from"], 2), _num(r["to"], 2),
          _num(r["distance %"], 2, " %"), "$" + _num(r["estimated USD"], 0)]
         for r in rows[:10]))


def write(reader: PanelReader, assets: list[str], images: Sequence[Path], out: Path,
          grafana_url: str) -> Path:
    """index.html in `out`, beside the images render() wrote there."""
    rng: TimeRange = reader.rng
    by_name = {p.name: p for p in images}
    span = f"{rng.start:%Y-%m-%d %H:%M} to {rng.end:%Y-%m-%d %H:%M} UTC"
    overview = (f"{grafana_url}/d/lcm-overview?from={int(rng.start.timestamp() * 1000)}"
                f"&to={int(rng.end.timestamp() * 1000)}")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',  # no favicon request: nothing leaves the folder
        f"<title>Liquidation Cascade Monitor report, {_e(span)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Liquidation Cascade Monitor report</h1>",
        f'<p class="meta">{_e(span)} · {len(assets)} asset(s) · generated '
        f'{datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the dashboards\' own SQL, read-only · '
        f'{_link(overview, "open in Grafana")}</p>',
        "<nav>" + "".join(f'<a href="#{_e(a)}">{_e(a)}</a>' for a in assets) +
        '<a href="#alerts">alerts</a><a href="#market">market</a></nav>',
        "<h2>Latest scores per asset</h2>", scores_table(reader, assets),
        '<h2 id="alerts">Alert history (newest first)</h2>',
        alerts_table(reader, assets, grafana_url),
        '<h2 id="market">Market-wide</h2>',
    ]
    if "stablecoin_pressure.png" in by_name:
        parts.append(_img(by_name["stablecoin_pressure.png"], "Stablecoin Pressure"))
    for asset in assets:
        drill = links.drill_down_url(grafana_url, asset, rng.start, rng.end, timedelta(0))
        parts += [f'<h2 id="{_e(asset)}">{_e(asset)}</h2>',
                  f'<p class="meta">{_link(drill, f"{asset} drill-down in Grafana")}</p>']
        for suffix, alt in (("price_alerts", "price with alerts"),
                            ("risk_components", "Liquidation Risk and its components"),
                            ("liquidations", "liquidations, long vs short"),
                            ("liquidation_map", "estimated liquidation levels")):
            path = by_name.get(chart_path(out, asset, suffix).name)
            if path is not None:
                parts.append(_img(path, f"{asset}: {alt}"))
        parts += [f"<h3>{_e(asset)}: largest estimated liquidation levels now</h3>",
                  levels_table(reader, asset)]
    parts.append("</body></html>\n")
    path = out / PAGE
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

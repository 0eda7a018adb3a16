"""An independent, plain-Python model of what the Flink job must write, computed from the
input messages. The end-to-end test compares the database with it.

It re-derives every feature from the contract (DESIGN.md §2) and the documented window
semantics, sharing nothing with the job's SQL; only the pure scoring functions are reused
(they have their own unit tests).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from flink_jobs import scoring
from flink_jobs.config import MonitorConfig

MINUTE_MS = 60_000


def minute(ts: int) -> datetime:
    return datetime.fromtimestamp(ts // MINUTE_MS * 60, UTC)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def valid(topic: str, m: dict[str, Any]) -> bool:
    """The contract's required fields, as the job checks them."""
    if not isinstance(m.get("ts"), int) or not (m.get("exchange") or m.get("chain")):
        return False
    if not m.get("symbol") or not m.get("base"):
        return False
    need = {
        "prices": lambda: (_num(m.get("price")) or 0) > 0,
        "funding_rates": lambda: _num(m.get("funding_rate")) is not None
        and abs(_num(m["funding_rate"])) <= 0.05 and (_num(m.get("interval_hours")) or 0) > 0,
        "open_interest": lambda: (_num(m.get("oi_usd")) or -1) >= 0,
        "liquidations": lambda: str(m.get("side", "")).lower() in ("long", "short")
        and (_num(m.get("notional_usd")) or -1) >= 0,
        "long_short_ratio": lambda: _num(m.get("long_share")) is not None
        and 0 <= _num(m["long_share"]) <= 1,
        "stablecoin_flows": lambda: (_num(m.get("amount_usd")) or -1) >= 0
        and str(m.get("direction", "")).lower() in ("inflow", "outflow", "internal")
        and m.get("tx_hash") is not None and isinstance(m.get("log_index"), int),
    }
    return need[topic]()


@dataclass
class Expected:
    features: dict[tuple[str, str, datetime], dict[str, Any]]  # (base, venue, window)
    risk: dict[tuple[str, datetime], dict[str, Any]]
    pressure: dict[datetime, dict[str, Any]]
    alerts: dict[tuple[str, datetime], dict[str, Any]]
    liquidations: set[str]  # dedup keys


def _lookback(rows: dict[datetime, dict], t: datetime, minutes: int, key: str) -> float | None:
    """First non-NULL value of `key` among rows within `minutes` before t, inclusive."""
    for w in sorted(rows):
        if 0 <= (t - w).total_seconds() <= minutes * 60 and rows[w].get(key) is not None:
            return rows[w][key]
    return None


def expected(messages: list[tuple[str, dict[str, Any]]], cfg: MonitorConfig) -> Expected:
    p = cfg.pipeline
    lookback, baseline_min = p.oi_lookback_windows, p.baseline_windows
    venue_acc: dict[tuple[str, str, datetime], dict[str, list]] = defaultdict(
        lambda: defaultdict(list))
    liqs: dict[tuple[datetime, str], dict[str, Any]] = {}
    flows: dict[tuple[datetime, str], dict[str, Any]] = {}
    for topic, m in messages:
        if not valid(topic, m):
            continue
        venue, base, w = m.get("exchange") or m.get("chain"), m["base"].upper(), minute(m["ts"])
        if topic == "stablecoin_flows":  # market-wide, not an asset's venue row
            key = f"{venue}:{m['tx_hash']}:{m['log_index']}"
            flows.setdefault((w, key), {"dir": m["direction"].lower(),
                                        "usd": float(m["amount_usd"])})
            continue
        if topic == "liquidations":  # counted below, once per dedup key and minute
            key = f"{venue}:{m['id']}" if m.get("id") is not None else repr(sorted(m.items()))
            liqs.setdefault((w, key), {"venue": venue, "base": base, "side": m["side"].lower(),
                                       "usd": float(m["notional_usd"])})
            continue
        acc = venue_acc[(venue, base, w)]
        acc["events"].append(1)
        if topic == "prices":
            acc["price"].append(float(m["price"]))
        elif topic == "funding_rates":
            acc["funding_8h"].append(float(m["funding_rate"]) * 8 / float(m["interval_hours"]))
        elif topic == "open_interest":
            acc["oi_usd"].append(float(m["oi_usd"]))
        elif topic == "long_short_ratio":
            acc["long_share"].append(float(m["long_share"]))
    for (w, _key), liq in liqs.items():
        acc = venue_acc[(liq["venue"], liq["base"], w)]
        acc["liq_" + liq["side"]].append(liq["usd"])
        acc["events"].append(1)

    # Venue rows, then each venue's lookback references.
    venue_rows: dict[tuple[str, str], dict[datetime, dict]] = defaultdict(dict)
    for (venue, base, w), acc in venue_acc.items():
        venue_rows[(venue, base)][w] = {
            "price": fmean(acc["price"]) if acc["price"] else None,
            "funding_8h": fmean(acc["funding_8h"]) if acc["funding_8h"] else None,
            "oi_usd": fmean(acc["oi_usd"]) if acc["oi_usd"] else None,
            "long_share": fmean(acc["long_share"]) if acc["long_share"] else None,
            "liq_long_usd": sum(acc["liq_long"]) if acc["liq_long"] else None,
            "liq_short_usd": sum(acc["liq_short"]) if acc["liq_short"] else None,
            "liq_count": len(acc["liq_long"]) + len(acc["liq_short"]),
            "events": len(acc["events"]),
        }
    features: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    by_asset: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for (venue, base), rows in venue_rows.items():
        for w, r in rows.items():
            r = dict(r, oi_ref=_lookback(rows, w, lookback, "oi_usd"),
                     price_ref=_lookback(rows, w, lookback, "price"))
            features[(base, venue, w)] = dict(
                r,
                oi_change_pct=100 * (r["oi_usd"] / r["oi_ref"] - 1) if r["oi_usd"] else None,
                price_change_pct=100 * (r["price"] / r["price_ref"] - 1) if r["price"] else None,
            )
            by_asset[(base, w)].append(r)

    asset_rows: dict[str, dict[datetime, dict]] = defaultdict(dict)
    for (base, w), rows in by_asset.items():
        def vals(k: str, rows: list[dict] = rows) -> list[float]:
            return [r[k] for r in rows if r[k] is not None]
        both = [r for r in rows if r["funding_8h"] is not None and r["oi_usd"] is not None]
        weight = sum(r["oi_usd"] for r in both)
        funding = (sum(r["funding_8h"] * r["oi_usd"] for r in both) / weight if weight
                   else (fmean(vals("funding_8h")) if vals("funding_8h") else None))
        oi_pairs = [r for r in rows if r["oi_usd"] is not None and (r["oi_ref"] or 0) > 0]
        px = [100 * (r["price"] / r["price_ref"] - 1) for r in rows if r["price"] is not None]
        asset_rows[base][w] = {
            "price": fmean(vals("price")) if vals("price") else None,
            "funding_8h": funding,
            "oi_usd": sum(vals("oi_usd")) if vals("oi_usd") else None,
            "oi_change_pct": 100 * (sum(r["oi_usd"] for r in oi_pairs)
                                    / sum(r["oi_ref"] for r in oi_pairs) - 1) if oi_pairs else None,
            "price_change_pct": fmean(px) if px else None,
            "long_share": fmean(vals("long_share")) if vals("long_share") else None,
            "liq_long_usd": sum(vals("liq_long_usd")) if vals("liq_long_usd") else None,
            "liq_short_usd": sum(vals("liq_short_usd")) if vals("liq_short_usd") else None,
            "liq_count": sum(r["liq_count"] for r in rows),
            "events": sum(r["events"] for r in rows),
        }
        features[(base, "all", w)] = asset_rows[base][w]

    # Market-wide stablecoin pressure.
    flow_acc: dict[datetime, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (w, _key), f in flows.items():
        flow_acc[w][f["dir"]] += f["usd"]
        flow_acc[w]["transfers"] += 1
    pressure: dict[datetime, dict[str, Any]] = {}
    for w in sorted(flow_acc):
        a = flow_acc[w]
        window = [flow_acc[v] for v in flow_acc
                  if 0 <= (w - v).total_seconds() <= baseline_min * 60]
        base_usd = fmean(x["inflow"] + x["outflow"] for x in window)
        pressure[w] = {
            "inflow_usd": a["inflow"], "outflow_usd": a["outflow"], "internal_usd": a["internal"],
            "transfers": int(a["transfers"]), "baseline_usd": base_usd,
            "pressure": scoring.stablecoin_pressure(a["inflow"], a["outflow"], base_usd,
                                                    cfg.scoring.pressure),
        }

    risk: dict[tuple[str, datetime], dict[str, Any]] = {}
    alerts: dict[tuple[str, datetime], dict[str, Any]] = {}
    for base, rows in asset_rows.items():
        previous = None
        for w in sorted(rows):
            r = rows[w]
            frame = [rows[v] for v in rows if 0 <= (w - v).total_seconds() <= baseline_min * 60]
            seen = sum(x["liq_count"] for x in frame)
            liq_now = (r["liq_long_usd"] or 0) + (r["liq_short_usd"] or 0)
            s = scoring.liquidation_risk(
                funding_8h=r["funding_8h"], oi_change_pct=r["oi_change_pct"],
                price_change_pct=r["price_change_pct"], long_share=r["long_share"],
                liq_usd=liq_now if seen > 0 else None, oi_usd=r["oi_usd"],
                liq_baseline_usd=fmean((x["liq_long_usd"] or 0) + (x["liq_short_usd"] or 0)
                                       for x in frame),
                cfg=cfg.scoring)
            pr = pressure.get(w, {}).get("pressure")
            level = scoring.alert_level(s.risk, pr, s.confidence, cfg.scoring.alerts)
            row = {"risk": s.risk, "funding_pts": s.funding, "oi_buildup_pts": s.oi_buildup,
                   "imbalance_pts": s.imbalance, "liquidation_pts": s.liquidations,
                   "confidence": s.confidence, "components": s.present, "pressure": pr,
                   "level": level}
            risk[(base, w)] = row
            if level is not None and level != previous:
                alerts[(base, w)] = {"level": level, "previous_level": previous,
                                     "risk": s.risk, "pressure": pr,
                                     "confidence": s.confidence, "components": s.present}
            previous = level
    return Expected(features, risk, pressure, alerts, {k for _, k in liqs})

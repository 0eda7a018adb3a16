"""An independent, plain-Python model of what the Flink job must write, computed from the
input messages. The end-to-end test compares the database with it.

It re-derives every feature from the contract (docs/contract.md) and the documented window
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
        and 0 <= _num(m["long_share"]) <= 1
        and str(m.get("population", "")).lower() in ("accounts", "top_positions"),
        "stablecoin_flows": lambda: (_num(m.get("amount_usd")) or -1) >= 0
        and str(m.get("direction", "")).lower() in ("inflow", "outflow", "internal")
        and m.get("tx_hash") is not None and isinstance(m.get("log_index"), int),
    }
    return need[topic]()


@dataclass
class Expected:
    features: dict[tuple[str, str, datetime], dict[str, Any]]  # (base, venue, window)
    risk: dict[tuple[str, str, datetime], dict[str, Any]]  # (base, venue or 'all', window)
    pressure: dict[datetime, dict[str, Any]]
    alerts: dict[tuple[str, datetime], dict[str, Any]]
    liquidations: set[str]  # dedup keys
    topic_events: dict[tuple[str, datetime], dict[str, int]]  # (topic, window)


def _in_range(t: datetime, v: datetime, minutes: int) -> bool:
    """v is within an OVER window 'RANGE minutes PRECEDING AND CURRENT ROW' of t."""
    return 0 <= (t - v).total_seconds() <= minutes * 60


def _first(rows: dict[datetime, dict], t: datetime, minutes: int, key: str) -> Any:
    """First non-NULL value of `key` among rows within `minutes` before t, inclusive."""
    for w in sorted(rows):
        if _in_range(t, w, minutes) and rows[w].get(key) is not None:
            return rows[w][key]
    return None


def _last(rows: dict[datetime, dict], t: datetime, minutes: int, key: str) -> Any:
    for w in sorted(rows, reverse=True):
        if _in_range(t, w, minutes) and rows[w].get(key) is not None:
            return rows[w][key]
    return None


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def _pct(now: float | None, ref: float | None) -> float | None:
    return 100 * (now / ref - 1) if now is not None and ref else None


CARRIED = {"price": "price", "funding_8h": "funding", "oi_usd": "open_interest",
           "long_share": "long_short", "top_long_share": "long_short"}
# feature -> key of pipeline.max_input_age_s


def expected(messages: list[tuple[str, dict[str, Any]]], cfg: MonitorConfig,
             bad_records: list[tuple[str, int]] = ()) -> Expected:
    """messages: (topic, message) as replayed; bad_records: (topic, Kafka timestamp ms) of
    records written straight to the data topics that the job must refuse."""
    p = cfg.pipeline
    lookback, baseline_min = p.oi_lookback_windows, p.baseline_windows
    max_age_ms = {k: v * 1000 for k, v in p.max_input_age_s.model_dump().items()}
    window_ms = p.window_minutes * MINUTE_MS
    wm = p.window_minutes
    if wm != 1:
        raise NotImplementedError("the reference model is written for one-minute windows")
    venue_acc: dict[tuple[str, str, datetime], dict[str, list]] = defaultdict(
        lambda: defaultdict(list))
    liqs: dict[tuple[datetime, str], dict[str, Any]] = {}
    flows: dict[tuple[datetime, str], dict[str, Any]] = {}
    topic_events: dict[tuple[str, datetime], dict[str, int]] = defaultdict(
        lambda: {"events": 0, "dead_letters": 0})
    for topic, ts in bad_records:
        topic_events[(topic, minute(ts))]["events"] += 1
        topic_events[(topic, minute(ts))]["dead_letters"] += 1
    for topic, m in messages:
        ok = valid(topic, m)
        if isinstance(m.get("ts"), int):  # the Kafka timestamp replay stamps
            topic_events[(topic, minute(m["ts"]))]["events"] += 1
            topic_events[(topic, minute(m["ts"]))]["dead_letters"] += not ok
        if not ok:
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
                                       "usd": float(m["notional_usd"]), "ts": m["ts"]})
            continue
        acc = venue_acc[(venue, base, w)]
        acc["events"].append(1)
        acc["ts"].append(m["ts"])
        field = {"prices": "price", "open_interest": "oi_usd"}.get(topic)
        if topic == "long_short_ratio":  # the two populations never mix
            field = "long_share" if m["population"] == "accounts" else "top_long_share"
        if topic == "funding_rates":
            acc["funding_8h"].append(float(m["funding_rate"]) * 8 / float(m["interval_hours"]))
            acc["funding_8h_ts"].append(m["ts"])
        elif field:
            acc[field].append(float(m[field]))
            acc[field + "_ts"].append(m["ts"])
    for (w, _key), liq in liqs.items():
        acc = venue_acc[(liq["venue"], liq["base"], w)]
        acc["liq_" + liq["side"]].append(liq["usd"])
        acc["events"].append(1)
        acc["ts"].append(liq["ts"])

    # Venue rows: the minute's own values, then what the lookback and carry-forward add.
    venue_rows: dict[tuple[str, str], dict[datetime, dict]] = defaultdict(dict)
    for (venue, base, w), acc in venue_acc.items():
        end = max(acc["ts"]) - max(acc["ts"]) % window_ms + window_ms
        row = {"end_ms": end, "liq_long_usd": sum(acc["liq_long"]) if acc["liq_long"] else None,
               "liq_short_usd": sum(acc["liq_short"]) if acc["liq_short"] else None,
               "liq_count": len(acc["liq_long"]) + len(acc["liq_short"]),
               "events": len(acc["events"])}
        for f in CARRIED:
            row[f] = _mean(acc[f])
            row[f + "_ts"] = max(acc[f + "_ts"]) if acc[f + "_ts"] else None
        venue_rows[(venue, base)][w] = row

    features: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    venue_inputs: dict[tuple[str, str], dict[datetime, dict]] = defaultdict(dict)
    by_asset: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for (venue, base), rows in venue_rows.items():
        for w, r in rows.items():
            r = dict(r, oi_ref=_first(rows, w, lookback, "oi_usd"),
                     price_ref=_first(rows, w, lookback, "price"))
            features[(base, venue, w)] = dict(
                r, oi_change_pct=_pct(r["oi_usd"], r["oi_ref"]) if r["oi_usd"] else None,
                price_change_pct=_pct(r["price"], r["price_ref"]))
            ages = []
            for f, age_key in CARRIED.items():
                last, last_ts = _last(rows, w, lookback, f), _last(rows, w, lookback, f + "_ts")
                fresh = last_ts is not None and r["end_ms"] - last_ts <= max_age_ms[age_key]
                r[f + "_cf"] = last if fresh else None
                if fresh:
                    ages.append(r["end_ms"] - last_ts)
            r["oi_change_cf"] = (100 * (r["oi_usd_cf"] / r["oi_ref"] - 1)
                                 if r["oi_usd_cf"] is not None and (r["oi_ref"] or 0) > 0 else None)
            r["price_change_cf"] = (100 * (r["price_cf"] / r["price_ref"] - 1)
                                    if r["price_cf"] is not None and r["price_ref"] else None)
            r["data_age_s"] = max(ages) / 1000 if ages else None
            venue_inputs[(venue, base)][w] = r
            by_asset[(base, w)].append(r)

    asset_rows: dict[str, dict[datetime, dict]] = defaultdict(dict)
    for (base, w), rows in by_asset.items():
        def vals(k: str, rows: list[dict] = rows) -> list[float]:
            return [r[k] for r in rows if r[k] is not None]
        both = [r for r in rows if r["funding_8h_cf"] is not None and r["oi_usd_cf"] is not None]
        weight = sum(r["oi_usd_cf"] for r in both)
        funding = (sum(r["funding_8h_cf"] * r["oi_usd_cf"] for r in both) / weight if weight
                   else _mean(vals("funding_8h_cf")))
        oi_pairs = [r for r in rows if r["oi_usd_cf"] is not None and (r["oi_ref"] or 0) > 0]
        px = [100 * (r["price_cf"] / r["price_ref"] - 1) for r in rows
              if r["price_cf"] is not None and r["price_ref"] is not None]
        asset_rows[base][w] = {
            "price": _mean(vals("price_cf")),
            "funding_8h": funding,
            "oi_usd": sum(vals("oi_usd_cf")) if vals("oi_usd_cf") else None,
            "oi_change_pct": 100 * (sum(r["oi_usd_cf"] for r in oi_pairs)
                                    / sum(r["oi_ref"] for r in oi_pairs) - 1) if oi_pairs else None,
            "price_change_pct": _mean(px),
            "long_share": _mean(vals("long_share_cf")),
            "top_long_share": _mean(vals("top_long_share_cf")),
            "liq_long_usd": sum(vals("liq_long_usd")) if vals("liq_long_usd") else None,
            "liq_short_usd": sum(vals("liq_short_usd")) if vals("liq_short_usd") else None,
            "liq_count": sum(r["liq_count"] for r in rows),
            "events": sum(r["events"] for r in rows),
            "data_age_s": max(vals("data_age_s")) if vals("data_age_s") else None,
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
        window = [flow_acc[v] for v in flow_acc if _in_range(w, v, baseline_min)]
        base_usd = fmean(x["inflow"] + x["outflow"] for x in window)
        pressure[w] = {
            "inflow_usd": a["inflow"], "outflow_usd": a["outflow"], "internal_usd": a["internal"],
            "transfers": int(a["transfers"]), "baseline_usd": base_usd,
            "pressure": scoring.stablecoin_pressure(a["inflow"], a["outflow"], base_usd,
                                                    cfg.scoring.pressure),
        }

    def signals(rows: dict[datetime, dict], cols: dict[str, str]) -> dict[datetime, dict]:
        """Each row's signals (docs/scoring.md), from its inputs and its recent windows."""
        out = {}
        for w, r in rows.items():
            frame = [rows[v] for v in rows if _in_range(w, v, baseline_min)]
            seen = sum(x["liq_count"] for x in frame) > 0
            recent = [rows[v] for v in rows if _in_range(w, v, p.recent_windows - 1)]
            oi = r[cols["oi_usd"]]
            sig: dict[str, float | None] = {}
            for side in ("long", "short"):
                now = (r[f"liq_{side}_usd"] or 0) if seen else None
                sig[f"liq_{side}"] = (math.log1p(1e4 * now / oi)
                                      if now is not None and oi and oi > 0 else None)
                # recent windows whose own feed was seen (the SQL's liq_*_in per row)
                past = [x for x in recent if x["_seen"]]
                total = sum(x[f"liq_{side}_usd"] or 0 for x in past)
                sig[f"liq_{side}_recent"] = (math.log1p(1e4 * total / len(past) / oi)
                                             if past and oi and oi > 0 else None)
            for name, col, scale in (("price", "price_change_pct", 1), ("oi", "oi_change_pct", 1),
                                     ("funding", "funding_8h", 1e4)):
                x = r[cols[col]]
                sig[name] = None if x is None else math.asinh(scale * x)
            for name, col in (("ls", "long_share"), ("top_ls", "top_long_share")):
                x = r[cols[col]]
                sig[name] = (None if x is None else
                             math.log(max(x, 1e-6) / max(1 - x, 1e-6)))
            pv = pressure.get(w, {}).get("pressure")
            sig["pressure"] = None if pv is None else pv / 100
            out[w] = sig
        return out

    def score(rows: dict[datetime, dict], cols: dict[str, str]) -> dict[datetime, dict]:
        for w, r in rows.items():  # liquidation feed seen within the baseline, per row
            r["_seen"] = sum(rows[v]["liq_count"] for v in rows
                             if _in_range(w, v, baseline_min)) > 0
        sig = signals(rows, cols)
        scored = {}
        for w, r in rows.items():
            inputs: dict[str, float | None] = {}
            past = [sig[v] for v in rows if v != w and _in_range(w, v, p.history_windows)]
            for name in scoring.SIGNALS:
                values = [x[name] for x in past if x[name] is not None]
                inputs[name] = sig[w][name]
                inputs[f"{name}_n"] = float(len(values))
                inputs[f"{name}_sum"] = math.fsum(values) if values else None
                inputs[f"{name}_sumsq"] = math.fsum(v * v for v in values) if values else None
            s = scoring.liquidation_risk(inputs, cfg.scoring)
            pts = s.points
            scored[w] = {
                "risk": s.risk, "side": s.side, "long_risk": s.long_risk,
                "short_risk": s.short_risk, "funding_pts": pts["funding"],
                "oi_buildup_pts": pts["oi_buildup"], "imbalance_pts": pts["imbalance"],
                "liquidation_pts": pts["liquidations"],
                "liquidation_recent_pts": pts["liquidations_recent"],
                "price_move_pts": pts["price_move"], "top_imbalance_pts": pts["top_imbalance"],
                "pressure_pts": pts["pressure"], "confidence": s.confidence,
                "components": s.present, "data_age_s": r["data_age_s"],
                "pressure": pressure.get(w, {}).get("pressure")}
        return scored

    risk: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    venue_cols = {"funding_8h": "funding_8h_cf", "oi_change_pct": "oi_change_cf",
                  "price_change_pct": "price_change_cf", "long_share": "long_share_cf",
                  "top_long_share": "top_long_share_cf", "oi_usd": "oi_usd_cf"}
    for (venue, base), rows in venue_inputs.items():
        for w, row in score(rows, venue_cols).items():
            row["level"] = scoring.alert_level(row["risk"], row["confidence"], cfg.scoring.alerts)
            risk[(base, venue, w)] = row

    # All-venue rows: the alert state, replayed over the last state_windows rows.
    alerts: dict[tuple[str, datetime], dict[str, Any]] = {}
    a = cfg.scoring.alerts
    asset_cols = {k: k for k in venue_cols}
    for base, rows in asset_rows.items():
        order = sorted(rows)
        for w, row in score(rows, asset_cols).items():
            risk[(base, "all", w)] = row
        for i, w in enumerate(order):
            span = order[max(0, i - a.state_windows + 1): i + 1]
            got = [risk[(base, "all", v)] for v in span]
            states = scoring.alert_states([v.timestamp() / 60 / wm for v in span],
                                          [g["risk"] for g in got],
                                          [g["confidence"] for g in got], a)
            level, previous = states[-1], states[-2] if len(states) > 1 else scoring.NONE
            row = risk[(base, "all", w)]
            row["level"] = None if level == scoring.NONE else level
            if level != previous:
                alerts[(base, w)] = {
                    "alert_id": f"{base}:{w:%Y-%m-%dT%H:%M:%SZ}:{level}", "level": level,
                    "previous_level": None if previous == scoring.NONE else previous,
                    **{k: row[k] for k in ("side", "risk", "long_risk", "short_risk",
                                           "funding_pts", "oi_buildup_pts", "imbalance_pts",
                                           "liquidation_pts", "pressure", "confidence",
                                           "components")}}
    return Expected(features, risk, pressure, alerts, {k for _, k in liqs}, dict(topic_events))

"""The backtest's report: every figure as JSON, a markdown summary, PNG charts (PR curves,
lead-time histogram, one timeline per episode)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from backtest import evaluate, metrics
from flink_jobs.config import COMPONENTS, MonitorConfig

BASELINES = ("persistence", "funding", "seed_formula")


def _matched_state(score: np.ndarray, shares: dict[str, float]) -> np.ndarray:
    """Alert-state ranks from a score's global quantiles, at the monitor's time shares."""
    st = np.zeros(len(score), dtype=int)
    ok = ~np.isnan(score)
    if not ok.any():
        return st
    above = 0.0
    for rank, level in ((3, "CRITICAL"), (2, "WARNING"), (1, "INFO")):
        above += shares.get(level, 0.0)
        if above > 0:
            cut = np.quantile(score[ok], 1 - min(1.0, above))
            st = np.where(ok & (score >= cut) & (st == 0), rank, st)
    return st


def add_predictors(df: pd.DataFrame, cfg: MonitorConfig) -> dict[str, dict[str, str]]:
    """Columns of every predictor per side (monitor, baselines, each component alone)."""
    preds = {"monitor": {"long": "long_risk", "short": "short_risk"}}
    for side in ("long", "short"):
        for name, s in evaluate.side_scores(df, side).items():
            df[f"{name}_{side}"] = s
    for name in BASELINES:
        preds[name] = {side: f"{name}_{side}" for side in ("long", "short")}
    z = evaluate.component_z(df, cfg.scoring)
    for side, frame in z.items():
        for comp in COMPONENTS:
            df[f"z_{comp}_{side}"] = frame[comp].to_numpy()
    for comp in COMPONENTS:
        preds[f"component:{comp}"] = {side: f"z_{comp}_{side}" for side in ("long", "short")}
    return preds


def _jsonable(ev: evaluate.Evaluation) -> dict:
    key = lambda k: "|".join(str(x) for x in k)  # noqa: E731
    return {"auc": {key(k): v for k, v in ev.auc.items()},
            "levels": {key(k): v for k, v in ev.levels.items()},
            "time_share": ev.time_share}


def full(df: pd.DataFrame, price: pd.DataFrame, cfg: MonitorConfig,
         spec: evaluate.LabelSpec, args, speed: dict) -> dict:
    wm = cfg.pipeline.window_minutes
    preds = add_predictors(df, cfg)
    shares = {lv: float(np.mean(df["monitor_state"] == r))
              for lv, r in (("INFO", 1), ("WARNING", 2), ("CRITICAL", 3))}
    for name in ("persistence", "funding"):
        df[f"{name}_state"] = _matched_state(
            np.fmax(df[f"{name}_long"], df[f"{name}_short"]).to_numpy(), shares)
    states = {"monitor": "monitor_state", "seed_formula": "seed_level",
              "persistence": "persistence_state", "funding": "funding_state"}
    ev = evaluate.evaluate(df, spec, wm, preds, states)
    return {
        "label": {"version": metrics.LABEL_VERSION, "top_share": spec.top_share,
                  "min_bp": spec.min_bp, "merge_gap_windows": spec.merge_gap,
                  "horizons_windows": evaluate.horizons(spec, wm), "window_minutes": wm},
        "inputs": [str(p) for p in args.inputs], "config": str(args.config_path),
        "commit": args.commit, "started": args.started,
        "span": [str(df["window_start"].min()), str(df["window_start"].max())],
        "speed": speed,
        "predictors": {name: _jsonable(e) for name, e in ev.items()},
    }


def _fmt(v, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{100 * v:.1f} %" if pct else f"{v:.3f}"


def markdown(result: dict) -> str:
    lab = result["label"]
    preds = result["predictors"]
    lines = ["# Backtest report", "",
             f"Inputs: {', '.join(result['inputs'])}; config {result['config']}; commit "
             f"{result['commit']}; span {result['span'][0]} .. {result['span'][1]}.", "",
             f"Label v{lab['version']}: cascade window = the side's liquidations / previous OI "
             f"in the asset's top {100 * lab['top_share']:g} % (and >= {lab['min_bp']:g} bp); "
             f"episodes merged across gaps of {lab['merge_gap_windows']} windows; target = an "
             f"episode window within H = {lab['horizons_windows']} windows of "
             f"{lab['window_minutes']} min.", ""]
    sp = result["speed"]
    lines += [f"Speed: {sp['events']:,} lines in {sp['flink_seconds']} s of Flink batch "
              f"({sp['events_per_s']:,} events/s, {sp['history_days_per_hour']:,} days of "
              f"history per hour), {sp['assets']} assets, {sp['rows']:,} rows, "
              f"{sp['rejected_lines']} rejected lines, {sp['chunks']} chunk(s).", ""]
    for h in lab["horizons_windows"]:
        lines += [f"## H = {h} window(s): ROC AUC / PR AUC, all assets", "",
                  "| predictor | long ROC | long PR | short ROC | short PR |",
                  "|---|---|---|---|---|"]
        for name, p in preds.items():
            if not p["auc"]:
                continue
            lo, sh = p["auc"].get(f"all|long|{h}", {}), p["auc"].get(f"all|short|{h}", {})
            lines.append(f"| {name} | {_fmt(lo.get('roc_auc'))} | {_fmt(lo.get('pr_auc'))} | "
                         f"{_fmt(sh.get('roc_auc'))} | {_fmt(sh.get('pr_auc'))} |")
        lines += ["", f"Levels (alerts = the state rising to the level or above), H = {h}:", "",
                  "| predictor | side | level | episodes | recall | detected only | precision "
                  "| lead p10/p50/p90 min | alerts/asset-day | false CRITICAL/asset-week |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, p in preds.items():
            for side in ("long", "short"):
                for level in ("WARNING", "CRITICAL"):
                    f = p["levels"].get(f"all|{side}|{h}|{level}")
                    if not f:
                        continue
                    lead = "/".join("-" if q is None else f"{q:.0f}"
                                    for q in f["lead_minutes_p10_p50_p90"])
                    lines.append(
                        f"| {name} | {side} | {level} | {f['episodes']} | "
                        f"{_fmt(f['recall'], True)} | {f['detected_only']} | "
                        f"{_fmt(f['precision'], True)} | {lead} | "
                        f"{_fmt(f['alerts_per_asset_day'])} | "
                        f"{_fmt(f.get('false_critical_per_asset_week'))} |")
        lines.append("")
    lines += ["## Share of asset-time per level", "", "| predictor | INFO | WARNING | CRITICAL |",
              "|---|---|---|---|"]
    for name, p in preds.items():
        if p["time_share"]:
            ts = p["time_share"]
            lines.append(f"| {name} | {_fmt(ts['INFO'], True)} | {_fmt(ts['WARNING'], True)} | "
                         f"{_fmt(ts['CRITICAL'], True)} |")
    if "calibration" in result:
        lines += ["", "## Calibration (out of sample only)", "",
                  "```", json.dumps(result["calibration"]["summary"], indent=1), "```"]
    return "\n".join(lines) + "\n"


def write(result: dict, df: pd.DataFrame, price: pd.DataFrame, cfg: MonitorConfig,
          spec: evaluate.LabelSpec, out: Path) -> None:
    (out / "figures.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "report.md").write_text(markdown(result))
    wm = cfg.pipeline.window_minutes
    h = evaluate.horizons(spec, wm)[0]
    # PR curves, long side, first horizon.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    leads = []
    for ax, side in zip(axes, ("long", "short"), strict=True):
        ys, scores = [], {n: [] for n in ("monitor", *BASELINES)}
        for _base, g, eps in evaluate._series(df, side, spec):
            ys.append(metrics.target(len(g), eps, h))
            cols = {"monitor": f"{side}_risk", **{b: f"{b}_{side}" for b in BASELINES}}
            for n, c in cols.items():
                scores[n].append(g[c].to_numpy(dtype=float))
            if side == "long":
                r = metrics.level_result(g["monitor_state"].to_numpy() >= 2, eps, h)
                leads += [x * wm for x in r.leads]
        y = np.concatenate(ys)
        for n, parts in scores.items():
            s = np.concatenate(parts)
            ok = ~np.isnan(s)
            if y[ok].any():
                p, r, _ = precision_recall_curve(y[ok], s[ok])
                ax.plot(r, p, label=n)
        ax.set(title=f"{side}: episode within {h} window(s)", xlabel="recall", ylabel="precision")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "pr_curves.png", dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(leads, bins=20)
    ax.set(title="lead of the first WARNING before a long episode", xlabel="minutes",
           ylabel="episodes")
    fig.tight_layout()
    fig.savefig(out / "lead_times.png", dpi=90)
    plt.close(fig)
    timelines(df, price, spec, wm, out, n=6)


def timelines(df: pd.DataFrame, price: pd.DataFrame, spec: evaluate.LabelSpec, wm: int,
              out: Path, n: int) -> None:
    """One chart per episode (the largest n): price, risk and components, levels, liquidations."""
    rows = df.merge(price, on=["base", "window_start"], how="left")
    found = []
    for side in ("long", "short"):
        for base, g, eps in evaluate._series(rows, side, spec):
            for a, b in eps:
                found.append((float(g[f"liq_{side}_usd"].iloc[a: b + 1].sum()), side, base, a, b))
    found.sort(reverse=True)
    for k, (_, side, base, a, b) in enumerate(found[:n]):
        g = rows[rows["base"] == base].reset_index(drop=True)
        lo, hi = max(0, a - 40), min(len(g), b + 20)
        w = g.iloc[lo:hi]
        fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
        axes[0].plot(w["window_start"], w["close"])
        axes[0].set_ylabel("price")
        axes[1].plot(w["window_start"], w[f"{side}_risk"], label=f"{side} risk", color="k")
        for comp in COMPONENTS:
            col = f"z_{comp}_{side}"
            if col in w and w[col].notna().any():
                axes[1].plot(w["window_start"], 50 + 10 * w[col], lw=0.8, label=f"50+10z {comp}")
        axes[1].legend(fontsize=6, ncol=3)
        axes[2].step(w["window_start"], w["monitor_state"], where="post")
        axes[2].set_yticks([0, 1, 2, 3], ["none", "INFO", "WARN", "CRIT"])
        axes[3].bar(w["window_start"], w[f"liq_{side}_usd"], width=wm / 1440 * 0.8)
        axes[3].set_ylabel(f"{side} liq USD")
        for ax in axes:
            ax.axvspan(g["window_start"].iloc[a], g["window_start"].iloc[b], color="r", alpha=0.1)
        axes[0].set_title(f"{base} {side} episode from {g['window_start'].iloc[a]}")
        fig.tight_layout()
        fig.savefig(out / f"timeline_{k}_{base}_{side}.png", dpi=80)
        plt.close(fig)

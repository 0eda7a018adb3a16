"""Walk-forward calibration of the component weights and the level thresholds.

The train span is cut into folds+1 consecutive parts; fold k fits on parts 0..k-1 and is
judged on part k only, so every reported figure is out of sample. The candidate config is
then fitted on the whole train span, judged on --test (never fitted on), and written with
a stamp of its data span and sources. Fitting:
- weights: a logistic regression of "episode within the first horizon" on the components'
  z-scores (missing = 0), long and short rows pooled; its coefficients, scaled so the
  largest is 3, become the weights, signs included (a component that lowers the risk of a
  cascade gets a negative weight: the sign of stablecoin pressure is measured here);
- thresholds: the risk quantiles of the fit span at which INFO / WARNING / CRITICAL hold
  the target shares of asset-time (20 / 5 / 1 %, less what hysteresis adds).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression

from backtest import evaluate, metrics
from flink_jobs.config import COMPONENTS, MonitorConfig

TARGET_SHARES = {"INFO": 0.20, "WARNING": 0.05, "CRITICAL": 0.01}
HYSTERESIS_ALLOWANCE = 0.7  # entry quantiles aim below the targets: states last longer


def _xy(df: pd.DataFrame, cfg: MonitorConfig, spec: evaluate.LabelSpec
        ) -> tuple[np.ndarray, np.ndarray]:
    wm = cfg.pipeline.window_minutes
    h = evaluate.horizons(spec, wm)[0]
    z = evaluate.component_z(df, cfg.scoring)
    xs, ys = [], []
    for side in ("long", "short"):
        frame = z[side].set_index(df.index)
        for _base, g, eps in evaluate._series(df, side, spec):
            ys.append(metrics.target(len(g), eps, h))
            xs.append(np.nan_to_num(frame.loc[g.index, list(COMPONENTS)].to_numpy()))
    return np.vstack(xs), np.concatenate(ys).astype(int)


def fit(df: pd.DataFrame, cfg: MonitorConfig, spec: evaluate.LabelSpec) -> MonitorConfig:
    x, y = _xy(df, cfg, spec)
    if len(np.unique(y)) < 2:
        raise ValueError("the fit span has no episode (or only episodes): nothing to fit")
    model = LogisticRegression(C=1.0, max_iter=500).fit(x, y)
    coef = model.coef_[0]
    weights = 3.0 * coef / np.max(np.abs(coef))
    raw = cfg.model_dump()
    for comp, w in zip(COMPONENTS, weights, strict=True):
        raw["scoring"]["components"][comp]["weight"] = round(float(w), 3)
    cand = MonitorConfig.model_validate(raw)
    risk = evaluate.rescore(df, cand.scoring, cand.pipeline.window_minutes)["risk"].to_numpy()
    for level, share in TARGET_SHARES.items():
        q = float(np.quantile(risk, 1 - share * HYSTERESIS_ALLOWANCE))
        raw["scoring"]["alerts"][f"{level.lower()}_risk"] = round(q, 4)
    a = raw["scoring"]["alerts"]
    a["warning_risk"] = max(a["warning_risk"], a["info_risk"])
    a["critical_risk"] = max(a["critical_risk"], a["warning_risk"])
    return MonitorConfig.model_validate(raw)


def judge(df: pd.DataFrame, cand: MonitorConfig, spec: evaluate.LabelSpec) -> dict:
    """Out-of-sample figures of a candidate on rows it was not fitted on."""
    wm = cand.pipeline.window_minutes
    s = evaluate.rescore(df, cand.scoring, wm)
    rows = df.copy()
    rows["cand_long"], rows["cand_short"], rows["cand_state"] = (
        s["long_risk"], s["short_risk"], s["state"])
    ev = evaluate.evaluate(rows, spec, wm, {"candidate": {"long": "cand_long",
                                                          "short": "cand_short"}},
                           {"candidate": "cand_state"})["candidate"]
    h = evaluate.horizons(spec, wm)[0]
    out = {"rows": len(rows), "time_share": ev.time_share}
    for side in ("long", "short"):
        out[f"{side}_roc_auc"] = ev.auc.get(("all", side, h), {}).get("roc_auc")
        out[f"{side}_pr_auc"] = ev.auc.get(("all", side, h), {}).get("pr_auc")
        w = ev.levels.get(("all", side, h, "WARNING"), {})
        out[f"{side}_warning_recall"] = w.get("recall")
        out[f"{side}_warning_precision"] = w.get("precision")
    return out


def walk_forward(df: pd.DataFrame, cfg: MonitorConfig, spec: evaluate.LabelSpec, args) -> dict:
    lo, hi = args.train_span
    train = df[(df["window_start"] >= lo) & (df["window_start"] < hi)]
    edges = pd.date_range(lo, hi, periods=args.folds + 2)
    folds = []
    for k in range(1, args.folds + 1):
        fit_rows = train[train["window_start"] < edges[k]]
        test_rows = train[(train["window_start"] >= edges[k])
                          & (train["window_start"] < edges[k + 1])]
        try:
            cand = fit(fit_rows, cfg, spec)
        except ValueError as exc:
            folds.append({"fold": k, "skipped": str(exc)})
            continue
        folds.append({"fold": k, "fit_until": str(edges[k]),
                      "test": [str(edges[k]), str(edges[k + 1])],
                      "weights": cand.scoring.components.weights(),
                      **judge(test_rows, cand, spec)})
    final = fit(train, cfg, spec)
    result = {"folds": folds, "final_weights": final.scoring.components.weights(),
              "final_thresholds": {k: getattr(final.scoring.alerts, f"{k}_risk")
                                   for k in ("info", "warning", "critical")}}
    if args.test_span:
        t0, t1 = args.test_span
        held = df[(df["window_start"] >= t0) & (df["window_start"] < t1)]
        result["test"] = {"span": [str(t0), str(t1)], **judge(held, final, spec)}
        result["test_default_config"] = judge(held, cfg, spec)
    stamp = (f"# Candidate monitor config from python -m backtest --calibrate, "
             f"{datetime.now(UTC).isoformat(timespec='seconds')}\n"
             f"# fitted on {lo} .. {hi} ({args.folds} walk-forward folds), commit {args.commit}\n"
             f"# sources: {', '.join(str(p) for p in args.inputs)}\n"
             f"# label v{metrics.LABEL_VERSION}: top {spec.top_share} of liquidations/OI, "
             f"H = {spec.horizons_minutes} min; out-of-sample figures in report.md\n")
    path = args.out / "candidate-monitor.yaml"
    path.write_text(stamp + yaml.safe_dump(final.model_dump(), sort_keys=False))
    result["candidate_config"] = str(path)
    keys = ("long_roc_auc", "short_roc_auc", "long_warning_recall", "long_warning_precision")
    ok = [f for f in folds if "skipped" not in f]
    result["summary"] = {
        "folds_out_of_sample_mean": {k: float(np.nanmean([np.nan if f[k] is None else f[k]
                                                          for f in ok])) if ok else None
                                     for k in keys},
        "test": result.get("test"), "test_default_config": result.get("test_default_config"),
        "final_weights": result["final_weights"], "final_thresholds": result["final_thresholds"]}
    return result

"""Labels and metrics of the backtest, as pure functions on one asset's and side's series
(numpy arrays in window order), so tests can check them on tiny hand-made series.

Label definition v1 (docs/backtest.md):
- a window is a *cascade window* of a side when that side's liquidations in it, in basis
  points of the previous window's open interest, are at least `min_bp` and in the top
  `top_share` of the asset's own windows over the backtest span;
- *episodes* are runs of cascade windows, merged when at most `merge_gap` windows apart;
- the target of a score at window t is "an episode window within the next H windows"
  (t+1 .. t+H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

LABEL_VERSION = 1


def cascade_windows(liq_usd: np.ndarray, oi_prev_usd: np.ndarray, top_share: float,
                    min_bp: float) -> np.ndarray:
    """True where the window's liquidations / previous OI are in the asset's top share."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(oi_prev_usd > 0, 1e4 * liq_usd / oi_prev_usd, np.nan)
    valid = ~np.isnan(bp)
    if not valid.any():
        return np.zeros(len(bp), dtype=bool)
    cut = np.quantile(bp[valid], 1.0 - top_share)
    return valid & (bp >= max(cut, min_bp)) & (bp > 0)


def episodes(flags: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """(first, last) window index of each run of True, runs at most merge_gap apart merged."""
    idx = np.flatnonzero(flags)
    out: list[tuple[int, int]] = []
    for i in idx:
        if out and i - out[-1][1] <= merge_gap + 1:
            out[-1] = (out[-1][0], int(i))
        else:
            out.append((int(i), int(i)))
    return out


def target(n: int, eps: list[tuple[int, int]], horizon: int) -> np.ndarray:
    """1 at window t when an episode window lies within t+1 .. t+horizon."""
    flags = np.zeros(n + horizon + 1, dtype=bool)
    for a, b in eps:
        flags[a: b + 1] = True
    ahead = np.zeros(n, dtype=bool)
    for k in range(1, horizon + 1):
        ahead |= flags[k: k + n]
    return ahead


def auc(y: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    """ROC AUC and PR AUC (average precision) of score for y, NaN scores left out."""
    ok = ~np.isnan(score)
    y, s = y[ok].astype(int), score[ok]
    if len(np.unique(y)) < 2:
        return {"roc_auc": None, "pr_auc": None, "base_rate": float(y.mean()) if len(y) else None,
                "rows": len(y)}
    return {"roc_auc": float(roc_auc_score(y, s)), "pr_auc": float(average_precision_score(y, s)),
            "base_rate": float(y.mean()), "rows": len(y)}


@dataclass
class LevelResult:
    episodes: int
    warned: int            # an alert at this level or above in [start - H, start - 1]
    detected: int          # else one from the start on, during the episode (a detection)
    leads: list[float]     # windows from the first alert to the episode start, warned only
    alerts: int            # onsets: the state rising to this level or above
    hits: int              # onsets followed by an episode window within [t, t + H]

    @property
    def recall(self) -> float | None:
        return self.warned / self.episodes if self.episodes else None

    @property
    def precision(self) -> float | None:
        return self.hits / self.alerts if self.alerts else None


def level_result(on: np.ndarray, eps: list[tuple[int, int]], horizon: int) -> LevelResult:
    """Warnings and detections of the episodes by an alert-on series (state >= level)."""
    on = np.asarray(on, dtype=bool)
    n = len(on)
    flags = np.zeros(n, dtype=bool)
    for a, b in eps:
        flags[a: b + 1] = True
    onsets = np.flatnonzero(on & ~np.concatenate([[False], on[:-1]]))
    hits = sum(bool(flags[t: t + horizon + 1].any()) for t in onsets)
    warned = detected = 0
    leads: list[float] = []
    for a, b in eps:
        before = np.flatnonzero(on[max(0, a - horizon): a])  # the start's own row already
        # contains the episode's liquidations: an alert there is a detection
        if len(before):
            warned += 1
            leads.append(float(a - (max(0, a - horizon) + before[0])))
        elif on[a: b + 1].any():
            detected += 1
    return LevelResult(len(eps), warned, detected, leads, len(onsets), hits)


def quantiles(values: list[float], qs: tuple[float, ...] = (0.1, 0.5, 0.9)) -> list[float | None]:
    if not values:
        return [None] * len(qs)
    return [float(np.quantile(values, q)) for q in qs]


def random_alerts(on: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same alert-on series shifted in time by a random offset: the same rate and the
    same run lengths, no information (the 'random alerts at the same rate' baseline)."""
    return np.roll(on, int(rng.integers(1, max(2, len(on)))))

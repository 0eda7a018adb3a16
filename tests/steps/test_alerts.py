"""Step: alerts (sql/flink/52). The alert state of each asset from its all-venue rows:
escalation at once, hysteresis and cooldown on the way down, thin data frozen; an alert row
when the state changes (docs/scoring.md, "Alert levels"), with config/monitor.yaml's
levels: entry above 85 / 97 / 99.5, leave 5 below the entry, not within 5 windows of a
change, frozen below confidence 0.5."""

from __future__ import annotations

from typing import Any

import pytest

from harness.job_steps import JobSteps, Rows, assert_rows

RISK = "minute base venue risk pressure confidence side"
# (risk, pressure) per minute from 14:00: INFO, WARNING, stays WARNING (96 > 92),
# CRITICAL at 14:04, stays (96 > 94.5), then 93 and 92.5 fail the stay condition but the
# cooldown holds until 14:09, where 91 fails WARNING's too (91 <= 92): INFO, which 84 and
# (cooldown again) 70 keep. No level needs pressure.
EXAMPLE = [(86, -10), (97.5, -8), (96, -20), (98.5, -35), (99.7, -40), (99.0, -40),
           (96.0, -40), (93.0, -25), (92.5, -10), (91.0, -5), (84.0, -5), (70.0, -5)]
INPUTS = {"risk_scores": Rows.of(
    RISK,
    *((f"14:{m:02d}", "A", "all", float(r), float(p), 1.0, "long")
      for m, (r, p) in enumerate(EXAMPLE)),
    # Venue rows never alert, whatever they score.
    ("14:03", "A", "bybit", 99.9, -50.0, 1.0, "long"),
    # Thin data (confidence below 0.5) neither raises nor clears a level.
    ("14:00", "T", "all", 98.0, -10.0, 1.0, "long"),
    ("14:01", "T", "all", 10.0, -10.0, 0.3, "long"),
    ("14:02", "T", "all", 99.9, -60.0, 0.3, "long"),
    ("14:06", "T", "all", 10.0, -10.0, 1.0, "short"),
)}
ALERTS = "alert_id base window_start level previous_level side risk pressure confidence"


@pytest.fixture(scope="module")
def out(job_steps: JobSteps) -> dict[str, list[dict[str, Any]]]:
    return job_steps.run(INPUTS, {"alerts": ALERTS,
                                  "asset_alert_state": "base window_start state_level"})


def test_the_state_follows_the_documented_example(out) -> None:
    levels = ["INFO", "WARNING", "WARNING", "WARNING", "CRITICAL", "CRITICAL", "CRITICAL",
              "CRITICAL", "CRITICAL", "INFO", "INFO", "INFO"]
    assert_rows([r for r in out["asset_alert_state"] if r["base"] == "A"], Rows.of(
        "base window_start state_level",
        *(("A", f"14:{m:02d}", level) for m, level in enumerate(levels))))


def test_an_alert_is_written_for_each_change_only(out) -> None:
    assert_rows([r for r in out["alerts"] if r["base"] == "A"], Rows.of(
        ALERTS,
        ("A:2026-11-20T14:00:00Z:INFO", "A", "14:00", "INFO", None, "long", 86.0, -10.0, 1.0),
        ("A:2026-11-20T14:01:00Z:WARNING", "A", "14:01", "WARNING", "INFO", "long", 97.5,
         -8.0, 1.0),
        ("A:2026-11-20T14:04:00Z:CRITICAL", "A", "14:04", "CRITICAL", "WARNING", "long", 99.7,
         -40.0, 1.0),
        ("A:2026-11-20T14:09:00Z:INFO", "A", "14:09", "INFO", "CRITICAL", "long", 91.0, -5.0,
         1.0),
    ))


def test_thin_data_freezes_the_state_and_none_is_an_alert_too(out) -> None:
    assert_rows([r for r in out["alerts"] if r["base"] == "T"], Rows.of(
        ALERTS,
        ("T:2026-11-20T14:00:00Z:WARNING", "T", "14:00", "WARNING", None, "long", 98.0, -10.0,
         1.0),
        ("T:2026-11-20T14:06:00Z:NONE", "T", "14:06", "NONE", "WARNING", "short", 10.0, -10.0,
         1.0),
    ))

"""The provisioned dashboards as data: every panel query and annotation query, the template
variables resolved against the database, and each query expanded exactly as Grafana would
send it (report.grafana_sql). Used by the dashboard tests and the storage benchmark, so both
run the real panel SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import yaml

from lcm.paths import GRAFANA_DIR
from report.grafana_sql import ALL, TimeRange, Variable, calculate_interval_ms, expand

PROVISIONING = GRAFANA_DIR / "provisioning"
DASHBOARD_DIR = PROVISIONING / "dashboards" / "json"
DATASOURCE_FILE = PROVISIONING / "datasources" / "timescaledb.yaml"
# What a browser panel asks for when the panel sets no maxDataPoints: about its width in
# pixels; a full-width panel on a common screen.
DEFAULT_MAX_DATA_POINTS = 1200


def datasource() -> dict[str, Any]:
    (ds,) = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))["datasources"]
    return ds


def load_dashboards() -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON, for every file in the provisioning folder."""
    out = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        dash = json.loads(path.read_text(encoding="utf-8"))
        out[dash["uid"]] = dash
    return out


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """All panels, including those nested in collapsed rows."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # uid
    label: str  # where it comes from, for messages
    raw_sql: str
    format: str  # "time_series" or "table"
    max_data_points: int
    min_interval: str


def panel_queries(dashboard: dict[str, Any]) -> Iterator[PanelQuery]:
    """Every panel target and annotation query of one dashboard."""
    min_default = datasource()["jsonData"].get("timeInterval", "1m")
    uid = dashboard["uid"]
    for panel in panels(dashboard):
        for t in panel.get("targets", []):
            yield PanelQuery(uid, f"{uid} panel {panel['id']} {panel['title']!r} {t['refId']}",
                             t["rawSql"], t.get("format", "time_series"),
                             panel.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS),
                             panel.get("interval") or min_default)
    for ann in dashboard.get("annotations", {}).get("list", []):
        if "target" in ann:
            yield PanelQuery(uid, f"{uid} annotation {ann['name']!r}", ann["target"]["rawSql"],
                             ann["target"].get("format", "table"), DEFAULT_MAX_DATA_POINTS,
                             min_default)


def variable_queries(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in dashboard.get("templating", {}).get("list", []) if v["type"] == "query"]


def _query_text(var: dict[str, Any]) -> str:
    q = var["query"]
    return q["rawSql"] if isinstance(q, dict) else q


def resolve_variables(db: psycopg.Connection, dashboard: dict[str, Any], rng: TimeRange,
                      chosen: Mapping[str, str | list[str]] | None = None,
                      timescaledb: bool = False) -> dict[str, Variable]:
    """Run the variable queries in order (a later one may use an earlier one, as $asset in
    $venue's query) and select as Grafana does on load: the URL choice (`chosen`), else the
    saved current value if still an option (or All), else the first option."""
    chosen = dict(chosen or {})
    out: dict[str, Variable] = {}
    for var in variable_queries(dashboard):
        sql = expand(_query_text(var), rng, out, timescaledb=timescaledb)
        options = [str(r[0]) for r in db.execute(sql).fetchall()]
        multi, include_all = bool(var.get("multi")), bool(var.get("includeAll"))
        saved = var.get("current", {}).get("value")
        if var["name"] in chosen:
            value: str | list[str] = chosen[var["name"]]
        elif saved in (ALL, [ALL]) and include_all:
            value = ALL
        elif saved and (saved if isinstance(saved, list) else [saved])[0] in options:
            value = saved
        else:
            value = options[0] if options else ""
        if multi and isinstance(value, str) and value != ALL:
            value = [value]
        out[var["name"]] = Variable(var["name"], value, multi=multi, include_all=include_all,
                                    all_value=var.get("allValue") or None,
                                    options=tuple(options))
    return out


def expand_query(q: PanelQuery, rng: TimeRange, variables: Mapping[str, Variable],
                 timescaledb: bool = False) -> str:
    interval = calculate_interval_ms(rng, q.max_data_points, q.min_interval)
    return expand(q.raw_sql, rng, variables, interval_ms=interval, timescaledb=timescaledb)

"""Grafana provisioning: the files parse, the datasource holds no secret, and every panel
query runs against the real schema with the read-only role (DESIGN.md §4: no panel query
may reference a column the schema lacks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
import yaml

from flink_jobs.config import REPO_DIR, Connections

PROVISIONING = Path(REPO_DIR, "grafana", "provisioning")
DATASOURCE_FILE = PROVISIONING / "datasources" / "timescaledb.yaml"
PROVIDERS_FILE = PROVISIONING / "dashboards" / "dashboards.yaml"
DASHBOARD_DIR = PROVISIONING / "dashboards" / "json"
CONTAINER_DASHBOARD_DIR = "/etc/grafana/provisioning/dashboards/json"
DS_UID = "lcm-timescaledb"
DS_TYPE = "grafana-postgresql-datasource"

# What Grafana would substitute, fixed so the test is deterministic.
FROM, TO = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
ASSETS = "'BTC','ETH'"

ENV_REF = re.compile(r"^\$(\{[A-Z_][A-Z0-9_]*\}|[A-Z_][A-Z0-9_]*)$")
ONLY_ENV_REFS = re.compile(r"^(\$\{[A-Z_][A-Z0-9_]*\}|\$[A-Z_][A-Z0-9_]*|:)+$")


def _datasources() -> list[dict]:
    doc = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))
    assert doc["apiVersion"] == 1
    return doc["datasources"]


def _dashboards() -> dict[Path, dict]:
    files = sorted(DASHBOARD_DIR.glob("*.json"))
    assert files, f"no dashboard JSON in {DASHBOARD_DIR}"
    return {f: json.loads(f.read_text(encoding="utf-8")) for f in files}


def _panels(dashboard: dict) -> list[dict]:
    """All panels, including those nested in collapsed rows."""
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _queries() -> list[tuple[str, str]]:
    """(label, raw SQL) for every panel target and every query variable."""
    out = []
    for path, dash in _dashboards().items():
        for panel in _panels(dash):
            for t in panel.get("targets", []):
                out.append((f"{path.name}: panel {panel['id']} {panel['title']!r} "
                            f"target {t['refId']}", t["rawSql"]))
        for var in dash.get("templating", {}).get("list", []):
            if var["type"] == "query":
                query = var["query"]
                query = query["rawSql"] if isinstance(query, dict) else query
                out.append((f"{path.name}: variable {var['name']}", query))
    return out


def expand_macros(sql: str) -> str:
    """Expand the Grafana macros and variables these dashboards use, as Grafana would."""
    sql = re.sub(r"\$__timeFilter\(\s*([^)]+?)\s*\)",
                 lambda m: f"{m.group(1)} BETWEEN '{FROM}' AND '{TO}'", sql)
    sql = re.sub(r"\$__timeFrom\(\s*\)", f"'{FROM}'", sql)
    sql = re.sub(r"\$__timeTo\(\s*\)", f"'{TO}'", sql)
    sql = re.sub(r"\$__interval_ms\b", "60000", sql)
    sql = re.sub(r"\$__interval\b", "'1m'", sql)
    sql = re.sub(r"\$\{asset(:sqlstring)?\}", ASSETS, sql)
    sql = re.sub(r"\$asset\b", ASSETS, sql)
    return sql


# ---------------------------------------------------------------- static checks


def test_datasource_is_read_only_role_from_environment():
    (ds,) = _datasources()
    assert ds["type"] == DS_TYPE
    assert ds["uid"] == DS_UID
    assert ds["isDefault"] is True
    assert ds["editable"] is False
    # host, port, database, user, password: environment references only, never literals
    assert ONLY_ENV_REFS.match(ds["url"]), ds["url"]
    assert "PGHOST" in ds["url"] and "PGPORT" in ds["url"]
    assert ENV_REF.match(ds["database"]) and "LCM_DB" in ds["database"]
    assert ENV_REF.match(ds["user"]), ds["user"]
    assert "LCM_READER_USER" in ds["user"], "Grafana must use the read-only role"
    password = ds["secureJsonData"]["password"]
    assert ENV_REF.match(password) and "LCM_READER_PASSWORD" in password
    assert "password" not in ds and "password" not in ds.get("jsonData", {})
    assert "WRITER" not in DATASOURCE_FILE.read_text(encoding="utf-8")
    j = ds["jsonData"]
    assert j["sslmode"] == "disable"
    assert j["postgresVersion"] == 1600
    assert j["timescaledb"] is True
    assert j["timeInterval"] == "1m"
    if "database" in j:
        assert j["database"] == ds["database"]


def test_datasource_env_vars_are_passed_by_compose():
    compose = yaml.safe_load(Path(REPO_DIR, "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["services"]["grafana"]["environment"]
    (ds,) = _datasources()
    text = " ".join([ds["url"], ds["database"], ds["user"], ds["secureJsonData"]["password"]])
    for name in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", text):
        assert name in env, f"{name} is used by the datasource but not set for grafana"


def test_dashboard_provider_points_at_the_json():
    doc = yaml.safe_load(PROVIDERS_FILE.read_text(encoding="utf-8"))
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Liquidation Cascade Monitor"
    assert provider["options"]["path"] == CONTAINER_DASHBOARD_DIR
    # the compose mount puts grafana/provisioning at /etc/grafana/provisioning
    assert DASHBOARD_DIR.relative_to(PROVISIONING).as_posix() == "dashboards/json"


def test_overview_dashboard_shape():
    dash = json.loads((DASHBOARD_DIR / "overview.json").read_text(encoding="utf-8"))
    assert dash["uid"] == "lcm-overview"
    assert dash["schemaVersion"] == 39
    assert dash["refresh"] == "1m"
    assert dash["time"] == {"from": "now-6h", "to": "now"}
    titles = {p["title"]: p for p in _panels(dash)}
    for title, kind in [
        ("Liquidation Risk by asset", "timeseries"),
        ("Stablecoin Pressure", "timeseries"),
        ("Current alert level", "stat"),
        ("Latest alerts", "table"),
        ("Liquidations, long vs short (USD per minute)", "timeseries"),
        ("Dead letters (24h)", "stat"),
    ]:
        assert titles[title]["type"] == kind, title
    (asset,) = [v for v in dash["templating"]["list"] if v["name"] == "asset"]
    assert asset["multi"] is True and asset["includeAll"] is True

    def steps(title):
        return [s["value"] for s in
                titles[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    assert steps("Liquidation Risk by asset") == [None, 30, 50, 70]
    assert steps("Stablecoin Pressure") == [None, -30, 0]
    mappings = titles["Current alert level"]["fieldConfig"]["defaults"]["mappings"]
    values = next(m["options"] for m in mappings if m["type"] == "value")
    assert {k: v["color"] for k, v in values.items()} == {
        "INFO": "blue", "WARNING": "orange", "CRITICAL": "red"}
    special = next(m["options"] for m in mappings if m["type"] == "special")
    assert special["match"] == "null" and special["result"]["text"] == "none"


def test_panels_use_the_provisioned_datasource_and_unique_ids():
    for path, dash in _dashboards().items():
        panels = _panels(dash)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids {ids}"
        for panel in panels:
            if panel["type"] == "row":
                continue
            where = f"{path.name}: panel {panel['id']} {panel['title']!r}"
            assert panel["datasource"] == {"type": DS_TYPE, "uid": DS_UID}, where
            assert panel["targets"], f"{where} has no query"
            for t in panel["targets"]:
                assert t["datasource"] == {"type": DS_TYPE, "uid": DS_UID}, where
                assert t["format"] in ("time_series", "table"), where
                assert t["rawQuery"] is True and t["editorMode"] == "code", where
                assert t["rawSql"].strip(), where
        for var in dash.get("templating", {}).get("list", []):
            if var["type"] == "query":
                assert var["datasource"]["uid"] == DS_UID, var["name"]


def test_macro_expansion():
    sql = expand_macros("SELECT 1 WHERE $__timeFilter(t) AND b IN ($asset) "
                        "AND c IN (${asset}) AND d IN (${asset:sqlstring}) "
                        "AND t > $__timeFrom() AND t < $__timeTo() AND i = $__interval")
    assert "$" not in sql
    assert f"t BETWEEN '{FROM}' AND '{TO}'" in sql
    assert sql.count(ASSETS) == 3


# ---------------------------------------------------------------- against the database


@pytest.mark.stack
def test_every_panel_query_runs(stack: Connections):
    queries = _queries()
    assert len(queries) >= 7  # six panels and the asset variable
    failures = []
    with psycopg.connect(stack.dsn("reader"), connect_timeout=5, autocommit=True) as db:
        for label, raw in queries:
            sql = expand_macros(raw)
            left = re.findall(r"\$\{?\w+", sql)
            assert not left, f"{label}: unexpanded macro(s) {left} in:\n{sql}"
            try:
                db.execute(sql).fetchall()  # rows may be none: the database may be empty
            except psycopg.Error as exc:
                failures.append(f"{label}: {type(exc).__name__}: {exc}\n{sql}")
    assert not failures, "panel queries failed:\n\n" + "\n\n".join(failures)


@pytest.mark.stack
def test_reader_role_cannot_write(stack: Connections):
    with (psycopg.connect(stack.dsn("reader"), connect_timeout=5) as db,
          pytest.raises((psycopg.errors.ReadOnlySqlTransaction,
                         psycopg.errors.InsufficientPrivilege))):
        db.execute(
            "INSERT INTO alerts (base, window_start, window_end, level, risk, confidence,"
            " components) VALUES ('TEST', '2000-01-01Z', '2000-01-01 00:01Z', 'INFO', 1, 1,"
            " 'funding')")
    # psycopg rolled the transaction back on leaving the block with the error

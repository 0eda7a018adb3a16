"""Grafana provisioning: the files follow the provisioning format, the datasource holds no
secret, report.grafana_sql expands panel SQL as Grafana does (expected strings taken from
Grafana's own tests), and every panel query, expanded, runs as the read-only role against
the real schema filled by the real pipeline and returns rows (docs/dashboards.md).
"""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
import yaml

from lcm.paths import REPO_DIR
from lcm.settings import Connections
from report import dashboards as dash
from report.grafana_sql import (
    ALL,
    GrafanaSqlError,
    TimeRange,
    Variable,
    calculate_interval_ms,
    expand,
    format_interval,
    interpolate_macros,
    interpolate_variables,
)
from tests.pipeline_data import PipelineData

PROVISIONING = Path(REPO_DIR, "grafana", "provisioning")
PROVIDERS_FILE = PROVISIONING / "dashboards" / "dashboards.yaml"
CONTAINER_DASHBOARD_DIR = "/etc/grafana/provisioning/dashboards/json"
DS_REF = {"type": "grafana-postgresql-datasource", "uid": "lcm-timescaledb"}
UIDS = {"lcm-overview", "lcm-asset", "lcm-pipeline"}
SCHEMA_VERSION = 42  # Grafana 12's dashboard schema (the compose image is 12.3)

ENV_REF = re.compile(r"^\$(\{[A-Z_][A-Z0-9_]*\}|[A-Z_][A-Z0-9_]*)$")
ONLY_ENV_REFS = re.compile(r"^(\$\{[A-Z_][A-Z0-9_]*\}|\$[A-Z_][A-Z0-9_]*|:)+$")

# ---------------------------------------------------------------- report.grafana_sql

# Grafana's macros_test.go: 2018-04-12 18:00 .. 18:05 UTC.
G_RANGE = TimeRange(datetime(2018, 4, 12, 18, 0, tzinfo=UTC),
                    datetime(2018, 4, 12, 18, 5, tzinfo=UTC))


@pytest.mark.parametrize(("sql", "timescaledb", "want"), [
    ("select $__time(time_column)", False, 'select time_column AS "time"'),
    ("select min($__time(time_column))", False, 'select min(time_column AS "time")'),
    ("WHERE $__timeFilter(time_column)", False,
     "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
    ("select $__timeFrom()", False, "select '2018-04-12T18:00:00Z'"),
    ("select $__timeTo()", False, "select '2018-04-12T18:05:00Z'"),
    ("SELECT $__timeGroup(time_column,'5m'), value", False,
     'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'),
    ("SELECT $__timeGroup(time_column,'5m') as time, value", False,
     "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"),
    ("SELECT $__timeGroup(time_column,'5m')", False,
     "SELECT floor(extract(epoch from time_column)/300)*300"),
    ("SELECT $__timeGroupAlias(time_column,'5m')", False,
     'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'),
    ("$__timeGroup(time_column , '5m')", False, "floor(extract(epoch from time_column)/300)*300"),
    ("GROUP BY $__timeGroup(time_column,'5m')", True,
     "GROUP BY time_bucket('300.000s',time_column)"),
    ("GROUP BY $__timeGroup(time_column , '12d')", True,
     "GROUP BY time_bucket('1036800.000s',time_column)"),
    ("GROUP BY $__timeGroup(time_column , '20ms')", True,
     "GROUP BY time_bucket('0.020s',time_column)"),
    ("select $__unixEpochFilter(time)", False, "select time >= 1523556000 AND time <= 1523556300"),
    ("select $__unixEpochNanoFilter(time)", False,
     "select time >= 1523556000000000000 AND time <= 1523556300000000000"),
    ("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')", False,
     "SELECT floor((time_column+time_adjustment)/300)*300"),
    ("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')", False,
     'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'),
])
def test_macros_as_grafana(sql, timescaledb, want):
    assert interpolate_macros(sql, G_RANGE, timescaledb) == want


def test_time_filter_before_1970_and_fractions():
    rng = TimeRange(datetime(1960, 2, 1, 7, 0, 0, 500000, tzinfo=UTC),
                    datetime(1980, 2, 3, 8, 0, 0, 500000, tzinfo=UTC))
    assert interpolate_macros("WHERE $__timeFilter(t)", rng) == (
        "WHERE t BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'")
    assert interpolate_macros("$__unixEpochFilter(t)", rng) == (
        "t >= -312915600 AND t <= 318412800")  # Go floors: -312915599.5 -> ...600


def test_unknown_macro_and_missing_arguments_fail_clearly():
    with pytest.raises(GrafanaSqlError, match="unknown macro '__nope'"):
        interpolate_macros("SELECT $__nope(x)", G_RANGE)
    with pytest.raises(GrafanaSqlError, match=r"\$__timeGroup: needs time column"):
        interpolate_macros("SELECT $__timeGroup(x)", G_RANGE)
    with pytest.raises(GrafanaSqlError, match="timezone-aware"):
        TimeRange(datetime(2026, 1, 1), datetime(2026, 1, 2))


# Grafana's variable-interpolation.test.ts (SqlDatasource.interpolateVariable).
@pytest.mark.parametrize(("var", "want"), [
    (Variable("v", "value1"), "value1"),
    (Variable("v", "O'Brien"), "O''Brien"),
    (Variable("v", ""), ""),
    (Variable("v", "O'Brien", multi=True), "O''Brien"),
    (Variable("v", ["value1", "value2", "value3"], multi=True), "'value1','value2','value3'"),
    (Variable("v", ["O'Brien", "Smith"], multi=True), "'O''Brien','Smith'"),
    (Variable("v", [], multi=True), ""),
    (Variable("v", ["value1"], multi=True, include_all=True), "'value1'"),
    # All: every option, quoted; no options: nothing (hence = ANY(ARRAY[$v]::text[]))
    (Variable("v", ALL, multi=True, include_all=True, options=("a", "b'c")), "'a','b''c'"),
    (Variable("v", [ALL], multi=True, include_all=True, options=()), ""),
    # a custom all value goes in unformatted
    (Variable("v", ALL, include_all=True, all_value="'%'", options=("a",)), "'%'"),
])
def test_variables_as_grafana(var, want):
    assert interpolate_variables("$v", {"v": var}, {}) == want
    assert interpolate_variables("${v}", {"v": var}, {}) == want
    assert interpolate_variables("[[v]]", {"v": var}, {}) == want


def test_variable_formats_and_unknown_names():
    v = {"v": Variable("v", ["a", "b"], multi=True)}
    assert interpolate_variables("${v:csv} ${v:raw} ${v:sqlstring} ${v:pipe}", v, {}) == (
        "a,b a,b 'a','b' a|b")
    q = {"v": Variable("v", ["it's", 'say "hi"'], multi=True)}
    assert interpolate_variables("${v:sqlstring}|${v:singlequote}|${v:doublequote}", q, {}) == (
        "'it''s','say \"hi\"'|'it\\'s','say \"hi\"'|\"it's\",\"say \\\"hi\\\"\"")
    # not a variable (a macro for the server, or unknown): left as it is, like Grafana
    assert interpolate_variables("$__timeFilter(t) $other", v, {}) == "$__timeFilter(t) $other"
    with pytest.raises(GrafanaSqlError, match="format 'json'"):
        interpolate_variables("${v:json}", v, {})
    with pytest.raises(GrafanaSqlError, match="includeAll is off"):
        interpolate_variables("$v", {"v": Variable("v", ALL)}, {})


@pytest.mark.parametrize(("hours", "points", "min_interval", "want"), [
    (6, 500, "1m", "1m"),      # 43 s rounds to 30 s, raised to the 1-minute minimum
    (24, 500, "1m", "2m"),
    (72, 500, "1m", "10m"),
    (24 * 7, 500, "1m", "20m"),
    (24 * 30, 500, "1m", "1h"),
    (24 * 30, 1500, "1m", "30m"),
    (1, 1000, "10s", "10s"),
])
def test_interval_as_grafana(hours, points, min_interval, want):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rng = TimeRange(start, start + timedelta(hours=hours))
    assert format_interval(calculate_interval_ms(rng, points, min_interval)) == want


def test_expand_runs_all_three_steps():
    rng = TimeRange.parse("2026-11-20T14:00:00Z", "2026-11-20T14:15:00Z")
    sql = expand("SELECT '$__interval'::interval, $__interval_ms, ${__from}, "
                 "$__unixEpochFrom() WHERE $__timeFilter(t) AND b = ANY(ARRAY[$a]::text[])",
                 rng, {"a": Variable("a", ["BTC"], multi=True)}, interval_ms=300000)
    assert sql == ("SELECT '5m'::interval, 300000, 1795183200000, 1795183200 WHERE t BETWEEN "
                   "'2026-11-20T14:00:00Z' AND '2026-11-20T14:15:00Z' AND "
                   "b = ANY(ARRAY['BTC']::text[])")


# ---------------------------------------------------------------- files


def _datasource() -> dict:
    doc = yaml.safe_load(dash.DATASOURCE_FILE.read_text(encoding="utf-8"))
    assert doc["apiVersion"] == 1
    (ds,) = doc["datasources"]
    return ds


def test_datasource_is_read_only_role_from_environment():
    ds = _datasource()
    assert ds["type"] == DS_REF["type"] and ds["uid"] == DS_REF["uid"]
    assert ds["isDefault"] is True and ds["editable"] is False
    assert ONLY_ENV_REFS.match(ds["url"]) and "PGHOST" in ds["url"] and "PGPORT" in ds["url"]
    assert ENV_REF.match(ds["database"]) and "LCM_DB" in ds["database"]
    assert ENV_REF.match(ds["user"]) and "LCM_READER_USER" in ds["user"]
    password = ds["secureJsonData"]["password"]
    assert ENV_REF.match(password) and "LCM_READER_PASSWORD" in password
    assert "password" not in ds and "password" not in ds.get("jsonData", {})
    assert "WRITER" not in dash.DATASOURCE_FILE.read_text(encoding="utf-8")
    j = ds["jsonData"]
    assert (j["postgresVersion"], j["timescaledb"], j["timeInterval"]) == (1600, True, "1m")
    # sslmode comes from PGSSLMODE (disable in-network, require for a managed server)
    assert ENV_REF.match(j["sslmode"]) and "PGSSLMODE" in j["sslmode"]


def test_datasource_env_vars_are_passed_by_compose():
    compose = yaml.safe_load(Path(REPO_DIR, "docker-compose.yml").read_text(encoding="utf-8"))
    env = compose["services"]["grafana"]["environment"]
    ds = _datasource()
    text = " ".join([ds["url"], ds["database"], ds["user"], ds["secureJsonData"]["password"],
                     ds["jsonData"]["sslmode"]])
    for name in re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", text):
        assert name in env, f"{name} is used by the datasource but not set for grafana"


def test_dashboard_provider_points_at_the_json():
    doc = yaml.safe_load(PROVIDERS_FILE.read_text(encoding="utf-8"))
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["folder"] == "Liquidation Cascade Monitor"
    assert provider["options"]["path"] == CONTAINER_DASHBOARD_DIR
    assert provider["allowUiUpdates"] is False
    assert dash.DASHBOARD_DIR.relative_to(PROVISIONING).as_posix() == "dashboards/json"


def test_dashboards_follow_the_provisioning_format():
    dashboards = dash.load_dashboards()
    assert set(dashboards) == UIDS
    for uid, d in dashboards.items():
        assert d["schemaVersion"] == SCHEMA_VERSION, uid
        assert "id" not in d or d["id"] is None, f"{uid}: provisioned dashboards carry no id"
        assert d["title"] and d["time"]["to"] == "now" and d["editable"] is False, uid
        panels = dash.panels(d)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{uid}: duplicate panel ids {ids}"
        for p in panels:
            where = f"{uid} panel {p['id']} {p.get('title')!r}"
            assert {"h", "w", "x", "y"} <= set(p["gridPos"]), where
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, where
            if p["type"] == "row":
                continue
            assert p["datasource"] == DS_REF, where
            assert p["targets"], f"{where} has no query"
            for t in p["targets"]:
                assert t["datasource"] == DS_REF, where
                assert t["format"] in ("time_series", "table"), where
                assert t["rawQuery"] is True and t["editorMode"] == "code", where
                assert t["rawSql"].strip(), where
                if t["format"] == "time_series":
                    assert '"time"' in t["rawSql"], f"{where}: a time series needs a time column"
        for ann in d["annotations"]["list"]:
            if "target" in ann:
                assert ann["datasource"] == DS_REF and ann["target"]["rawSql"].strip(), uid


def test_variables_are_valid():
    for uid, d in dash.load_dashboards().items():
        defined: set[str] = set()
        names = [v["name"] for v in d["templating"]["list"]]
        assert len(names) == len(set(names)), uid
        for v in d["templating"]["list"]:
            assert v["type"] == "query" and v["datasource"] == DS_REF, (uid, v["name"])
            assert v["refresh"] in (1, 2), (uid, v["name"])  # on load / on time change
            assert isinstance(v["multi"], bool) and isinstance(v["includeAll"], bool)
            # a variable query may only use variables defined before it
            used = set(re.findall(r"\$\{?(\w+)", v["query"])) - {"__timeFilter"}
            assert used <= defined, f"{uid}: variable {v['name']} uses {used - defined}"
            defined.add(v["name"])
        for q in dash.panel_queries(d):
            used = {u for u in re.findall(r"\$\{?(\w+)", q.raw_sql) if not u.startswith("__")}
            assert used <= defined, f"{q.label}: undefined variables {used - defined}"


def test_no_panel_builds_an_empty_in_list():
    """$asset with no options (or All over none) expands to nothing: `IN ()` is a syntax
    error, `= ANY(ARRAY[]::text[])` is an empty match."""
    for d in dash.load_dashboards().values():
        for q in dash.panel_queries(d):
            assert not re.search(r"IN\s*\(\s*\$", q.raw_sql), q.label
            for m in re.finditer(r"ARRAY\[\$\{?asset\}?\]", q.raw_sql):
                assert q.raw_sql[m.end():].startswith("::text[]"), q.label


def _by_title(uid: str) -> dict[str, dict]:
    return {p["title"]: p for p in dash.panels(dash.load_dashboards()[uid])}


def _steps(panel: dict) -> list:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_overview_panels():
    d = dash.load_dashboards()["lcm-overview"]
    p = _by_title("lcm-overview")
    assert p["Liquidation Risk by asset"]["type"] == "timeseries"
    assert _steps(p["Liquidation Risk by asset"]) == [None, 30, 50, 70]
    assert _steps(p["Stablecoin Pressure (market-wide)"]) == [None, -30, 0]
    for title in ("Liquidation Risk by asset", "Stablecoin Pressure (market-wide)"):
        style = p[title]["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
        assert style == "line+area", title
    level = p["Current alert level"]
    assert level["type"] == "stat" and level["options"]["colorMode"] == "background"
    (values,) = [m["options"] for m in level["fieldConfig"]["defaults"]["mappings"]
                 if m["type"] == "value"]
    assert {k: v["color"] for k, v in values.items()} == {
        "NONE": "green", "INFO": "blue", "WARNING": "orange", "CRITICAL": "red"}
    assert p["Latest alerts"]["type"] == "table"
    assert p["Risk and pressure per asset (latest)"]["type"] == "table"
    top, asset = d["templating"]["list"]
    assert asset["name"] == "asset" and asset["multi"] and asset["includeAll"]
    # Not every perpetual: the top N by open interest (N a variable, default 20) and every
    # asset in WARNING or above (checked on real rows below).
    assert top["name"] == "top" and top["current"]["value"] == "20" and not top["multi"]
    assert "LIMIT $top" in asset["query"] and "'WARNING', 'CRITICAL'" in asset["query"]
    # long ranges read the rollups: every time series over a 1-minute table has the tiers
    for title in ("Liquidation Risk by asset", "Stablecoin Pressure (market-wide)",
                  "Liquidations, long vs short (USD)"):
        sql = p[title]["targets"][0]["rawSql"]
        assert "_5m" in sql and "_1h" in sql and "'$__interval'::interval" in sql, title
    # the asset column links to the drill-down, as the notifier's links do
    link = p["Latest alerts"]["fieldConfig"]["overrides"][0]["properties"][0]["value"][0]
    assert link["url"].startswith("/d/lcm-asset?var-asset=${__value.raw}")


def test_asset_drill_down_panels():
    d = dash.load_dashboards()["lcm-asset"]
    assert [v["name"] for v in d["templating"]["list"]] == ["asset", "venue"]
    titles = " | ".join(_by_title("lcm-asset"))
    for words in ("Risk components", "Funding per venue", "Open interest and price",
                  "Long/short", "Liquidations, long vs short", "Stablecoin exchange flows"):
        assert words in titles, words
    comps = _by_title("lcm-asset")["Risk components ($asset, $venue)"]
    assert comps["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    (ann,) = [a for a in d["annotations"]["list"] if "target" in a]
    assert "FROM alerts" in ann["target"]["rawSql"] and "'$asset'" in ann["target"]["rawSql"]


def test_pipeline_panels():
    p = _by_title("lcm-pipeline")
    for title, table in (("Ingest sources: last event age", "source_health"),
                         ("Events per minute by topic", "topic_events_1m"),
                         ("Dead letters per minute by topic", "topic_events_1m"),
                         ("Dead letters in range", "dead_letters"),
                         ("Late records per minute by topic", "late_records_1m"),
                         ("Flink job up", "risk_scores")):
        assert f"FROM {table}" in p[title]["targets"][0]["rawSql"], title
    assert "written_at" in p["Flink job up"]["targets"][0]["rawSql"]


# ---------------------------------------------------------------- against the pipeline's rows

# Ranges ending at the sample's quarter hour (2026-11-20 14:00-14:15 UTC), each long enough
# for Grafana to pick another tier: 1-minute rows, the 5-minute, the 1-hour rollups.
SAMPLE_END = datetime(2026, 11, 20, 14, 16, tzinfo=UTC)
RANGES = {"1h": timedelta(hours=1), "3d": timedelta(days=3), "30d": timedelta(days=30)}
EXPECTED_INTERVAL = {"1h": "1m", "3d": "10m", "30d": "1h"}  # panels ask for 500 points


@pytest.fixture(scope="module")
def reader(pipeline_data: PipelineData) -> psycopg.Connection:
    with psycopg.connect(pipeline_data.reader_dsn, autocommit=True, connect_timeout=5) as db:
        yield db


def _all_expanded(db: psycopg.Connection):
    for name, span in RANGES.items():
        rng = TimeRange(SAMPLE_END - span, SAMPLE_END)
        for d in dash.load_dashboards().values():
            variables = dash.resolve_variables(db, d, rng)
            for q in dash.panel_queries(d):
                yield name, rng, q, dash.expand_query(q, rng, variables)


@pytest.mark.stack
def test_variables_list_the_pipelines_assets_and_venues(reader, pipeline_data):
    rng = TimeRange(SAMPLE_END - timedelta(hours=1), SAMPLE_END)
    d = dash.load_dashboards()["lcm-asset"]
    v = dash.resolve_variables(reader, d, rng, {"asset": "BTC"})
    assert set(v["asset"].options) == pipeline_data.assets
    assert "all" in v["venue"].options and len(v["venue"].options) >= 3
    assert v["venue"].value == "all"  # the saved default


@pytest.mark.stack
def test_every_panel_query_runs_as_reader_and_returns_rows(reader):
    failures, empty, count = [], [], 0
    for name, rng, q, sql in _all_expanded(reader):
        count += 1
        label = f"[{name}] {q.label}"
        if format_interval(calculate_interval_ms(rng, q.max_data_points, q.min_interval)) \
                != EXPECTED_INTERVAL[name] and q.max_data_points == 500:
            failures.append(f"{label}: unexpected interval")
        left = re.findall(r"\$\{?\w+|\[\[\w+", sql)
        if left:
            failures.append(f"{label}: unexpanded {left}")
            continue
        try:
            rows = reader.execute(sql).fetchall()
        except psycopg.Error as exc:
            failures.append(f"{label}: {type(exc).__name__}: {exc}\n{sql}")
            continue
        if not any(v is not None for row in rows for v in row):
            empty.append(label)  # no rows, or only NULLs (an aggregate over nothing)
    assert count >= 3 * 24, count
    assert not failures, "panel queries failed:\n\n" + "\n\n".join(failures)
    assert not empty, "panel queries returned no data:\n  " + "\n  ".join(empty)


@pytest.mark.stack
def test_panels_run_before_any_asset_exists(reader):
    """A fresh install: the asset variable has no options (All over nothing) and the range
    holds no rows. Every panel must run and say "No data", not fail with a SQL error."""
    rng = TimeRange.parse("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z")
    failures = []
    for d in dash.load_dashboards().values():
        variables = {
            name: Variable(name, ALL if v.multi else "", multi=v.multi,
                           include_all=v.include_all, options=())
            for name, v in dash.resolve_variables(reader, d, rng).items()}
        for q in dash.panel_queries(d):
            try:
                reader.execute(dash.expand_query(q, rng, variables)).fetchall()
            except psycopg.Error as exc:
                failures.append(f"{q.label}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)


def _plan_columns(plan: dict, found: set[tuple[str, str]]) -> None:
    """(relation, column) pairs a plan reads: each scan node's alias.column references."""
    text = " ".join(str(plan.get(k, "")) for k in (
        "Output", "Filter", "Index Cond", "Recheck Cond", "Sort Key", "Group Key",
        "Join Filter", "Hash Cond", "Merge Cond"))
    nodes = [plan, *plan.get("Plans", [])]
    for node in nodes:
        if "Relation Name" in node:
            alias = node.get("Alias", node["Relation Name"])
            node_text = " ".join(str(node.get(k, "")) for k in (
                "Output", "Filter", "Index Cond", "Recheck Cond"))
            for col in re.findall(rf"\b{re.escape(alias)}\.(\w+)", node_text + " " + text):
                found.add((node["Relation Name"], col))
    for child in plan.get("Plans", []):
        _plan_columns(child, found)


@pytest.mark.stack
def test_no_panel_reads_a_column_missing_from_information_schema(reader):
    """Static check: the columns each panel's plan reads exist in information_schema (as
    the reader sees it, so also readable by it), and every relation is a table or view."""
    columns = {(t, c) for t, c in reader.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'").fetchall()}
    relations = {t for t, _ in columns}
    problems, seen = [], 0
    for name, _, q, sql in _all_expanded(reader):
        if name != "1h":
            continue
        (plan,) = reader.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql).fetchone()[0]
        used: set[tuple[str, str]] = set()
        _plan_columns(plan["Plan"], used)
        seen += len(used)
        for rel, col in sorted(used):
            if rel not in relations:
                problems.append(f"{q.label}: relation {rel} is not visible to the reader")
            elif (rel, col) not in columns:
                problems.append(f"{q.label}: {rel}.{col} is not in information_schema")
    assert seen > 50, "the plans named too few columns: the check would not catch anything"
    assert not problems, "\n".join(problems)


@pytest.mark.stack
def test_reader_role_cannot_write(stack: Connections, pipeline_data):
    with (psycopg.connect(pipeline_data.reader_dsn, connect_timeout=5) as db,
          pytest.raises((psycopg.errors.ReadOnlySqlTransaction,
                         psycopg.errors.InsufficientPrivilege))):
        db.execute("DELETE FROM alerts")


# ---------------------------------------------------------------- the trader panels (issue 16)

OVERVIEW_TRADER = {
    "Liquidation feed (latest)": "table",
    "Liquidations 1 h / 4 h / 24 h by asset and venue": "table",
    "Open interest by venue (stacked) and OI change": "timeseries",
    "Price change over the range by asset (%)": "timeseries",
    "Funding heatmap: 8-hour rate (%)": "table",
    "Funding heatmap: annualized (%)": "table",
    "Long/short by venue and population (latest)": "table",
}
ASSET_TRADER = {
    "Liquidation map: estimated levels ($asset)": "heatmap",
    "Largest estimated liquidation levels now ($asset)": "table",
    "Open interest by venue (stacked) and OI change ($asset)": "timeseries",
    "Price by venue ($asset)": "timeseries",
    "Long/short by venue and population ($asset)": "timeseries",
    "Liquidation feed ($asset, $venue)": "table",
    "Liquidations 1 h / 4 h / 24 h per venue ($asset)": "table",
}


def test_trader_panels_are_provisioned():
    for uid, want in (("lcm-overview", OVERVIEW_TRADER), ("lcm-asset", ASSET_TRADER)):
        p = _by_title(uid)
        for title, kind in want.items():
            assert p[title]["type"] == kind, (uid, title)
    o = _by_title("lcm-overview")
    feed = o["Liquidation feed (latest)"]["targets"][0]["rawSql"]
    for column in ('"time"', "venue", "asset", "side", '"size USD"', "price", "sampled"):
        assert column in feed
    for title in ("Funding heatmap: 8-hour rate (%)", "Funding heatmap: annualized (%)"):
        (t,) = o[title]["transformations"]
        assert t["id"] == "groupingToMatrix" and t["options"]["rowField"] == "asset"
        assert t["options"]["columnField"] == "venue"
    for title in ("Open interest by venue (stacked) and OI change",):
        panel = o[title]
        assert panel["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
        assert [t["refId"] for t in panel["targets"]] == ["A", "B"]
        change = panel["fieldConfig"]["overrides"][0]
        assert change["matcher"]["options"] == "OI change %"
        assert {"id": "custom.stacking", "value": {"mode": "none", "group": "B"}} in (
            change["properties"])
    heat = _by_title("lcm-asset")["Liquidation map: estimated levels ($asset)"]
    assert heat["options"]["calculate"] is False
    assert heat["options"]["rowsFrame"] == {"layout": "ge", "value": "notional"}
    assert "FROM liquidation_levels" in heat["targets"][0]["rawSql"]


def _panel_rows(db: psycopg.Connection, uid: str, title: str, rng: TimeRange,
                chosen: dict | None = None, ref: str = "A") -> list[dict]:
    d = dash.load_dashboards()[uid]
    (q,) = [q for q in dash.panel_queries(d) if f"{title!r} {ref}" in q.label]
    variables = dash.resolve_variables(db, d, rng, chosen)
    cur = db.execute(dash.expand_query(q, rng, variables))
    names = [c.name for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _range(name: str) -> TimeRange:
    return TimeRange(SAMPLE_END - RANGES[name], SAMPLE_END)


@pytest.mark.stack
@pytest.mark.parametrize("name", list(RANGES))
def test_overview_shows_the_top_n_by_oi_and_every_asset_in_warning(reader, name):
    rng = _range(name)
    d = dash.load_dashboards()["lcm-overview"]
    oi = dict(reader.execute(
        "SELECT DISTINCT ON (base) base, oi_usd FROM features_1m WHERE venue = 'all' AND "
        "oi_usd IS NOT NULL AND window_start BETWEEN %s AND %s ORDER BY base, window_start DESC",
        (rng.start, rng.end)).fetchall())
    warned = {b for (b,) in reader.execute(
        "SELECT base FROM alerts WHERE level IN ('WARNING', 'CRITICAL') "
        "AND window_start BETWEEN %s AND %s", (rng.start, rng.end)).fetchall()}
    assert len(oi) == 3 and warned == {"BTC", "ETH"}  # the sample's cascade
    for n in (1, 2, 20):
        v = dash.resolve_variables(reader, d, rng, {"top": str(n)})
        top = sorted(oi, key=lambda b: -oi[b])[:n]
        assert set(v["asset"].options) == set(top) | warned, n
        assert v["asset"].value == ALL  # the saved default: every option shown
    assert dash.resolve_variables(reader, d, rng)["top"].value == "20"


@pytest.mark.stack
@pytest.mark.parametrize("name", list(RANGES))
def test_liquidation_feed_is_the_newest_liquidations(reader, name):
    rng = _range(name)
    rows = _panel_rows(reader, "lcm-overview", "Liquidation feed (latest)", rng)
    want = reader.execute(
        "SELECT event_time, venue, base, side, notional_usd, price, sampled FROM liquidations "
        "WHERE event_time BETWEEN %s AND %s ORDER BY event_time DESC, dedup_key LIMIT 200",
        (rng.start, rng.end)).fetchall()
    assert [tuple(r.values()) for r in rows] == want and len(rows) == 200
    assert {r["sampled"] for r in rows} == {True, False}
    asset = _panel_rows(reader, "lcm-asset", "Liquidation feed ($asset, $venue)", rng,
                        {"asset": "ETH", "venue": "okx"})
    assert asset and {(r["asset"], r["venue"]) for r in asset} == {("ETH", "okx")}
    assert all(r["sampled"] for r in asset)


@pytest.mark.stack
def test_liquidation_totals_add_up_the_liquidations_table(reader):
    """1 h / 4 h / 24 h totals per asset and venue, from the one-minute features, against
    the liquidations table itself (a different path through the job)."""
    for end in (SAMPLE_END, datetime(2026, 11, 20, 14, 10, tzinfo=UTC)):
        rng = TimeRange(end - timedelta(hours=1), end)
        rows = _panel_rows(reader, "lcm-overview",
                           "Liquidations 1 h / 4 h / 24 h by asset and venue", rng)
        got = {(r["asset"], r["venue"]): r for r in rows}
        raw = reader.execute(
            "SELECT base, venue, side, sum(notional_usd) FROM liquidations "
            "WHERE event_time < %s GROUP BY ROLLUP (base, venue), side", (end,)).fetchall()
        want: dict[tuple[str, str], dict[str, float]] = {}
        for base, venue, side, total in raw:
            if base is None:
                continue
            want.setdefault((base, venue or "all"), {})[side] = total
        assert set(got) == set(want)
        for key, sides in want.items():
            for span in ("1h", "4h", "24h"):  # the sample is shorter than an hour
                for side in ("long", "short"):
                    g = got[key][f"{side}s {span}"]
                    assert math.isclose(g or 0.0, sides.get(side, 0.0), rel_tol=1e-9), (
                        key, span, side, g)
        per_venue = _panel_rows(reader, "lcm-asset",
                                "Liquidations 1 h / 4 h / 24 h per venue ($asset)", rng,
                                {"asset": "BTC"})
        assert {r["venue"]: r["longs 1h"] for r in per_venue} == pytest.approx({
            v: r["longs 1h"] for (b, v), r in got.items() if b == "BTC"}, rel=1e-12)


@pytest.mark.stack
def test_funding_heatmap_is_the_newest_rate_per_asset_and_venue(reader):
    rng = _range("1h")
    eight = _panel_rows(reader, "lcm-overview", "Funding heatmap: 8-hour rate (%)", rng)
    apr = _panel_rows(reader, "lcm-overview", "Funding heatmap: annualized (%)", rng)
    want = reader.execute(
        "SELECT DISTINCT ON (base, venue) base, venue, funding_8h FROM features_1m "
        "WHERE funding_8h IS NOT NULL AND window_start <= %s ORDER BY base, venue, "
        "window_start DESC", (rng.end,)).fetchall()
    assert len(want) == 3 * 5  # BTC, ETH, SOL x four venues and 'all'
    assert {(r["asset"], r["venue"]): r["funding 8h %"] for r in eight} == pytest.approx(
        {(b, v): 100 * f for b, v, f in want}, rel=1e-12)
    assert {(r["asset"], r["venue"]): r["funding APR %"] for r in apr} == pytest.approx(
        {(b, v): 100 * f * 3 * 365 for b, v, f in want}, rel=1e-12)


@pytest.mark.stack
def test_long_short_by_venue_and_population(reader):
    rng = _range("1h")
    latest = _panel_rows(reader, "lcm-overview", "Long/short by venue and population (latest)",
                         rng)
    assert {(r["asset"], r["venue"], r["population"]) for r in latest} == {
        (a, v, "accounts") for a in ("BTC", "ETH", "SOL") for v in ("binance", "bybit", "okx")}
    for r in latest:
        (newest,) = reader.execute(
            "SELECT long_share FROM long_short_ratios WHERE base = %s AND venue = %s "
            "AND population = %s ORDER BY reported_at DESC LIMIT 1",
            (r["asset"], r["venue"], r["population"])).fetchone()
        assert r["long share"] == newest
        assert math.isclose(r["long/short"], newest / (1 - newest))
    series = _panel_rows(reader, "lcm-asset", "Long/short by venue and population ($asset)",
                         rng, {"asset": "BTC"})
    assert {r["metric"] for r in series} == {"binance accounts", "bybit accounts",
                                             "okx accounts"}
    assert all(0.5 < r["long share"] < 0.8 for r in series)  # the sample's crowded longs


@pytest.mark.stack
def test_liquidation_heatmap_draws_the_map_at_each_interval(reader):
    # 1 minute: every minute's whole map
    rng = _range("1h")
    rows = _panel_rows(reader, "lcm-asset", "Liquidation map: estimated levels ($asset)", rng,
                       {"asset": "BTC"})
    want = reader.execute(
        "SELECT window_start, price_low, sum(notional_usd) FROM liquidation_levels "
        "WHERE base = 'BTC' GROUP BY 1, 2").fetchall()
    assert {(r["time"], float(r["metric"])): r["notional"] for r in rows} == pytest.approx(
        {(t, p): n for t, p, n in want}, rel=1e-12)
    # 10 minutes (3 days): each interval holds its newest minute's map, not a sum
    rng = _range("3d")
    rows = _panel_rows(reader, "lcm-asset", "Liquidation map: estimated levels ($asset)", rng,
                       {"asset": "BTC"})
    starts = sorted({r["time"] for r in rows})
    assert starts == [datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
                      datetime(2026, 11, 20, 14, 10, tzinfo=UTC)]
    newest = reader.execute(
        "SELECT price_low, sum(notional_usd) FROM liquidation_levels WHERE base = 'BTC' AND "
        "window_start = '2026-11-20 14:09:00+00' GROUP BY 1").fetchall()
    assert {float(r["metric"]): r["notional"] for r in rows if r["time"] == starts[0]} == (
        pytest.approx(dict(newest), rel=1e-12))
    # the table of the largest levels now: the newest minute, sorted, distance from price
    top = _panel_rows(reader, "lcm-asset", "Largest estimated liquidation levels now ($asset)",
                      _range("1h"), {"asset": "BTC"})
    assert 0 < len(top) <= 20
    assert [r["estimated USD"] for r in top] == sorted((r["estimated USD"] for r in top),
                                                        reverse=True)
    assert all((r["distance %"] < 0) == (r["side"] == "long") for r in top)


@pytest.mark.stack
def test_open_interest_by_venue_and_its_change(reader):
    rng = _range("1h")
    stacked = _panel_rows(reader, "lcm-asset",
                          "Open interest by venue (stacked) and OI change ($asset)", rng,
                          {"asset": "ETH"})
    want = reader.execute(
        "SELECT window_start, venue, oi_usd FROM features_1m WHERE base = 'ETH' "
        "AND venue <> 'all' AND oi_usd IS NOT NULL").fetchall()
    assert {(r["time"], r["metric"]): r["open interest"] for r in stacked} == pytest.approx(
        {(t, v): oi for t, v, oi in want}, rel=1e-12)
    change = _panel_rows(reader, "lcm-asset",
                         "Open interest by venue (stacked) and OI change ($asset)", rng,
                         {"asset": "ETH"}, ref="B")
    oi_all = reader.execute("SELECT window_start, oi_usd FROM features_1m WHERE base = 'ETH' "
                            "AND venue = 'all' ORDER BY 1").fetchall()
    expect = [100 * (b[1] / a[1] - 1) for a, b in itertools.pairwise(oi_all)]
    got = [r["OI change %"] for r in change]
    assert got[0] is None and got[1:] == pytest.approx(expect, rel=1e-9)
    # the cascade: ETH's open interest fell by more than 2 % in some minute
    assert min(expect) < -2
    prices = _panel_rows(reader, "lcm-asset", "Price by venue ($asset)", rng, {"asset": "ETH"})
    assert {r["metric"] for r in prices} == {"binance", "bybit", "hyperliquid", "okx"}
    moves = _panel_rows(reader, "lcm-overview", "Price change over the range by asset (%)", rng)
    first = {b: next(r for r in moves if r["metric"] == b) for b in ("BTC", "ETH", "SOL")}
    assert all(r["price change"] == 0 for r in first.values())
    assert min(r["price change"] for r in moves if r["metric"] == "BTC") < -1.5

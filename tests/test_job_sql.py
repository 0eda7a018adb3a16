"""The job's SQL files render and split as the job expects (no Flink needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flink_jobs.config import Connections, load_config
from flink_jobs.job import INPUT_TOPICS, job_statements, sql_params, sql_scoring_params
from flink_jobs.sql_files import SQL_DIR, render, statements


def test_render_fills_parameters_and_leaves_json_paths(tmp_path: Path) -> None:
    f = tmp_path / "x.sql"
    f.write_text("SELECT JSON_VALUE(payload, '$.ts') FROM ${topic}_raw;\n")
    assert render(f, {"topic": "prices"}) == "SELECT JSON_VALUE(payload, '$.ts') FROM prices_raw;\n"


def test_render_names_the_file_of_a_missing_parameter(tmp_path: Path) -> None:
    f = tmp_path / "y.sql"
    f.write_text("SELECT ${nope};\n")
    with pytest.raises(KeyError, match=r"y\.sql: no value for parameter \$\{nope\}"):
        render(f, {})


def test_statements_split_on_line_end_semicolons_and_drop_comments() -> None:
    sql = ("-- a comment\nCREATE VIEW a AS SELECT ';' AS s;\n\n-- only comment;\n"
           "INSERT INTO b SELECT 1;  -- why\n")
    assert list(statements(sql)) == ["CREATE VIEW a AS SELECT ';' AS s", "INSERT INTO b SELECT 1"]


@pytest.mark.parametrize("scoring", ["udf", "sql"])
def test_whole_job_renders(scoring: str) -> None:
    cfg = load_config()
    params = sql_params(cfg, Connections(writer_password="pw"), topic_prefix="p_")
    overrides = {}
    if scoring == "sql":
        params |= sql_scoring_params(cfg)
        overrides = {p.name: p for p in (SQL_DIR.parent.parent / "bench" / "sql").glob("*.sql")}
    ddl, inserts = job_statements(params, overrides)
    text = "\n".join(ddl + inserts)
    assert "${" not in text
    for topic in (*INPUT_TOPICS, "ingest_heartbeat"):
        assert f"CREATE TEMPORARY TABLE {topic}_raw" in text
        assert f"'topic' = 'p_{topic}'" in text
    # The heartbeat source never goes idle; data sources do after the configured timeout.
    assert text.count("'scan.watermark.idle-timeout' = '0 s'") == 1
    assert text.count(f"'scan.watermark.idle-timeout' = '{cfg.pipeline.idle_timeout_s} s'") == 6
    assert len(inserts) == 9 and all(i.startswith("INSERT INTO") for i in inserts)
    assert ("LIQUIDATION_RISK(" in text) == (scoring == "udf")

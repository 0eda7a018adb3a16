"""The job's SQL files render and split as the job expects (no Flink needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flink_jobs import liquidation_map
from flink_jobs.config import load_config
from flink_jobs.job import job_statements, sql_params
from flink_jobs.sql_files import render, statements
from lcm.settings import Connections
from lcm.topics import ALERTS_TOPIC, DATA_TOPICS, DEAD_LETTER_TOPIC, HEALTH_TOPIC


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


def test_idle_timeout_reaches_the_data_sources_only() -> None:
    """A configured idle timeout applies to the data and health topics; the heartbeat topic,
    the job's clock, never goes idle."""
    cfg = load_config()
    cfg = cfg.model_copy(update={"pipeline": cfg.pipeline.model_copy(
        update={"idle_timeout_s": 30})})
    ddl, _ = job_statements(sql_params(cfg, Connections(writer_password="pw")))
    text = "\n".join(ddl)
    assert text.count("'scan.watermark.idle-timeout' = '30 s'") == 7
    assert text.count("'scan.watermark.idle-timeout' = '0 s'") == 1


def test_whole_job_renders() -> None:
    cfg = load_config()
    params = sql_params(cfg, Connections(writer_password="pw"), topic_prefix="p_")
    ddl, inserts = job_statements(params)
    text = "\n".join(ddl + inserts)
    assert "${" not in text
    for topic in (*DATA_TOPICS, "ingest_heartbeat", HEALTH_TOPIC):
        assert f"CREATE TEMPORARY TABLE {topic}_kafka" in text
        assert f"'topic' = 'p_{topic}'" in text
        # heartbeats on the data topics move the watermark, then leave (key 'heartbeat')
        assert (f"CREATE TEMPORARY VIEW {topic}_raw AS SELECT payload, event_time, "
                f"kafka_partition, kafka_offset FROM {topic}_kafka WHERE record_key IS NULL "
                "OR record_key <> 'heartbeat'") in " ".join(text.split())
    for topic in (ALERTS_TOPIC, DEAD_LETTER_TOPIC):  # the job's outputs, named by lcm.topics
        assert f"'topic' = 'p_{topic}'" in text
    assert HEALTH_TOPIC not in DATA_TOPICS  # not a market-data topic: no envelope checks
    assert "CREATE TEMPORARY VIEW ingest_health_envelope" not in text
    # No input is idle by default: heartbeats reach every partition (docs/operations.md).
    assert cfg.pipeline.idle_timeout_s == 0
    assert text.count("'scan.watermark.idle-timeout' = '0 s'") == 8
    assert all(i.startswith("INSERT INTO") for i in inserts)
    sinks = sorted(i.split()[2] for i in inserts)
    assert sinks == sorted(["features_1m_sink"] * 2 + ["risk_scores_sink"] * 2 + [
        "stablecoin_pressure_sink", "alerts_sink", "alerts_topic", "liquidations_sink",
        "dead_letters_sink", "dead_letter_topic", "source_health_sink", "topic_events_sink",
        "liquidation_levels_sink", "long_short_reports_sink", "late_records_sink"])
    # Every JDBC sink is the TaskManager-safe one, through the patient driver; the alerts
    # topic is written in Kafka transactions under a prefix of this job's own.
    assert text.count("'connector' = 'lcm-jdbc'") == text.count("'table-name' = ") == 11
    assert "'connector' = 'jdbc'" not in text
    assert text.count("'driver' = 'io.lcm.flink.PatientPostgresDriver'") == 11
    # the driver's wait, then the PostgreSQL driver's own URL properties (the connection's
    # PGSSLMODE, batched upserts)
    assert (f"?lcmConnectWaitSeconds={cfg.pipeline.db_outage_wait_s}"
            "&sslmode=prefer&reWriteBatchedInserts=true'") in text
    alerts_topic = text[text.index("CREATE TEMPORARY TABLE alerts_topic"):]
    alerts_topic = alerts_topic[:alerts_topic.index(")\n") if ")\n" in alerts_topic else None]
    assert "'sink.delivery-guarantee' = 'exactly-once'" in alerts_topic
    assert "'sink.transactional-id-prefix' = 'p_liquidation-cascade-monitor-alerts'" in text
    # The configured durations reach the SQL: carry-forward limits, alert state depth.
    p = cfg.pipeline
    assert f"<= {p.max_input_age_s.funding * 1000} THEN funding_last END" in text
    assert f"ROWS BETWEEN {cfg.scoring.alerts.state_windows - 1} PRECEDING" in text
    for udf in ("LIQUIDATION_RISK(", "STABLECOIN_PRESSURE(", "ALERT_LEVEL(", "ALERT_TRANSITION(",
                "LIQUIDATION_LEVELS("):
        assert udf in text
    # The liquidation map replays its horizon: one row per window of it.
    horizon = liquidation_map.load_config().window.horizon_minutes
    assert f"ROWS BETWEEN {horizon // p.window_minutes - 1} PRECEDING" in text
    # the long/short populations stay apart from parsing to the features
    assert "CASE WHEN population = 'accounts' THEN long_share END" in text
    assert "AVG(top_long_share_cf) AS top_long_share" in text


def test_batch_mode_orders_over_windows_by_window_minute() -> None:
    """Flink's batch runtime cannot order a RANGE frame by a timestamp: the same statements
    are rendered with window_minute and plain minute ranges instead."""
    from backtest.batch import NOT_SCORED  # the batch runtime runs the scored views only

    cfg = load_config()
    stream = "\n".join(s for part in job_statements(sql_params(cfg, mode="streaming"),
                                                     skip=NOT_SCORED) for s in part)
    batch = "\n".join(s for part in job_statements(sql_params(cfg, mode="batch"),
                                                    skip=NOT_SCORED) for s in part)
    p = cfg.pipeline
    assert f"RANGE BETWEEN {p.history_windows} PRECEDING" in batch
    assert "ORDER BY window_time" not in batch and "ORDER BY window_minute" in batch
    assert "RANGE BETWEEN INTERVAL '1 00:00' DAY TO MINUTE PRECEDING" in stream  # 1440 min
    # apart from the order key and ranges, the statements are the same
    assert stream.count("CREATE TEMPORARY VIEW") == batch.count("CREATE TEMPORARY VIEW")


@pytest.mark.parametrize(("minutes", "literal"), [
    (1, "INTERVAL '0 00:01' DAY TO MINUTE"), (60, "INTERVAL '0 01:00' DAY TO MINUTE"),
    (1440, "INTERVAL '1 00:00' DAY TO MINUTE"), (21_600, "INTERVAL '15 00:00' DAY TO MINUTE")])
def test_interval_literals_hold_a_day_and_more(minutes: int, literal: str) -> None:
    from flink_jobs.job import interval
    assert interval(minutes) == literal


def test_streaming_span_beyond_flinks_interval_limit_names_the_setting(tmp_path: Path) -> None:
    raw = load_config().model_dump()
    raw["pipeline"]["window_minutes"] = 1440  # 1440 daily windows of history: ~4 years
    from flink_jobs.config import MonitorConfig
    cfg = MonitorConfig.model_validate(raw)
    with pytest.raises(ValueError, match="history_windows spans 2073600 minutes"):
        sql_params(cfg, mode="streaming")
    assert sql_params(cfg, mode="batch")["history_range"] == "2073600"

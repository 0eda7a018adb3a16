"""The monitor's Flink job: Kafka topics in, one-minute features and scores out.

    flink run -d -py flink_jobs/job.py          # on a cluster (make submit-job)
    python -m flink_jobs.job --local            # embedded mini-cluster, for development

All SQL lives in sql/flink/ and runs in file order; this module only wires parameters,
registers the UDFs and submits every INSERT as one statement set (one job).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Collection
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from pyflink.table import EnvironmentSettings, StatementSet, TableEnvironment

from flink_jobs import liquidation_map, map_udfs, udfs
from flink_jobs.config import MonitorConfig, load_config
from flink_jobs.sql_files import SQL_DIR, render, statements
from lcm import kafka_io
from lcm.paths import state_dir
from lcm.settings import Connections
from lcm.topics import (
    ALERTS_TOPIC,
    DATA_TOPICS,
    DEAD_LETTER_TOPIC,
    HEALTH_TOPIC,
    HEARTBEAT_TOPIC,
    TOPICS,
)

# Market-data topics (DATA_TOPICS) are each checked by 20_envelope_checks.sql;
# the heartbeat and health topics have their own shapes.
PER_TOPIC_FILES = ("10_source_topic.sql", "20_envelope_checks.sql")
JOB_NAME = "liquidation-cascade-monitor"


# The JDBC sinks' flush options (60_sinks.sql: ${jdbc}); url.NAME: a JDBC URL property.
JDBC_OPTIONS = {
    "sink.buffer-flush.max-rows": "500",
    "sink.buffer-flush.interval": "500ms",
    "sink.max-retries": "5",
    # The driver sends a flushed batch as multi-row INSERT ... ON CONFLICT statements
    # instead of one statement per row. The sink's buffer keeps one row per key, so no
    # statement touches a row twice. On plain PostgreSQL each statement fires the rollup
    # triggers once (sql/timescale/06), so this cut the database's work per row several
    # times: 3.8x the job's events/s (README, Performance).
    "url.reWriteBatchedInserts": "true",
}


MODES = ("streaming", "batch")
# Flink accepts a day-time interval literal of at most 99 days 23:59 (DAY(2) TO MINUTE).
MAX_INTERVAL_MINUTES = 99 * 1440 + 23 * 60 + 59


def sql_string(value: object) -> str:
    """A Flink SQL string literal: quoted, with every quote doubled, so no value (a
    password with a quote, say) can end the literal and add options of its own."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_options(options: dict[str, object]) -> str:
    """`'key' = 'value'` table options, comma-separated, every part a safe literal."""
    return ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in options.items())


def kafka_options(conn: Connections | None) -> str:
    """The Kafka client properties of every Kafka table of the job (bootstrap servers and
    the security settings of lcm.settings.KafkaSecurity), as one rendered parameter. No
    connections (the backtest's batch runs, which replace the Kafka tables): empty."""
    if conn is None:
        return sql_options({"properties.bootstrap.servers": ""})
    return sql_options({f"properties.{k}": v for k, v in {
        "bootstrap.servers": conn.kafka_bootstrap,
        **conn.kafka_security.java_properties(),
    }.items()})


def interval(minutes: int) -> str:
    """A Flink interval literal of `minutes` that holds up to 99 days (INTERVAL '1440'
    MINUTE does not: MINUTE(2) ends at 99)."""
    if not 0 <= minutes <= MAX_INTERVAL_MINUTES:
        raise ValueError(f"{minutes} minutes: Flink interval literals end at 99 days 23:59 "
                         f"({MAX_INTERVAL_MINUTES} minutes)")
    days, rest = divmod(minutes, 1440)
    return f"INTERVAL '{days} {rest // 60:02d}:{rest % 60:02d}' DAY TO MINUTE"


def span(minutes: int, mode: str, what: str) -> str:
    """The RANGE of an OVER window over `minutes`: an interval on the rowtime in streaming;
    in batch a number of minutes on window_minute, because Flink's batch runtime cannot
    order a RANGE frame by a timestamp ('Unsupported temporal arithmetic')."""
    if mode == "batch":
        return str(minutes)
    if minutes > MAX_INTERVAL_MINUTES:
        raise ValueError(
            f"pipeline: {what} spans {minutes} minutes; a streaming job's OVER window ends "
            f"at 99 days 23:59 ({MAX_INTERVAL_MINUTES} minutes): use fewer windows, or run "
            "this span in batch mode (python -m backtest)")
    return interval(minutes)


def sql_params(cfg: MonitorConfig, conn: Connections | None = None, topic_prefix: str = "",
               mode: str = "streaming",
               map_cfg: liquidation_map.MapConfig | None = None,
               jdbc_options: dict[str, str] | None = None) -> dict[str, object]:
    """The ${name} parameters of sql/flink/ for one runtime mode (streaming on Kafka, or
    batch over recorded files for the backtest): the same statements, only the OVER
    windows' order key and ranges are spelled per mode. jdbc_options override the JDBC
    sink options; a key url.NAME sets a property of the JDBC URL (benchmark variants)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    p = cfg.pipeline
    wm = p.window_minutes
    map_cfg = map_cfg or liquidation_map.load_config()
    jdbc = sql_options({"connector": "blackhole"})
    if conn is not None:
        options = {**JDBC_OPTIONS, **(jdbc_options or {})}
        user, password = conn.credentials("writer")
        # The patient driver's wait first (it reads and removes lcmConnectWaitSeconds), then
        # the connection's own SSL properties and the PostgreSQL driver's url.* properties.
        base, _, query = conn.jdbc_url.partition("?")
        url_props = {"lcmConnectWaitSeconds": p.db_outage_wait_s,
                     **dict(parse_qsl(query, keep_blank_values=True)),
                     **{k[4:]: v for k, v in options.items() if k.startswith("url.")}}
        jdbc = sql_options({
            # Flink's JDBC sink whose shutdown never kills the TaskManager, through a driver
            # that waits out a PostgreSQL outage (flink_jobs/java, docs/operations.md).
            "connector": "lcm-jdbc",
            "driver": "io.lcm.flink.PatientPostgresDriver",
            "url": f"{base}?{urlencode(url_props)}",
            "username": user,
            "password": password,
            **{k: v for k, v in options.items() if not k.startswith("url.")},
        })
    return {
        "kafka_properties": kafka_options(conn),
        "topic_prefix": topic_prefix,
        "alerts_topic": ALERTS_TOPIC,  # the job's own output topics (lcm/topics.txt)
        "dead_letter_topic": DEAD_LETTER_TOPIC,
        "consumer_group": f"{topic_prefix}{p.consumer_group}",
        "heartbeat_key": kafka_io.HEARTBEAT_KEY.decode(),
        # The alerts sink's Kafka transactions: one prefix per job name, the same across its
        # restarts, so a restarted job aborts what its previous run left open.
        "transactional_id_prefix": f"{topic_prefix}{JOB_NAME}-alerts",
        "startup_mode": p.startup_mode,
        "watermark_delay_s": p.watermark_delay_s,
        "idle_timeout_s": p.idle_timeout_s,
        "window": interval(wm),
        "window_ms": wm * 60_000,
        "window_minutes": wm,
        "time_order": "window_time" if mode == "streaming" else "window_minute",
        "oi_lookback_range": span(p.oi_lookback_windows * wm, mode, "oi_lookback_windows"),
        "baseline_range": span(p.baseline_windows * wm, mode, "baseline_windows"),
        "recent_range": span((p.recent_windows - 1) * wm, mode, "recent_windows"),
        "history_range": span(p.history_windows * wm, mode, "history_windows"),
        **{f"max_age_ms_{k}": v * 1000 for k, v in p.max_input_age_s.model_dump().items()},
        "state_preceding": cfg.scoring.alerts.state_windows - 1,
        "jdbc": jdbc,
        **map_udfs.sql_params(map_cfg, p.window_minutes),
    }


def variant_overrides(directory: Path) -> dict[str, Path]:
    """A variant's SQL files by name: each replaces the file of that name in sql/flink/
    (or adds one); an empty file leaves that step out."""
    if not directory.is_dir():
        raise SystemExit(f"--sql-variant {directory}: not a directory")
    files = {p.name: p for p in directory.glob("*.sql")}
    if not files:
        raise SystemExit(f"--sql-variant {directory}: no .sql files in it")
    return files


# The liquidation-level map's files: left out together by --without-liquidation-map.
LIQUIDATION_MAP_FILES = ("54_liquidation_map_minutes.sql", "55_liquidation_map.sql",
                         "71_insert_liquidation_levels.sql")


FUNCTIONS_JAR = "lcm-flink-functions.jar"  # flink_jobs/java, built by make setup


def local_jars() -> str:
    """`pipeline.jars` for the job's SQL run outside the cluster (--local, the backtest,
    tests): every jar of the cluster's lib dir (.state/lib/flink). Not the functions jar
    alone: it also registers the 'lcm-jdbc' table factory, which needs Flink's JDBC
    connector beside it, and PyFlink adds these jars to the one JVM's class loader, so
    every later environment of the process looks the factory up too."""
    lib = state_dir() / "lib" / "flink"
    if not (lib / FUNCTIONS_JAR).exists():
        raise FileNotFoundError(f"{lib / FUNCTIONS_JAR} is missing: run 'make setup' (it "
                                "builds the job's functions, flink_jobs/java)")
    return ";".join(j.as_uri() for j in sorted(lib.glob("*.jar")))


def job_statements(
    params: dict[str, object], overrides: dict[str, Path] | None = None,
    skip: Collection[str] = (),
    extra: tuple[Path, ...] = (),
) -> tuple[list[str], list[str]]:
    """(DDL and views in file order, INSERT statements) for the whole job.

    overrides maps a file name in sql/flink/ to a replacement file (benchmark variants,
    variant_overrides, which may also add files; the backtest's file sources and sinks);
    skip names files to leave out (benchmark variants, the backtest); `extra` files are
    rendered first, before the per-topic sources (the backtest's recording table).
    """
    overrides = overrides or {}
    unknown = [name for name in skip if not (SQL_DIR / name).is_file()]
    if unknown:
        raise ValueError(f"no such file in {SQL_DIR}: {', '.join(unknown)}")
    files = {p.name: p for p in SQL_DIR.glob("*.sql")} | overrides
    ddl: list[str] = []
    for path in extra:
        ddl.extend(statements(render(path, params)))
    for topic in (*DATA_TOPICS, HEARTBEAT_TOPIC, HEALTH_TOPIC):
        for name in PER_TOPIC_FILES:
            if topic not in DATA_TOPICS and name != "10_source_topic.sql":
                continue
            idle = "0 s" if topic == HEARTBEAT_TOPIC else f"{params['idle_timeout_s']} s"
            ddl.extend(statements(render(files[name],
                                         {**params, "topic": topic, "idle_timeout": idle})))
    inserts: list[str] = []
    for name in sorted(files):
        if name in PER_TOPIC_FILES or name in skip:
            continue
        for stmt in statements(render(files[name], params)):
            (inserts if stmt.upper().startswith("INSERT") else ddl).append(stmt)
    return ddl, inserts


def configure(t_env: TableEnvironment, cfg: MonitorConfig, name: str,
              scoring: str = "udf", map_cfg: liquidation_map.MapConfig | None = None) -> None:
    """Session settings and functions every run of the job's SQL needs, streaming or batch."""
    conf = t_env.get_config()
    conf.set("table.local-time-zone", "UTC")  # window bounds in UTC whatever the host says
    conf.set("pipeline.name", name)
    # Each topic's parsed view feeds several INSERTs (features, dead letters); optimizing
    # identical sub-plans as one block parses every record once instead of once per INSERT.
    conf.set("table.optimizer.reuse-optimize-block-with-digest-enabled", "true")
    # Java: one typed JSON parse per record (flink_jobs/java); Python: scores on window
    # rows. JSON_FIELDS is the map-shaped parse: the backtest's recording envelope
    # (sql/backtest/05) and the job's SQL at older revisions (bench.pipeline @REV) use it.
    t_env.create_java_temporary_system_function("JSON_ROW", "io.lcm.flink.JsonRow")
    t_env.create_java_temporary_system_function("JSON_FIELDS", "io.lcm.flink.JsonFields")
    udfs.register(t_env, cfg.scoring, vectorized=scoring == "udf",
                  window_minutes=cfg.pipeline.window_minutes)
    map_udfs.register(t_env, map_cfg or liquidation_map.load_config())


def build(
    t_env: TableEnvironment,
    cfg: MonitorConfig,
    conn: Connections,
    topic_prefix: str = "",
    scoring: str = "udf",
    overrides: dict[str, Path] | None = None,
    extra_conf: dict[str, str] | None = None,
    jdbc_options: dict[str, str] | None = None,
    with_map: bool = True,
    parallelism: int | None = None,
) -> StatementSet:
    """Declare everything on t_env and return the statement set (not yet executed).

    overrides, extra_conf and jdbc_options are for benchmark variants: SQL files replaced
    by name (job_statements), Flink options and JDBC sink options of this job only."""
    map_cfg = liquidation_map.load_config()  # fails here, naming file and key, if invalid
    if parallelism:
        # Each Kafka source reads its partitions with this many readers; the heartbeat
        # topic needs at least as many partitions (lcm.topics.required_partitions).
        t_env.get_config().set("parallelism.default", str(parallelism))
    configure(t_env, cfg, f"{topic_prefix}{JOB_NAME}", scoring, map_cfg)
    conf = t_env.get_config()
    for key, value in (extra_conf or {}).items():
        conf.set(key, value)
    ddl, inserts = job_statements(
        sql_params(cfg, conn, topic_prefix, map_cfg=map_cfg, jdbc_options=jdbc_options),
        overrides, skip=() if with_map else LIQUIDATION_MAP_FILES)
    for stmt in ddl:
        t_env.execute_sql(stmt)
    stmt_set = t_env.create_statement_set()
    for stmt in inserts:
        stmt_set.add_insert_sql(stmt)
    return stmt_set


def preflight(conn: Connections, topic_prefix: str) -> None:
    """Fail before submitting, with what to do, if the job could not run: a job that
    cannot reach its database would otherwise restart forever on the cluster."""
    import psycopg
    try:
        psycopg.connect(conn.dsn("writer"), connect_timeout=5).close()
    except psycopg.Error as exc:
        raise SystemExit(
            f"PostgreSQL at {conn.pg_host}:{conn.pg_port} (database {conn.pg_db}, role "
            f"{conn.writer_user}) is unreachable: {str(exc).strip()}\n"
            "Start it with 'make up', or check PGHOST/PGPORT/LCM_DB and the passwords in .env."
        ) from None
    try:
        existing = kafka_io.make_admin(conn.kafka_bootstrap).list_topics(timeout=10).topics
    except Exception as exc:  # any failure here means unreachable
        raise SystemExit(f"Kafka at {conn.kafka_bootstrap} is unreachable ({exc}); "
                         "start it with 'make up'.") from None
    missing = [topic_prefix + t for t in TOPICS if topic_prefix + t not in existing]
    if missing:
        raise SystemExit(f"missing Kafka topics {', '.join(missing)}; run 'make topics'.")


def _pairs(flag: str, items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", help="scoring/pipeline YAML (default config/monitor.yaml)")
    ap.add_argument("--topic-prefix", default=os.environ.get("LCM_TOPIC_PREFIX", ""),
                    help="prefix of every topic name, to run isolated copies (tests)")
    ap.add_argument("--scoring", choices=("udf", "udf-row"), default="udf",
                    help="udf-row: row-at-a-time instead of vectorized (pandas) scoring "
                         "UDFs (benchmark baseline only)")
    ap.add_argument("--sql-variant", type=Path, metavar="DIR",
                    help="benchmark variants: each .sql file in DIR replaces the file of that "
                         "name in sql/flink/ (an empty file leaves the step out)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="a Flink option for this job only (benchmark variants; repeatable)")
    ap.add_argument("--jdbc", action="append", default=[], metavar="KEY=VALUE",
                    help="a JDBC sink option for this job only, url.NAME for a JDBC URL "
                         "property (benchmark variants; repeatable)")
    ap.add_argument("--without-liquidation-map", action="store_true",
                    help="leave the liquidation-level map out (benchmark baseline only: "
                         "python -m bench.pipeline --variants udf,no-map)")
    ap.add_argument("--parallelism", type=int,
                    default=int(os.environ.get("LCM_PARALLELISM") or 0) or None,
                    help="parallelism of every operator (default $LCM_PARALLELISM, else the "
                         "cluster's parallelism.default)")
    ap.add_argument("--local", action="store_true",
                    help="run in an embedded mini-cluster and wait (jars from .state/lib/flink)")
    args, _ = ap.parse_known_args(argv)

    extra_conf = _pairs("--conf", args.conf)
    jdbc_options = _pairs("--jdbc", args.jdbc)
    overrides = variant_overrides(args.sql_variant) if args.sql_variant else None
    cfg = load_config(args.config)
    conn = Connections.from_env()
    preflight(conn, args.topic_prefix)
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    if args.local:
        t_env.get_config().set("pipeline.jars", local_jars())
    result = build(t_env, cfg, conn, args.topic_prefix, args.scoring, overrides,
                   extra_conf, jdbc_options,
                   with_map=not args.without_liquidation_map,
                   parallelism=args.parallelism).execute()
    client = result.get_job_client()
    if client is not None:
        print(f"Job has been submitted with JobID {client.get_job_id()}", flush=True)
    if args.local:
        result.wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    main()

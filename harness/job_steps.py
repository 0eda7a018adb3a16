"""One step of the job's SQL on a few hand-made rows, in the style of Flink's table
walkthrough: the views a step reads hold rows written in the test, the step's own SQL runs
as the job runs it, and its output views are read back. No Kafka, no PostgreSQL.

    with LocalFlink() as flink:                         # one mini-cluster (per test module)
        steps = JobSteps(flink)
        out = steps.run({"market_events": Rows.of("event_time venue base price",
                                                  ("14:00:05", "bybit", "BTC", 100.0))},
                        {"venue_features": "window_start venue base price events"})
        # {"venue_features": [{"window_start": "14:00", "venue": "bybit", "base": "BTC",
        #                      "price": 100.0, "events": 1}]}

How: the statements come from flink_jobs.job.job_statements, with its `overrides` hook
replacing each file that defines an input view by a copy in which that view reads the
test's rows (sql/flink/10's Kafka tables too, for raw records). Only the statements the
output views need are run, and all output views are read in one Flink job.

It runs in streaming mode, like the job: an input view has the exact columns and types of
the job's own view (read once from the job's statements) and the same event-time
attribute, with a watermark, so windows, OVER ranges and the interval join behave as in
the job. The rows are therefore a JSON-lines file read by a filesystem table (in time
order; the end of the file is a final watermark that closes every window), not a VALUES
view: VALUES carries no watermark, and batch mode cannot run the job's RANGE windows over
timestamps (Flink 2.2). A row names only the columns that matter; the others are NULL.

Times in rows are 'YYYY-MM-DD HH:MM[:SS[.fff]]' UTC, epoch ms, or, on DAY (2026-11-20, the
sample's day), just 'HH:MM[:SS[.fff]]'; output times are written the same way. A row's
`minute` ('14:05') stands for the one-minute window's window_start, window_end and
window_time (the end minus 1 ms, as Flink's window_time is), and window_minute where the
view has it.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_jobs.config import MonitorConfig, load_config
from flink_jobs.job import (
    PER_TOPIC_FILES,
    configure,
    job_statements,
    local_jars,
    sql_params,
)
from flink_jobs.sql_files import SQL_DIR, statements
from lcm.settings import Connections
from lcm.topics import DATA_TOPICS, HEALTH_TOPIC, HEARTBEAT_TOPIC

DAY = "2026-11-20"
RAW_FILE = "10_source_topic.sql"
RAW_TOPICS = (*DATA_TOPICS, HEARTBEAT_TOPIC, HEALTH_TOPIC)
_CREATE = re.compile(r"CREATE\s+TEMPORARY\s+(?:VIEW|TABLE)\s+(\w+)", re.I)


# ------------------------------------------------------------------ rows and times

@dataclass(frozen=True)
class Rows:
    """A table of rows: column names and one tuple per row."""

    columns: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, columns: str, *values: tuple[Any, ...]) -> Rows:
        names = tuple(columns.split())
        for row in values:
            if len(row) != len(names):
                raise ValueError(f"row {row!r} has {len(row)} values for columns {names}")
        return cls(names, tuple(values))

    def dicts(self) -> list[dict[str, Any]]:
        out = []
        for row in self.values:
            d = dict(zip(self.columns, row, strict=True))
            if "minute" in d:
                start = parse_time(d.pop("minute"))
                d.setdefault("window_start", start)
                d.setdefault("window_end", start + timedelta(minutes=1))
                d.setdefault("window_time", start + timedelta(minutes=1, milliseconds=-1))
            out.append(d)
        return out


def parse_time(value: str | int | datetime) -> datetime:
    """A naive UTC datetime from any way rows write times."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int):  # epoch ms
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    text = value if "-" in value else f"{DAY} {value}"
    if text.count(":") == 1:
        text += ":00"
    return datetime.fromisoformat(text)


def _with_window_minute(columns: list[Column], rows: list[dict[str, Any]]
                        ) -> list[dict[str, Any]]:
    """A row's window_minute (minutes since the epoch, the job's batch order key and join
    key) from its window_start, where the view has one and the row does not name it."""
    if not any(c.name == "window_minute" for c in columns):
        return rows
    return [{**row, "window_minute": epoch_ms(row["window_start"]) // 60_000}
            if "window_minute" not in row and row.get("window_start") is not None else row
            for row in rows]


def epoch_ms(value: str | int | datetime) -> int:
    if isinstance(value, int):
        return value
    return int(parse_time(value).replace(tzinfo=UTC).timestamp() * 1000)


def show_time(value: datetime) -> str:
    """A time the way rows write it: the shortest form that says it exactly."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    elif text.endswith(":00"):
        text = text[:-3]
    return text[len(DAY) + 1:] if text.startswith(DAY) else text


# ------------------------------------------------------------------ the cluster

class LocalFlink:
    """A Flink mini-cluster in the PyFlink gateway's JVM, for the life of a `with` block:
    every query of the block runs on it, instead of a new local cluster per query."""

    def __init__(self, slots: int = 2) -> None:
        self.slots = slots
        self.port = 0
        self._cluster: Any = None

    def __enter__(self) -> LocalFlink:
        jvm = get_gateway().jvm
        conf = jvm.org.apache.flink.configuration.Configuration()
        for key, value in {"rest.bind-address": "127.0.0.1", "rest.address": "127.0.0.1",
                           "rest.port": "0", "taskmanager.memory.managed.size": "128m"}.items():
            conf.setString(key, value)
        mini = jvm.org.apache.flink.runtime.minicluster
        self._cluster = mini.MiniCluster(
            mini.MiniClusterConfiguration.Builder().setConfiguration(conf)
            .setNumTaskManagers(1).setNumSlotsPerTaskManager(self.slots).build())
        self._cluster.start()
        self.port = self._cluster.getRestAddress().get().getPort()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._cluster is not None:
            self._cluster.closeAsync().get()
            self._cluster = None

    def table_env(self, cfg: MonitorConfig) -> TableEnvironment:
        """A streaming TableEnvironment on this cluster, configured as the job configures
        its own, with the job's functions."""
        env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        conf = env.get_config()
        for key, value in {"execution.target": "remote", "rest.address": "127.0.0.1",
                           "rest.port": str(self.port), "parallelism.default": "1",
                           "table.local-time-zone": "UTC", "pipeline.jars": local_jars(),
                           "python.executable": sys.executable,
                           "python.client.executable": sys.executable}.items():
            conf.set(key, value)
        configure(env, cfg, "lcm-job-steps")  # the job's own session settings and functions
        return env


# ------------------------------------------------------------------ the steps

@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the SQL type, as the job's view has it
    rowtime: bool  # the view's event-time attribute

    @property
    def is_time(self) -> bool:
        return self.type.startswith("TIMESTAMP")

    @property
    def stored(self) -> bool:
        """Kept in the rows file (a MAP, a ROW and the like are always NULL here)."""
        return not re.match(r"(MAP|ROW|ARRAY|MULTISET|RAW)\b", self.type)

    def select(self) -> str:
        """The view's expression of the column over the rows table."""
        bare = self.type.replace(" NOT NULL", "")
        if self.rowtime:
            return self.name
        if not self.stored:
            return f"CAST(NULL AS {bare}) AS {self.name}"
        if "LOCAL TIME ZONE" in bare:
            return f"TO_TIMESTAMP_LTZ({self.name}__ms, 3) AS {self.name}"
        if self.is_time:
            return f"CAST(TO_TIMESTAMP_LTZ({self.name}__ms, 3) AS {bare}) AS {self.name}"
        return self.name

    def declared(self) -> str:
        """The column in the rows table."""
        if self.rowtime:
            return f"{self.name} AS TO_TIMESTAMP_LTZ({self.name}__ms, 3)"
        return f"{self.name}__ms BIGINT" if self.is_time else (
            f"{self.name} {self.type.replace(' NOT NULL', '')}")


@dataclass(frozen=True)
class Statement:
    name: str | None  # the view or table it creates
    sql: str


_SCHEMAS: dict[str, dict[str, list[Column]]] = {}  # per rendered job, for the process


class JobSteps:
    """The job's SQL, runnable step by step on LocalFlink."""

    def __init__(self, flink: LocalFlink, cfg: MonitorConfig | None = None) -> None:
        self.flink = flink
        self.cfg = cfg or load_config()
        self.params = sql_params(self.cfg, Connections(writer_password="unused"))
        self.files = self._view_files()
        self._runs = 0

    @staticmethod
    def _view_files() -> dict[str, str]:
        """view -> the sql/flink file that creates it."""
        out = {}
        for path in sorted(SQL_DIR.glob("*.sql")):
            for name in _CREATE.findall(path.read_text(encoding="utf-8")):
                out[name] = path.name
        return out

    def statements(self, overrides: Mapping[str, Path] | None = None) -> list[Statement]:
        ddl, _ = job_statements(self.params, dict(overrides or {}))
        return [Statement(m.group(1) if (m := _CREATE.search(sql)) else None, sql)
                for sql in ddl]

    @property
    def schemas(self) -> dict[str, list[Column]]:
        """The columns of every view of the job, from the job's own statements (declared
        once per process on a TableEnvironment; nothing runs)."""
        key = "\n".join(s.sql for s in self.statements())
        if key not in _SCHEMAS:
            work = Path(tempfile.mkdtemp(prefix="lcm-steps-"))
            try:  # the raw tables read empty files: the Kafka connector is not needed
                stmts = self.statements({RAW_FILE: self._raw_override(work, {})})
                env = self.flink.table_env(self.cfg)
                for s in stmts:
                    env.execute_sql(s.sql)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            checks = get_gateway().jvm.org.apache.flink.table.types.logical.utils \
                .LogicalTypeChecks
            _SCHEMAS[key] = {}
            for s in stmts:
                if s.name and s.sql.upper().startswith("CREATE TEMPORARY VIEW"):
                    cols = env.from_path(s.name)._j_table.getResolvedSchema().getColumns()
                    _SCHEMAS[key][s.name] = [
                        Column(c.getName(), c.getDataType().getLogicalType()
                               .asSerializableString(),
                               bool(checks.isRowtimeAttribute(c.getDataType().getLogicalType())))
                        for c in cols]
        return _SCHEMAS[key]

    # -------------------------------------------------------------- inputs

    def _rows_view(self, name: str, columns: list[Column], rows: list[dict[str, Any]],
                   path: str) -> str:
        """A rows table over the file and the view `name` over it, as SQL text."""
        known = {c.name for c in columns}
        unknown = {k for row in rows for k in row} - known
        if unknown:
            raise KeyError(f"{name} has no columns {sorted(unknown)}; it has "
                           f"{[c.name for c in columns]}")
        rowtime = [c.name for c in columns if c.rowtime]
        decl = [f"{c.name}__ms BIGINT" for c in columns if c.rowtime]
        decl += [c.declared() for c in columns if c.stored]
        # The job's own watermark delay: rows of one instant are never late, and rows are
        # written in time order, so none is.
        decl += [f"WATERMARK FOR {t} AS {t} - INTERVAL '${{watermark_delay_s}}' SECOND"
                 for t in rowtime]
        return (f"CREATE TEMPORARY TABLE {name}__rows (\n  " + ",\n  ".join(decl) +
                f"\n) WITH ('connector' = 'filesystem', 'path' = '{path}', "
                "'format' = 'json');\n"
                f"CREATE TEMPORARY VIEW {name} AS SELECT "
                + ", ".join(c.select() for c in columns) + f" FROM {name}__rows;\n")

    @staticmethod
    def _write_rows(path: Path, columns: list[Column], rows: list[dict[str, Any]]) -> None:
        """The rows as JSON lines, in event-time order (times as epoch ms)."""
        kinds = {c.name: c for c in columns}
        lines = []
        for row in rows:
            out = {}
            for k, v in row.items():
                if kinds[k].is_time:
                    out[f"{k}__ms"] = None if v is None else epoch_ms(v)
                elif isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"{k} = {v!r}: JSON has no such number")
                else:
                    out[k] = v
            lines.append(out)
        rowtime = [f"{c.name}__ms" for c in columns if c.rowtime]
        if rowtime:
            lines.sort(key=lambda r: r.get(rowtime[0]) or 0)
        path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")

    def _raw_override(self, work: Path, raw: Mapping[str, list[dict[str, Any]]]) -> Path:
        """10_source_topic.sql reading each topic's records from a file of its own."""
        columns = [Column("payload", "STRING", False),
                   Column("event_time", "TIMESTAMP(3) WITH LOCAL TIME ZONE", True),
                   Column("kafka_partition", "INT", False),
                   Column("kafka_offset", "BIGINT", False)]
        for topic in RAW_TOPICS:
            rows = []
            for n, rec in enumerate(raw.get(topic, [])):
                payload = rec["payload"]
                if not isinstance(payload, str):
                    payload = json.dumps(payload)
                ts = rec.get("event_time")
                if ts is None:  # the record timestamp is the message's ts, as producers set it
                    try:
                        ts = int(json.loads(payload)["ts"])
                    except (ValueError, TypeError, KeyError):
                        raise ValueError(f"{topic}: give the event_time of {payload!r}, "
                                         "it has no ts") from None
                rows.append({"kafka_partition": 0, "kafka_offset": n, **rec,
                             "payload": payload, "event_time": ts})
            self._write_rows(work / f"{topic}.jsonl", columns, rows)
        sql = self._rows_view("${topic}_raw", columns, [],
                              (work / "${topic}.jsonl").as_posix())
        path = work / RAW_FILE
        path.write_text(sql, encoding="utf-8")
        return path

    def inputs(self, given: Mapping[str, Rows]) -> dict[str, Rows]:
        """The input views of a run: those given and, unless raw records are (the parse
        step), no heartbeats: every bounded input ends with a watermark of its own."""
        if any(name.endswith("_raw") for name in given):
            return dict(given)
        return {"heartbeats": Rows((), ()), **given}

    def overrides(self, work: Path, inputs: Mapping[str, Rows]) -> dict[str, Path]:
        """file -> a copy of it in which each input view reads the test's rows."""
        raw = {name[:-4]: rows.dicts() for name, rows in inputs.items() if name.endswith("_raw")}
        unknown = set(raw) - set(RAW_TOPICS)
        if unknown:
            raise KeyError(f"no topics {sorted(unknown)}; raw inputs are <topic>_raw of "
                           f"{RAW_TOPICS}")
        out = {RAW_FILE: self._raw_override(work, raw)}
        by_file: dict[str, dict[str, Rows]] = {}
        for name, rows in inputs.items():
            if name.endswith("_raw"):
                continue
            if name not in self.files or self.files[name] in PER_TOPIC_FILES:
                raise KeyError(f"{name} is not a view the job creates in its own file")
            by_file.setdefault(self.files[name], {})[name] = rows
        for file, views in by_file.items():
            text = []
            for sql in statements((SQL_DIR / file).read_text(encoding="utf-8")):
                m = _CREATE.search(sql)
                if m and m.group(1) in views:
                    name = m.group(1)
                    rows_file = work / f"{name}.jsonl"
                    self._write_rows(rows_file, self.schemas[name],
                                     _with_window_minute(self.schemas[name],
                                                         views[name].dicts()))
                    text.append(self._rows_view(name, self.schemas[name], [],
                                                rows_file.as_posix()))
                else:
                    text.append(sql + ";\n")
            out[file] = work / file
            out[file].write_text("\n".join(text), encoding="utf-8")
        return out

    # -------------------------------------------------------------- running

    @staticmethod
    def needed(stmts: list[Statement], outputs: Iterable[str], inputs: Iterable[str]
               ) -> list[Statement]:
        """The statements the outputs depend on (stopping at the inputs), in job order."""
        by_name = {s.name: s for s in stmts if s.name}
        stop = set(inputs)
        want: set[str] = set()
        todo = list(outputs)
        while todo:
            name = todo.pop()
            if name in want or name not in by_name:
                continue
            want.add(name)
            if name in stop:
                want.add(f"{name}__rows")
                continue
            body = re.split(r"\bAS\b", by_name[name].sql, maxsplit=1)[-1]
            todo += [n for n in by_name if n != name and re.search(rf"\b{n}\b", body)]
        return [s for s in stmts if s.name in want]

    def run(self, inputs: Mapping[str, Rows], outputs: Mapping[str, str | None]
            ) -> dict[str, list[dict[str, Any]]]:
        """The rows of each output view (the columns asked for, all when None) when the
        views in `inputs` hold the given rows, read in one Flink job. Rows are sorted
        (the order is stable), times written as in Rows."""
        inputs = self.inputs(inputs)
        work = Path(tempfile.mkdtemp(prefix="lcm-steps-"))
        try:
            stmts = self.statements(self.overrides(work, inputs))
            raw = [f"{t}_raw" for t in RAW_TOPICS]
            env = self.flink.table_env(self.cfg)
            for s in self.needed(stmts, outputs, [*inputs, *raw]):
                env.execute_sql(s.sql)
            return self._read(env, outputs)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def run_one(self, inputs: Mapping[str, Rows], output: str, columns: str | None = None
                ) -> list[dict[str, Any]]:
        return self.run(inputs, {output: columns})[output]

    def _read(self, env: TableEnvironment, outputs: Mapping[str, str | None]
              ) -> dict[str, list[dict[str, Any]]]:
        selects, names = [], {}
        for output, wanted in outputs.items():
            types = {c.name: c.type for c in self.schemas[output]}
            names[output] = wanted.split() if wanted else list(types)
            unknown = [c for c in names[output] if c not in types]
            if unknown:
                raise KeyError(f"{output} has no columns {unknown}; it has {list(types)}")
            fields = ", ".join(f"KEY '{c}' VALUE {_as_json_value(c, types[c])}"
                               for c in names[output])
            selects.append(f"SELECT '{output}' AS v, JSON_OBJECT({fields}) AS j FROM {output}")
        got: dict[str, list[dict[str, Any]]] = {output: [] for output in outputs}
        with env.execute_sql("\nUNION ALL\n".join(selects)).collect() as results:
            for view, text in results:
                row = json.loads(text)
                got[view].append({c: _from_json(row[c]) for c in names[view]})
        return {view: sorted(rows, key=_order) for view, rows in got.items()}


def _as_json_value(column: str, sql_type: str) -> str:
    """A column as JSON_OBJECT takes it: times as text, marked so they come back as times."""
    if sql_type.startswith("TIMESTAMP"):
        return f"CONCAT('@t ', DATE_FORMAT({column}, 'yyyy-MM-dd HH:mm:ss.SSS'))"
    return column


def _from_json(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("@t "):
        return show_time(datetime.fromisoformat(value[3:]))
    return value


def _order(row: Mapping[str, Any]) -> list[tuple[bool, str]]:
    return [(v is None, str(v)) for v in row.values()]


def assert_rows(got: list[dict[str, Any]], want: Rows | list[dict[str, Any]],
                rel: float = 1e-9, abs_: float = 1e-9) -> None:
    """got == want as sets of rows (both sorted the way run() sorts), numbers within
    rel/abs tolerance; only the columns `want` names are compared."""
    expected = want.dicts() if isinstance(want, Rows) else want
    expected = sorted(({k: show_time(v) if isinstance(v, datetime) else v
                        for k, v in r.items()} for r in expected), key=_order)
    if expected:
        got = sorted(({k: r.get(k) for k in expected[0]} for r in got), key=_order)

    def same(a: Any, b: Any) -> bool:
        if (isinstance(a, float | int) and isinstance(b, float | int)
                and not isinstance(a, bool) and not isinstance(b, bool)):
            return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
        return a == b

    problems = []
    if len(got) != len(expected):
        problems.append(f"{len(got)} rows, expected {len(expected)}")
    for n, (g, w) in enumerate(zip(got, expected, strict=False)):
        diff = {k: (g[k], w[k]) for k in w if not same(g[k], w[k])}
        if diff:
            problems.append(f"row {n}: " + ", ".join(f"{k} = {a!r}, expected {b!r}"
                                                     for k, (a, b) in diff.items()))
    if problems:
        table = "\n    ".join(map(str, got))
        raise AssertionError("\n  ".join(problems) + f"\n  got:\n    {table}")

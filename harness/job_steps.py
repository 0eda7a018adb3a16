"""One step of the job's SQL on a few hand-made rows, in the style of Flink's table
walkthrough: the views a step reads are replaced by VALUES rows, the step's own SQL runs
as the job runs it, and its output view is read back. No Kafka, no PostgreSQL.

    with LocalFlink() as flink:                         # one mini-cluster (per test module)
        steps = JobSteps(flink)
        out = steps.run({"market_events": Rows.of("event_time venue base price",
                                                  ("14:00:05", "bybit", "BTC", 100.0))},
                        {"venue_features": "window_start venue base price events"})
        # {"venue_features": [{"window_start": "14:00", "venue": "bybit", "base": "BTC",
        #                      "price": 100.0, "events": 1}]}

How: the statements come from flink_jobs.job.job_statements, with its `overrides` hook
replacing each file that defines an input view by a copy in which that view is VALUES rows
(the raw topic tables of sql/flink/10 are VALUES rows too, so everything is bounded and
runs in batch mode). Only the statements the output views need are run, and all output
views are read in one Flink job. An input view
keeps the exact columns and types the job's own view has (read once from the real
statements), so a row names only the columns that matter; the others are NULL.

Times in rows are 'YYYY-MM-DD HH:MM[:SS[.fff]]' UTC or, on DAY (2026-11-20, the sample's
day), just 'HH:MM[:SS[.fff]]'; output times are written the same way. A row's `minute`
('14:05') stands for the one-minute window's window_start, window_end and window_time.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_jobs import udfs
from flink_jobs.config import MonitorConfig, load_config
from flink_jobs.job import PER_TOPIC_FILES, job_statements, sql_params
from flink_jobs.sql_files import SQL_DIR, statements
from lcm.paths import state_dir
from lcm.settings import Connections

DAY = "2026-11-20"
RAW_FILE = "10_source_topic.sql"
RAW_COLUMNS = ("topic", "payload", "event_time", "kafka_partition", "kafka_offset")
FUNCTIONS_JAR = "lcm-flink-functions.jar"  # JSON_FIELDS, built by make setup
_CREATE = re.compile(r"CREATE\s+TEMPORARY\s+(?:VIEW|TABLE)\s+(\w+)", re.I)


# ------------------------------------------------------------------ rows

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

    def __add__(self, other: Rows) -> Rows:
        if other.columns != self.columns:
            raise ValueError(f"columns differ: {self.columns} and {other.columns}")
        return Rows(self.columns, self.values + other.values)

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
    if isinstance(value, datetime):
        return value
    if isinstance(value, int):  # epoch ms
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None)
    text = value if "-" in value else f"{DAY} {value}"
    if text.count(":") == 1:
        text += ":00"
    return datetime.fromisoformat(text)


def show_time(value: datetime) -> str:
    """A collected time the way rows write them."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    elif text.endswith(":00"):
        text = text[:-3]
    return text[len(DAY) + 1:] if text.startswith(DAY) else text


def epoch_ms(value: str | int | datetime) -> int:
    if isinstance(value, int):
        return value
    return int(parse_time(value).replace(tzinfo=UTC).timestamp() * 1000)


def literal(value: Any, sql_type: str) -> str:
    """A SQL literal of the column's type."""
    base = sql_type.replace(" NOT NULL", "")
    cast = "STRING" if base.startswith("VARCHAR") or base.startswith("CHAR") else base
    if value is None:
        return f"CAST(NULL AS {cast})"
    if "LOCAL TIME ZONE" in base:
        return f"TO_TIMESTAMP_LTZ({epoch_ms(value)}, 3)"
    if base.startswith("TIMESTAMP"):
        moment = parse_time(value).isoformat(sep=" ", timespec="milliseconds")
        return f"CAST(TIMESTAMP '{moment}' AS {base})"
    if cast == "STRING":
        text = value if isinstance(value, str) else str(value)
        return "'" + text.replace("'", "''") + "'"
    if base == "BOOLEAN":
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r}: SQL has no literal for it")
    return f"CAST({value!r} AS {cast})"


def values_view(name: str, schema: Sequence[tuple[str, str]], rows: list[dict[str, Any]],
                where: str = "", select: Sequence[str] | None = None) -> str:
    """CREATE TEMPORARY VIEW name AS the rows, with the schema's columns and types (and
    only the `select` ones in the view)."""
    names = [n for n, _ in schema]
    unknown = {k for row in rows for k in row} - set(names)
    if unknown:
        raise KeyError(f"{name} has no columns {sorted(unknown)}; it has {names}")
    def values(body: list[dict[str, Any]], cond: str) -> str:
        lines = ",\n  ".join("(" + ", ".join(literal(row.get(n), t) for n, t in schema) + ")"
                             for row in body)
        return (f"SELECT {', '.join(select or names)} FROM (VALUES\n  {lines}\n) "
                f"AS t({', '.join(names)}) {cond}").rstrip()

    # VALUES needs a row: an empty input is one row filtered away. The second, empty
    # branch keeps a bare VALUES node from reaching a Python OVER aggregate in batch
    # mode, which projects it wrongly (Flink 2.2: IndexOutOfBoundsException).
    return (f"CREATE TEMPORARY VIEW {name} AS\n"
            f"{values(rows or [{}], where or ('' if rows else 'WHERE FALSE'))}\n"
            f"UNION ALL\n{values([{}], 'WHERE FALSE')}")


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
        """A batch TableEnvironment on this cluster, with the job's functions."""
        env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
        conf = env.get_config()
        jar = state_dir() / "lib" / "flink" / FUNCTIONS_JAR
        if not jar.exists():
            raise RuntimeError(f"{jar} is missing: run 'make setup' (it builds flink_jobs/java)")
        for key, value in {"execution.target": "remote", "rest.address": "127.0.0.1",
                           "rest.port": str(self.port), "parallelism.default": "1",
                           "table.local-time-zone": "UTC", "pipeline.jars": jar.as_uri(),
                           "python.executable": sys.executable,
                           "python.client.executable": sys.executable}.items():
            conf.set(key, value)
        env.create_java_temporary_system_function("JSON_FIELDS", "io.lcm.flink.JsonFields")
        udfs.register(env, cfg.scoring, vectorized=True)
        return env


# ------------------------------------------------------------------ the steps

@dataclass(frozen=True)
class Statement:
    name: str | None  # the view or table it creates
    sql: str


_SCHEMAS: dict[str, dict[str, list[tuple[str, str]]]] = {}  # per rendered job, per process


class JobSteps:
    """The job's SQL, runnable step by step on LocalFlink."""

    def __init__(self, flink: LocalFlink, cfg: MonitorConfig | None = None) -> None:
        self.flink = flink
        self.cfg = cfg or load_config()
        self.params = sql_params(self.cfg, Connections(writer_password="unused"))
        self._tmp = Path(tempfile.mkdtemp(prefix="lcm-steps-"))
        self.files = self._view_files()

    @staticmethod
    def _view_files() -> dict[str, str]:
        """view -> the sql/flink file that creates it (per-topic files: `${topic}_...`)."""
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
    def schemas(self) -> dict[str, list[tuple[str, str]]]:
        """(column, SQL type) of every view of the job, from the job's own statements
        (run once per process: the job's whole DDL, bounded by empty raw tables)."""
        stmts = self.statements({RAW_FILE: self._raw_override({})})
        key = "\n".join(s.sql for s in stmts)
        if key not in _SCHEMAS:
            env = self.flink.table_env(self.cfg)
            for s in stmts:
                env.execute_sql(s.sql)
            _SCHEMAS[key] = {
                s.name: [(c.getName(), c.getDataType().getLogicalType().asSerializableString())
                         for c in env.from_path(s.name)._j_table.getResolvedSchema().getColumns()]
                for s in stmts if s.name and s.sql.upper().startswith("CREATE TEMPORARY VIEW")}
        return _SCHEMAS[key]

    def _raw_override(self, raw: Mapping[str, list[dict[str, Any]]]) -> Path:
        """10_source_topic.sql as VALUES: each topic's raw records, filtered per topic."""
        schema = [("topic", "STRING"), ("payload", "STRING"),
                  ("event_time", "TIMESTAMP(3) WITH LOCAL TIME ZONE"),
                  ("kafka_partition", "INT"), ("kafka_offset", "BIGINT")]
        rows = []
        for topic, records in raw.items():
            for n, rec in enumerate(records):
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
                rows.append({"topic": topic, "kafka_partition": 0, "kafka_offset": n, **rec,
                             "payload": payload, "event_time": ts})
        sql = values_view("${topic}_raw", schema, rows, "WHERE topic = '${topic}'",
                          select=RAW_COLUMNS[1:])
        return self._write(RAW_FILE, sql + ";\n")

    def _write(self, name: str, text: str) -> Path:
        path = self._tmp / f"{len(list(self._tmp.iterdir()))}_{name}"
        path.write_text(text, encoding="utf-8")
        return path

    def overrides(self, inputs: Mapping[str, Rows]) -> dict[str, Path]:
        """file -> a copy of it in which each input view is VALUES rows."""
        raw = {name[:-4]: rows.dicts() for name, rows in inputs.items() if name.endswith("_raw")}
        out = {RAW_FILE: self._raw_override(raw)}
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
                    sql = values_view(name, self.schemas[name], views[name].dicts())
                text.append(sql + ";\n")
            out[file] = self._write(file, "\n".join(text))
        return out

    def needed(self, stmts: list[Statement], output: str, inputs: Iterable[str]
               ) -> list[Statement]:
        """The statements `output` depends on (stopping at the inputs), in job order."""
        by_name = {s.name: s for s in stmts if s.name}
        want, todo = set(), [output]
        while todo:
            name = todo.pop()
            if name in want or name not in by_name:
                continue
            want.add(name)
            if name in inputs:
                continue
            body = by_name[name].sql.split(" AS ", 1)[-1] if "VIEW" in by_name[name].sql \
                else by_name[name].sql
            todo += [n for n in by_name if n != name and re.search(rf"\b{n}\b", body)]
        return [s for s in stmts if s.name in want]

    def run(self, inputs: Mapping[str, Rows], outputs: Mapping[str, str | None]
            ) -> dict[str, list[dict[str, Any]]]:
        """The rows of each output view (the columns asked for, all when None) when the
        views in `inputs` hold the given rows: one Flink job for all of them. Rows are
        sorted (the order is stable), times written as in Rows."""
        stmts = self.statements(self.overrides(inputs))
        needed: dict[str, Statement] = {}
        for output in outputs:
            needed.update({s.sql: s for s in self.needed(stmts, output, inputs)})
        env = self.flink.table_env(self.cfg)
        for s in stmts:
            if s.sql in needed:
                env.execute_sql(s.sql)
        selects, names = [], {}
        for output, columns in outputs.items():
            types = dict(self.schemas[output])
            names[output] = columns.split() if columns else list(types)
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

    def run_one(self, inputs: Mapping[str, Rows], output: str, columns: str | None = None
                ) -> list[dict[str, Any]]:
        return self.run(inputs, {output: columns})[output]


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
    got = sorted(({k: r.get(k) for k in expected[0]} for r in got), key=_order) \
        if expected else got

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(
                a, bool) and not isinstance(b, bool):
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

"""Expand a Grafana panel's SQL the way Grafana's PostgreSQL datasource does, so tests, the
benchmark and `make report` run exactly the SQL a dashboard sends to the database.

Grafana expands in three steps, reproduced here in the same order:
1. the browser replaces template variables ($var, ${var}, ${var:fmt}, [[var]]) and the
   built-in $__interval / $__interval_ms / $__from / $__to, formatting values with the SQL
   datasource's interpolateVariable (packages/grafana-sql SqlDatasource.ts);
2. the server replaces $__interval_ms, $__interval, $__unixEpochFrom(), $__unixEpochTo()
   (pkg/tsdb/grafana-postgresql-datasource/sqleng Interpolate);
3. the server expands the PostgreSQL macros $__name(args) (macros.go): $__timeFilter,
   $__timeFrom, $__timeTo, $__timeGroup(Alias), $__unixEpochFilter, ...
The interval itself comes from the time range, the panel's max data points and its minimum
interval (rangeutil.ts calculateInterval / roundInterval).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ALL = "$__all"  # the value Grafana stores when "All" is selected


class GrafanaSqlError(ValueError):
    """A macro or variable that Grafana would also refuse (or that we do not know)."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise GrafanaSqlError(f"TimeRange.{name} must be timezone-aware")
        if self.end < self.start:
            raise GrafanaSqlError(f"time range ends before it starts: {self.start}..{self.end}")

    @classmethod
    def parse(cls, start: str, end: str) -> TimeRange:
        def one(text: str) -> datetime:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return t if t.tzinfo else t.replace(tzinfo=UTC)
        return cls(one(start), one(end))


@dataclass(frozen=True)
class Variable:
    """A dashboard template variable as the browser holds it when a panel runs.

    value: the selection, a string (single) or a list (multi); ALL for "All".
    options: every option's value, which "All" expands to unless all_value is set.
    """

    name: str
    value: str | Sequence[str]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: Sequence[str] = field(default_factory=tuple)


# ------------------------------------------------------------------ the interval

_ROUND_MS = [  # (below this raw interval, use this one), from rangeutil.ts roundInterval
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
    (1500, 1000), (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000),
    (25000, 20000), (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000),
    (750000, 600000), (1050000, 900000), (1500000, 1200000), (2700000, 1800000),
    (5400000, 3600000), (9000000, 7200000), (16200000, 10800000), (32400000, 21600000),
    (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
    (3628800000, 2592000000),
]
_UNIT_S = {"y": 31536000, "M": 2592000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1,
           "ms": 0.001}


def round_interval_ms(interval_ms: float) -> int:
    for below, rounded in _ROUND_MS:
        if interval_ms < below:
            return rounded
    return 31536000000


def interval_to_ms(text: str) -> int:
    """'1m' -> 60000, as Grafana's describeInterval (a bare number means seconds)."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])?\s*", text)
    if not m:
        raise GrafanaSqlError(f"invalid interval {text!r}: use a number and one of "
                              f"{', '.join(_UNIT_S)}")
    return int(float(m.group(1)) * _UNIT_S[m.group(2) or "s"] * 1000)


def format_interval(interval_ms: int) -> str:
    """60000 -> '1m', as Grafana's secondsToHms: the largest unit with a whole count."""
    s = interval_ms / 1000
    for count, unit in ((s // 31536000, "y"), ((s % 31536000) // 86400, "d"),
                        ((s % 86400) // 3600, "h"), ((s % 3600) // 60, "m"), (s % 60 // 1, "s"),
                        (s * 1000 // 1, "ms")):
        if count:
            return f"{int(count)}{unit}"
    raise GrafanaSqlError(f"interval {interval_ms} ms is less than a millisecond")


def calculate_interval_ms(rng: TimeRange, max_data_points: int, min_interval: str = "1m") -> int:
    """The panel's $__interval: range / max data points, rounded, at least min_interval."""
    if max_data_points <= 0:
        raise GrafanaSqlError(f"max data points must be positive, got {max_data_points}")
    span_ms = (rng.end - rng.start) / timedelta(milliseconds=1)
    return max(round_interval_ms(span_ms / max_data_points), interval_to_ms(min_interval))


# ------------------------------------------------------------------ template variables

# templateSrv's variableRegex: $var | [[var]] / [[var:fmt]] | ${var} / ${var.path} / ${var:fmt}
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(value: str | list[str], fmt: str | None) -> str:
    """One variable's text: an explicit ${var:fmt}, else the SQL datasource's own rule."""
    values = [value] if isinstance(value, str) else list(value)
    if fmt is None:
        if isinstance(value, str):
            # A single value is inserted bare with its quotes doubled, so a panel writes
            # '$var'. (Older Grafana quoted it for multi/include-all variables; those hold
            # a list, though, so the dashboards here never meet the difference.)
            return value.replace("'", "''")
        return ",".join(_quote(v) for v in values)  # a list: each quoted, comma-separated
    if fmt == "raw":
        return ",".join(values)
    if fmt == "sqlstring":
        return ",".join(_quote(v) for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "pipe":
        return "|".join(values)
    raise GrafanaSqlError(f"variable format {fmt!r} is not supported here")


def interpolate_variables(sql: str, variables: Mapping[str, Variable],
                          builtins: Mapping[str, str]) -> str:
    """Step 1 (browser): template variables and the built-ins in `builtins`.
    Names that are neither (e.g. $__timeFilter) stay for the server, as in Grafana."""

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in builtins:
            return _format(builtins[name], fmt)
        var = variables.get(name)
        if var is None:
            return m.group(0)
        value = var.value
        if value == ALL or (not isinstance(value, str) and list(value) == [ALL]):
            if not var.include_all:
                raise GrafanaSqlError(f"variable {name}: 'All' selected but includeAll is off")
            if var.all_value is not None:
                # Grafana inserts a custom all value unformatted (except text/percentencode)
                return var.all_value
            value = list(var.options)
        return _format(value, fmt)

    return _VARIABLE.sub(replace, sql)


# ------------------------------------------------------------------ server side


def _rfc3339(t: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: no trailing zeros in the fraction, 'Z'."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += ("." + f"{t.microsecond:06d}").rstrip("0")
    return text + "Z"


def _epoch(t: datetime) -> int:
    """Go's Time.Unix(): whole seconds, rounded down (also before 1970)."""
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)


def _epoch_ns(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def interpolate_global(sql: str, rng: TimeRange, interval_ms: int) -> str:
    """Step 2 (server, sqleng.Interpolate): plain text replacement, in this order."""
    sql = sql.replace("$__interval_ms", str(interval_ms))
    sql = sql.replace("$__interval", format_interval(interval_ms))
    sql = sql.replace("$__unixEpochFrom()", str(_epoch(rng.start)))
    return sql.replace("$__unixEpochTo()", str(_epoch(rng.end)))


_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")


def _seconds(interval: str) -> float:
    return interval_to_ms(interval.strip("'")) / 1000


def _fmt_num(x: float) -> str:
    """Go's %v of a float64: 60 -> '60', 0.5 -> '0.5'."""
    return str(int(x)) if float(x).is_integer() else repr(x)


def _macro(name: str, args: list[str], rng: TimeRange, timescaledb: bool) -> str:
    def need(n: int, what: str) -> None:
        if len(args) < n or not args[0]:
            raise GrafanaSqlError(f"macro ${name}: {what}")

    start, end = rng.start.astimezone(UTC), rng.end.astimezone(UTC)
    if name == "__time":
        need(1, "missing time column argument")
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        need(1, "missing time column argument")
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        need(1, "missing time column argument")
        return f"{args[0]} BETWEEN '{_rfc3339(start)}' AND '{_rfc3339(end)}'"
    if name == "__timeFrom":
        return f"'{_rfc3339(start)}'"
    if name == "__timeTo":
        return f"'{_rfc3339(end)}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        need(2, "needs time column and interval and optional fill value")
        if len(args) == 3:
            raise GrafanaSqlError(f"macro ${name}: fill values are not supported here")
        s = _seconds(args[1])
        text = (f"time_bucket('{s:.3f}s',{args[0]})" if timescaledb
                else f"floor(extract(epoch from {args[0]})/{_fmt_num(s)})*{_fmt_num(s)}")
        return text + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        need(1, "missing time column argument")
        return f"{args[0]} >= {_epoch(start)} AND {args[0]} <= {_epoch(end)}"
    if name == "__unixEpochNanoFilter":
        need(1, "missing time column argument")
        return f"{args[0]} >= {_epoch_ns(start)} AND {args[0]} <= {_epoch_ns(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_epoch_ns(start))
    if name == "__unixEpochNanoTo":
        return str(_epoch_ns(end))
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        need(2, "needs time column and interval and optional fill value")
        s = _fmt_num(_seconds(args[1]))
        text = f"floor(({args[0]})/{s})*{s}"
        return text + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise GrafanaSqlError(f"unknown macro {name!r}")


def interpolate_macros(sql: str, rng: TimeRange, timescaledb: bool = False) -> str:
    """Step 3 (server, macros.go)."""
    original = sql

    def replace(m: re.Match[str]) -> str:
        name, args = m.group(1), [a.strip(" ") for a in m.group(2).split(",")]
        # Grafana < 5.3 compatibility: "$__timeGroup(...)," means $__timeGroupAlias
        if name == "__timeGroup":
            at = original.find(m.group(0)) + len(m.group(0))
            if at < len(original) and original[at] == ",":
                name = "__timeGroupAlias"
        return _macro(name, args, rng, timescaledb)

    return _MACRO.sub(replace, sql)


def expand(sql: str, rng: TimeRange, variables: Mapping[str, Variable] | None = None, *,
           interval_ms: int = 60000, timescaledb: bool = False) -> str:
    """All three steps: the SQL text Grafana would send for this panel query."""
    builtins = {
        "__interval": format_interval(interval_ms),
        "__interval_ms": str(interval_ms),
        "__from": str(int(rng.start.timestamp() * 1000)),
        "__to": str(int(rng.end.timestamp() * 1000)),
    }
    sql = interpolate_variables(sql, variables or {}, builtins)
    sql = interpolate_global(sql, rng, interval_ms)
    return interpolate_macros(sql, rng, timescaledb)

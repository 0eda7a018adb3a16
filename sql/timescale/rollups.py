#!/usr/bin/env python3
"""The 5-minute and 1-hour rollups, written once: the SQL of 04_rollups.sql and
06_rollups_plain_maintained.sql is generated from the definitions below (each rollup
family's columns and aggregates, and the two bucket widths).

    python sql/timescale/rollups.py            # check: both files equal what this generates
    python sql/timescale/rollups.py --write    # rewrite them (see below first)

Both files are applied migrations: a database records their checksums and apply.sh refuses
a changed file (docs/storage.md). This generator therefore reproduces them byte for byte,
and tests/test_rollups_sql.py holds it to that. To change a rollup, change the definition
here and put the SQL of the change into a NEW migration, rendered with the functions below
(cagg(), plain_view(), store_view(), ...), not into 04 or 06.

Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"  # time_bucket's default origin (a Monday)
WRAP = 95  # column of the greedily wrapped lists (assignments, view columns)


@dataclass(frozen=True)
class Width:
    suffix: str  # of the rollup names: <family>_<suffix>
    interval: str
    refresh_start: str  # continuous-aggregate policy: refreshed range and period
    refresh_schedule: str


WIDTHS = (Width("5m", "5 minutes", "1 day", "5 minutes"),
          Width("1h", "1 hour", "3 days", "1 hour"))


@dataclass(frozen=True)
class Col:
    name: str
    agg: str  # max, min, avg, sum, or last: the newest non-NULL value of the bucket
    arg: str
    type: str = "double precision"

    def cagg(self) -> str:
        if self.agg == "last":
            return (f"last({self.arg}, window_start) FILTER (WHERE {self.arg} IS NOT NULL) "
                    f"AS {self.name}")
        return f"{self.agg}({self.arg}) AS {self.name}"

    def plain(self) -> str:
        if self.agg == "last":
            return (f"(array_agg({self.arg} ORDER BY window_start DESC) FILTER (WHERE "
                    f"{self.arg} IS NOT NULL))[1]\n         AS {self.name}")
        return self.cagg()

    def stored(self) -> str:
        """The expression over the raw rows `s` in the trigger's statement."""
        if self.agg == "last":
            return (f"(array_agg(s.{self.arg} ORDER BY s.window_start DESC)\n"
                    f"              FILTER (WHERE s.{self.arg} IS NOT NULL))[1]")
        return f"{self.agg}(s.{self.arg})"


@dataclass(frozen=True)
class Family:
    name: str  # rollups <name>_<width suffix>, store public.rollup_store_<name>
    source: str  # the one-minute table
    per_series: bool  # grouped by base and venue, or market-wide
    cols: tuple[Col, ...]
    lines: tuple[int, ...]  # columns per line of 04's select lists
    stored_lines: tuple[int, ...]  # ... and of 06's (() = on the SELECT line)

    @property
    def keys(self) -> str:
        return "base, venue, " if self.per_series else ""


FAMILIES = (
    Family("risk_scores", "risk_scores", True, (
        Col("risk_max", "max", "risk"), Col("risk_avg", "avg", "risk"),
        Col("long_risk_max", "max", "long_risk"), Col("short_risk_max", "max", "short_risk"),
        Col("pressure_avg", "avg", "pressure"), Col("confidence_min", "min", "confidence"),
    ), lines=(2, 2, 2), stored_lines=(4, 2)),
    Family("features", "features_1m", True, (
        Col("price_last", "last", "price"), Col("funding_8h_avg", "avg", "funding_8h"),
        Col("oi_usd_last", "last", "oi_usd"), Col("long_share_avg", "avg", "long_share"),
        Col("liq_long_usd_sum", "sum", "liq_long_usd"),
        Col("liq_short_usd_sum", "sum", "liq_short_usd"),
        Col("events_sum", "sum", "events", "numeric"),  # a sum of bigint
    ), lines=(1, 1, 1, 1, 2, 1), stored_lines=(1, 1, 1, 4)),
    Family("stablecoin_pressure", "stablecoin_pressure", False, (
        Col("inflow_usd_sum", "sum", "inflow_usd"), Col("outflow_usd_sum", "sum", "outflow_usd"),
        Col("pressure_avg", "avg", "pressure"),
    ), lines=(2, 1), stored_lines=()),
)


def _rows(items: list[str], counts: tuple[int, ...], indent: str) -> str:
    """items, `counts[i]` per line, comma-separated, lines after the first indented."""
    assert sum(counts) == len(items), (counts, items)
    out, i = [], 0
    for n in counts:
        out.append(", ".join(items[i:i + n]))
        i += n
    return f",\n{indent}".join(out)


def _wrap(items: list[str], first: str, indent: str, sep: str = ",", width: int = WRAP) -> str:
    """`first` then the items joined by `sep` and a space; a new line, starting with
    `indent`, where the next item would pass `width`."""
    lines, line, filled = [], first, False
    for n, item in enumerate(items):
        piece = item + (sep if n < len(items) - 1 else "")
        joined = line + ("" if line.endswith(" ") else " ") + piece
        if filled and len(joined) > width:
            lines.append(line)
            line = indent + piece
        else:
            line = joined
        filled = True
    return "\n".join([*lines, line])


# ------------------------------------------------------------------ 04: TimescaleDB and views

def cagg(f: Family, w: Width) -> str:
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {f.name}_{w.suffix}\n"
            "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
            f"SELECT {f.keys}time_bucket(INTERVAL '{w.interval}', window_start) AS bucket,\n"
            f"       {_rows([c.cagg() for c in f.cols], f.lines, '       ')}\n"
            f"FROM {f.source}\n"
            f"GROUP BY {f.keys}bucket\n"
            "WITH NO DATA;\n")


def policy(w: Width) -> str:
    names = ", ".join(f"'{f.name}_{w.suffix}'" for f in FAMILIES)
    return (f"SELECT add_continuous_aggregate_policy(v, start_offset => INTERVAL "
            f"'{w.refresh_start}',\n"
            f"         end_offset => INTERVAL '{w.interval}', schedule_interval => INTERVAL "
            f"'{w.refresh_schedule}',\n"
            "         if_not_exists => TRUE)\n"
            f"FROM unnest(ARRAY[{names}]::regclass[]) AS v;\n")


def plain_view(f: Family, w: Width) -> str:
    bucket = f"date_bin(INTERVAL '{w.interval}', window_start, {ORIGIN}) AS bucket"
    head = f"SELECT base, venue,\n       {bucket}" if f.per_series else f"SELECT {bucket}"
    return (f"CREATE OR REPLACE VIEW {f.name}_{w.suffix} AS\n"
            f"{head},\n"
            f"       {_rows([c.plain() for c in f.cols], f.lines, '       ')}\n"
            f"FROM {f.source}\n"
            f"GROUP BY {f.keys}bucket;\n")


HEADER_04 = """\
-- Long-range rollups of the one-minute series for the dashboards (names and columns as
-- docs/storage.md lists them): a 30-day panel reads 8640 five-minute or 720 hourly points
-- per asset instead of 43200 minutes. Generated by sql/timescale/rollups.py.
-- With TimescaleDB they are continuous aggregates, real-time (materialized_only = false:
-- buckets newer than the last refresh are computed from the raw rows at query time) and
-- refreshed by the policies below. Without it they are ordinary views with the same names
-- and columns, computed from the raw rows on every query; date_bin with time_bucket's
-- default origin (Monday 2000-01-03) gives the same buckets.
-- The hourly rollups aggregate the raw rows, not the five-minute ones, so averages are
-- exact whatever the number of rows per bucket.
-- "last" values are the newest non-NULL value of the bucket (a minute without a price
-- does not blank the bucket).
"""

REFRESH_04 = """\
-- Refresh: the five-minute rollups every five minutes over the last day, the hourly ones
-- every hour over the last three days, so upserts of late or replayed windows within that
-- range reach the rollups; the newest, not yet materialized buckets come from the raw
-- rows (real-time aggregation). Raw retention must stay longer than three days
-- (every_run/10_policies.sql checks it), or a refresh would empty dropped ranges.
"""


def migration_04() -> str:
    caggs = "\n".join(cagg(f, w) for f in FAMILIES for w in WIDTHS)
    views = "\n".join(plain_view(f, w) for f in FAMILIES for w in WIDTHS)
    return (f"{HEADER_04}\\if :timescale\n\n{caggs}\n{REFRESH_04}"
            f"{''.join(policy(w) for w in WIDTHS)}\n\\else\n\n{views}\n\\endif\n")


# ------------------------------------------------------------------ 06: plain, maintained

def store_table(f: Family) -> str:
    keys = [("width", "interval"), *([("base", "text"), ("venue", "text")] * f.per_series),
            ("bucket", "timestamptz")]
    pad = max(len(n) for n in [*(k for k, _ in keys), *(c.name for c in f.cols)]) + 1
    lines = [f"  {n:<{pad}}{t:<12}NOT NULL," for n, t in keys]
    lines += [f"  {c.name:<{pad}}{c.type}," for c in f.cols]
    pk = "width, venue, bucket, base" if f.per_series else "width, bucket"
    return (f"CREATE TABLE IF NOT EXISTS public.rollup_store_{f.name} (\n"
            + "\n".join(lines) + f"\n  PRIMARY KEY ({pk})\n);\n")


def store_sql_function(f: Family) -> str:
    """lcm_rollups.<family>_sql(changed): the statement that recomputes the buckets."""
    stored = [c.stored() for c in f.cols]
    if f.per_series:
        select = ("    SELECT $1, s.base, s.venue, %s,\n"
                  f"           {_rows(stored, f.stored_lines, '           ')}\n")
        group, conflict = "2, 3, 4", "width, venue, bucket, base"
    else:
        select = f"    SELECT $1, %s, {', '.join(stored)}\n"
        group, conflict = "2", "width, bucket"
    assignments = _wrap([f"{c.name} = EXCLUDED.{c.name}" for c in f.cols], " " * 6, " " * 6)
    args = _wrap(["lcm_rollups.bucket_of(changed)",
                  f"lcm_rollups.rows_of('{f.source}', changed, {str(f.per_series).lower()}))"],
                 "  $q$,", "     ")
    return (f"CREATE OR REPLACE FUNCTION lcm_rollups.{f.name}_sql(changed text)\n"
            "RETURNS text LANGUAGE sql IMMUTABLE AS $fn$\n"
            "  SELECT format($q$\n"
            f"    INSERT INTO public.rollup_store_{f.name} AS r\n"
            f"{select}"
            "    FROM %s\n"
            f"    GROUP BY {group}\n"
            f"    ON CONFLICT ({conflict}) DO UPDATE SET\n"
            f"{assignments}\n"
            f"{args}\n"
            "$fn$;\n")


def store_view(f: Family, w: Width) -> str:
    cols = ["base", "venue"] * f.per_series + ["bucket"] + [c.name for c in f.cols]
    return (f"CREATE OR REPLACE VIEW {f.name}_{w.suffix} AS\n"
            f"{_wrap(cols, 'SELECT', '       ')}\n"
            f"FROM public.rollup_store_{f.name} WHERE width = INTERVAL '{w.interval}';\n")


def _intervals(sep: str) -> str:
    return sep.join(f"INTERVAL '{w.interval}'" for w in WIDTHS)


HEADER_06 = """\
-- Plain PostgreSQL only: keep the rollups as tables updated on every write, so the rollup
-- views (same names and columns as the continuous aggregates, 04_rollups.sql) read a few
-- thousand stored buckets instead of aggregating millions of one-minute rows per query.
-- Measured by bench.storage: the 30-day risk panel went from about 1.5 s to the figures in
-- docs/storage.md. TimescaleDB does this with continuous aggregates, so there this file
-- does nothing.
--
-- How: a statement-level trigger on each source table (after INSERT and after UPDATE, so
-- the Flink upsert, INSERT ... ON CONFLICT DO UPDATE, fires one of them or both) takes the
-- rows the statement wrote, and recomputes every 5-minute and 1-hour bucket they touch
-- from the raw rows, with the same expressions the views used. A bucket therefore always
-- equals the aggregate of its raw rows, whatever the order and repetition of writes.
-- The tables are public.rollup_store_*: readable like every table (the dashboard tests
-- check plans against what the reader sees), never writable by the writer (excluded in
-- every_run/20_grants.sql); the functions live in schema lcm_rollups and the trigger
-- function runs as its owner (SECURITY DEFINER).
-- Generated, with 04_rollups.sql, by sql/timescale/rollups.py.
\\if :timescale
\\else

CREATE SCHEMA IF NOT EXISTS lcm_rollups;
REVOKE ALL ON SCHEMA lcm_rollups FROM PUBLIC;

"""

HELPERS_06 = """\
-- Helpers of the statements below. With `changed` a transition table: the raw rows of
-- every bucket (of width $1) that one of its rows falls in, found through the primary key;
-- with NULL: all raw rows (the initial fill, one scan).
CREATE OR REPLACE FUNCTION lcm_rollups.bucket_of(changed text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN changed IS NULL
    THEN 'date_bin($1, s.window_start, TIMESTAMPTZ ''2000-01-03 00:00:00+00'')'
    ELSE 'k.bucket' END
$fn$;

CREATE OR REPLACE FUNCTION lcm_rollups.rows_of(source text, changed text, per_series boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN changed IS NULL THEN format('public.%I s', source)
    WHEN per_series THEN format(
      '(SELECT DISTINCT base, venue, date_bin($1, window_start, '
      'TIMESTAMPTZ ''2000-01-03 00:00:00+00'') AS bucket FROM %I) AS k '
      'JOIN public.%I s ON s.base = k.base AND s.venue = k.venue '
      'AND s.window_start >= k.bucket AND s.window_start < k.bucket + $1', changed, source)
    ELSE format(
      '(SELECT DISTINCT date_bin($1, window_start, '
      'TIMESTAMPTZ ''2000-01-03 00:00:00+00'') AS bucket FROM %I) AS k '
      'JOIN public.%I s ON s.window_start >= k.bucket AND s.window_start < k.bucket + $1',
      changed, source)
    END
$fn$;

-- The statement that recomputes the buckets of width $1 touched by the rows in `changed`
-- (NULL: all buckets). Text, run by the trigger function itself: transition tables are
-- visible only to the trigger's own queries.
"""


def trigger_06() -> str:
    return f"""\
-- The trigger function: TG_ARGV[0] names the family; the statement's rows are `changed`.
CREATE OR REPLACE FUNCTION lcm_rollups.on_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  q text;
  w interval;
BEGIN
  -- An upsert fires both the INSERT and the UPDATE trigger; one of them has no rows.
  IF NOT EXISTS (SELECT FROM changed) THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT lcm_rollups.%I(%L)', TG_ARGV[0] || '_sql', 'changed') INTO q;
  FOREACH w IN ARRAY ARRAY[{_intervals(', ')}] LOOP
    EXECUTE q USING w;
  END LOOP;
  RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION lcm_rollups.on_write() FROM PUBLIC;

-- Recompute every bucket from all raw rows, one scan per source table: the initial fill
-- below, and after a bulk load with the triggers disabled (bench.storage does that).
CREATE OR REPLACE FUNCTION lcm_rollups.fill() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
DECLARE
  family text;
  q text;
BEGIN
  FOREACH family IN ARRAY ARRAY[{', '.join(f"'{f.name}'" for f in FAMILIES)}] LOOP
    EXECUTE format('SELECT lcm_rollups.%I(NULL)', family || '_sql') INTO q;
{''.join(f"    EXECUTE q USING INTERVAL '{w.interval}';{chr(10)}" for w in WIDTHS)}\
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION lcm_rollups.fill() FROM PUBLIC;

DO $$
DECLARE
  src text[];
BEGIN
  FOREACH src SLICE 1 IN ARRAY ARRAY[{(","+chr(10)+" " * 37).join(
        f"['{f.source}', '{f.name}']" for f in FAMILIES)}] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS rollups_on_insert ON %I', src[1]);
    EXECUTE format('DROP TRIGGER IF EXISTS rollups_on_update ON %I', src[1]);
    EXECUTE format('CREATE TRIGGER rollups_on_insert AFTER INSERT ON %I REFERENCING NEW TABLE '
                   'AS changed FOR EACH STATEMENT EXECUTE FUNCTION lcm_rollups.on_write(%L)',
                   src[1], src[2]);
    EXECUTE format('CREATE TRIGGER rollups_on_update AFTER UPDATE ON %I REFERENCING NEW TABLE '
                   'AS changed FOR EACH STATEMENT EXECUTE FUNCTION lcm_rollups.on_write(%L)',
                   src[1], src[2]);
  END LOOP;
END
$$;
-- Rows written before this migration (an existing database): fill their buckets.
SELECT lcm_rollups.fill();
"""


def migration_06() -> str:
    tables = "\n".join(store_table(f) for f in FAMILIES)
    functions = "\n".join(store_sql_function(f) for f in FAMILIES)
    views = "".join(store_view(f, w) for f in FAMILIES for w in WIDTHS)
    return (f"{HEADER_06}{tables}\n{HELPERS_06}{functions}\n{trigger_06()}\n"
            "-- The contract's views, now reading the stored buckets (same names, columns and "
            f"types).\n{views}\n\\endif\n")


GENERATED = {"04_rollups.sql": migration_04, "06_rollups_plain_maintained.sql": migration_06}


def stale(sql_dir: Path = HERE) -> list[tuple[str, str, str]]:
    """(file name, generated, on disk) of each file that differs from what is generated."""
    out = []
    for name, render in GENERATED.items():
        path = sql_dir / name
        now = path.read_text(encoding="utf-8") if path.exists() else ""
        if now != (want := render()):
            out.append((name, want, now))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true",
                    help="rewrite the files (only for a migration not yet applied anywhere)")
    args = ap.parse_args(argv)
    for name, want, now in stale():
        if args.write:
            (HERE / name).write_text(want, encoding="utf-8")
            print(f"wrote {name}")
            continue
        diff = difflib.unified_diff(now.splitlines(), want.splitlines(), name, "generated",
                                    lineterm="", n=1)
        print("\n".join(diff), file=sys.stderr)
        print(f"{name} differs from what sql/timescale/rollups.py generates", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

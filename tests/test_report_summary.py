"""python -m report.summary, the user CLI: usage errors and a missing password exit 2,
expected failures (database unreachable, nothing to show) one line and exit 1, never a
traceback; on real rows (the sample through the job) --asset, --from/--to and --json
select exactly what the tables hold."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import psycopg
import pytest
from psycopg.rows import dict_row

from lcm.paths import REPO_DIR

FROM, TO = "2026-11-20T14:05:00Z", "2026-11-20T14:12:00Z"


def summary(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "report.summary", *args], cwd=REPO_DIR,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "yesterday"], "'yesterday' is not an ISO-8601 time"),
    (["--from", TO, "--to", FROM], "is not before --to"),
    (["--minutes", "0"], "'0' is not a whole number of at least 1"),
    (["--nope"], "unrecognized arguments: --nope"),
])
def test_usage_errors_exit_2_naming_the_argument(args: list[str], message: str) -> None:
    out = summary(*args)
    assert out.returncode == 2, out
    assert message in out.stderr and "Traceback" not in out.stderr


def test_help_lists_the_options() -> None:
    out = summary("--help")
    assert out.returncode == 0
    for option in ("--asset", "--from", "--to", "--json", "--minutes", "--alerts"):
        assert option in out.stdout


def test_a_missing_password_is_one_clear_line() -> None:
    out = summary(LCM_READER_PASSWORD="")
    assert out.returncode == 2  # a configuration error (lcm.cli's exit codes)
    assert out.stderr.strip() == ("report.summary: no password for the reader role: set "
                                  "LCM_READER_PASSWORD (make setup generates it into .env)")


def test_an_unreachable_database_is_one_clear_line() -> None:
    port = free_port()  # nothing listens there
    out = summary("--asset", "BTC", PGPORT=str(port), LCM_READER_PASSWORD="x")
    assert out.returncode == 1
    assert out.stderr.startswith(f"report.summary: cannot read PostgreSQL at 127.0.0.1:{port}")
    assert "make up" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.stack
def test_summary_selects_assets_and_range_from_real_rows(pipeline_data) -> None:
    db_args = ["--database", pipeline_data.database]
    out = summary("--asset", "btc", "--from", FROM, "--to", TO, "--json", *db_args)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    with psycopg.connect(pipeline_data.reader_dsn, row_factory=dict_row) as db:
        want = db.execute(
            "SELECT window_start, risk, level FROM risk_scores WHERE base = 'BTC' AND "
            "venue = 'all' AND window_start >= %s AND window_start < %s ORDER BY 1",
            (FROM, TO)).fetchall()
        alerts = db.execute("SELECT window_start, level FROM alerts WHERE base = 'BTC' AND "
                            "window_start >= %s AND window_start < %s ORDER BY 1 DESC",
                            (FROM, TO)).fetchall()
    assert len(want) == 7  # 14:05 ... 14:11
    assert [(r["window_start"], r["risk"], r["level"]) for r in got["scores"]] == [
        (f"{w['window_start']:%Y-%m-%dT%H:%M:%SZ}", w["risk"], w["level"]) for w in want]
    assert {r["base"] for r in got["scores"]} == {"BTC"}
    assert [(a["window_start"], a["level"]) for a in got["alerts"]] == [
        (f"{a['window_start']:%Y-%m-%dT%H:%M:%SZ}", a["level"]) for a in alerts]
    assert (got["from"], got["to"], got["assets"]) == (FROM, TO, ["BTC"])

    text = summary("--asset", "BTC,ETH", "--from", FROM, "--to", TO, *db_args)
    assert text.returncode == 0, text.stderr
    rows = [line for line in text.stdout.splitlines() if line.startswith("2026-11-20 14:")]
    assert {line.split()[2] for line in rows} <= {"BTC", "ETH"}
    assert "2026-11-20 14:05 to 2026-11-20 14:12 UTC, BTC, ETH" in text.stdout

    # The default: the newest 15 minutes, every asset (what make demo prints).
    default = summary(*db_args)
    assert default.returncode == 0, default.stderr
    assert "last 15 min" in default.stdout
    assert {line.split()[2] for line in default.stdout.splitlines()
            if line.startswith("2026-11-20 14:")} >= set(pipeline_data.assets)

    nothing = summary("--asset", "NOPE", "--from", FROM, "--to", TO, *db_args)
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == ("report.summary: no scores for NOPE between "
                                      "2026-11-20 14:05 and 2026-11-20 14:12 UTC")

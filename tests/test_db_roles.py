"""Least privilege on the local PostgreSQL: the dashboard role (Grafana, make report) can
only read; the writer (Flink sink, ingest) can upsert but not delete or create."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from tests.timescale import dataset
from tests.timescale.local_pg import LocalDatabase, local_database

pytestmark = pytest.mark.stack

TABLES = ("features_1m", "risk_scores", "stablecoin_pressure", "alerts", "liquidations",
          "dead_letters", "source_health", "topic_events_1m")
UPSERT = ("INSERT INTO topic_events_1m (topic, window_start, events, dead_letters) "
          "VALUES ('prices', '2026-11-20 10:00Z', %s, 0) "
          "ON CONFLICT (topic, window_start) DO UPDATE SET events = EXCLUDED.events")
# Statements neither role may run, each paired with the error it must raise for the role.
DDL = ("CREATE TABLE sneaky (x int)",
       "CREATE TEMPORARY TABLE sneaky (x int)",
       "CREATE VIEW sneaky AS SELECT 1",
       "CREATE INDEX sneaky ON risk_scores (risk)",
       "ALTER TABLE risk_scores ADD COLUMN sneaky int",
       "DROP TABLE dead_letters",
       "TRUNCATE topic_events_1m",
       "DELETE FROM topic_events_1m")


@pytest.fixture(scope="module")
def db() -> Iterator[LocalDatabase]:
    with local_database("roles") as database:
        with database.connect("writer") as w:
            w.execute(UPSERT, (5,))
        yield database


def refused(db: LocalDatabase, role: str, sql: str, read_write: bool = False) -> Exception:
    with db.connect(role, autocommit=True) as conn:
        if read_write:  # anyone may lift their own read-only default
            conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.Error) as err:
            conn.execute(sql)
    return err.value


def test_the_dashboard_role_reads_every_table_and_rollup(db: LocalDatabase) -> None:
    for rel in (*TABLES, *dataset.ROLLUPS):
        db.query(f"SELECT * FROM {rel} LIMIT 1")
    assert db.query("SELECT events FROM topic_events_1m") == [{"events": 5}]


def test_the_dashboard_role_defaults_to_read_only_with_a_timeout(db: LocalDatabase) -> None:
    assert db.query("SELECT current_setting('default_transaction_read_only') AS ro, "
                    "current_setting('statement_timeout') AS timeout") == [
        {"ro": "on", "timeout": "30s"}]


@pytest.mark.parametrize("sql", [
    "INSERT INTO topic_events_1m VALUES ('x', '2026-11-20 11:00Z', 1, 0)",
    "UPDATE topic_events_1m SET events = 0",
    "INSERT INTO features_1m (base, venue, window_start, window_end) "
    "VALUES ('BTC', 'all', now(), now())",
    "INSERT INTO schema_migrations VALUES (99, 'x', 'x', 'plain')",
    *DDL])
def test_the_dashboard_role_cannot_write_or_change_the_schema(db: LocalDatabase,
                                                             sql: str) -> None:
    # Read-only transactions stop it first; without them, missing privileges still would.
    err = refused(db, "reader", sql)
    assert isinstance(err, errors.ReadOnlySqlTransaction | errors.InsufficientPrivilege), err
    err = refused(db, "reader", sql, read_write=True)
    assert isinstance(err, errors.InsufficientPrivilege), err
    assert db.query("SELECT events FROM topic_events_1m") == [{"events": 5}]


def test_the_writer_upserts(db: LocalDatabase) -> None:
    with db.connect("writer") as w:
        w.execute(UPSERT, (7,))
        assert w.execute("SELECT events FROM topic_events_1m").fetchall() == [{"events": 7}]
        w.execute(UPSERT, (5,))


@pytest.mark.parametrize("sql", [*DDL, "INSERT INTO schema_migrations VALUES (99, 'x', 'x', "
                                       "'plain')",
                                 "UPDATE schema_migrations SET checksum = 'x'",
                                 "UPDATE rollup_store_risk_scores SET risk_max = 0"])
def test_the_writer_cannot_delete_create_or_touch_the_migration_records(db: LocalDatabase,
                                                                        sql: str) -> None:
    err = refused(db, "writer", sql)
    assert isinstance(err, errors.InsufficientPrivilege), err
    assert db.query("SELECT events FROM topic_events_1m") == [{"events": 5}]


def test_logins_need_the_generated_passwords(db: LocalDatabase) -> None:
    for role, password in (("writer", db.conn.writer_password),
                           ("reader", db.conn.reader_password)):
        assert len(password) >= 16, f"{role} password is not a generated one"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            db.connect(role, password=password + "x")


def test_what_the_reader_can_lift_gains_it_nothing_and_its_sessions_are_bounded(
        db: LocalDatabase) -> None:
    """PostgreSQL lets any session SET its read-only default and timeout: with both lifted
    the reader still cannot write, and its connections are capped (docs/storage.md)."""
    with db.connect("reader", autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("SET statement_timeout = 0")
        limit = conn.execute("SELECT rolconnlimit FROM pg_roles "
                             "WHERE rolname = current_user").fetchone()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(UPSERT, (9,))
    assert limit == {"rolconnlimit": 30}
    assert db.query("SELECT events FROM topic_events_1m") == [{"events": 5}]

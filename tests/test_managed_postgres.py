"""sql/timescale/apply.sh on a managed PostgreSQL: connected as the owner role such services
hand out (CREATEROLE and CREATEDB, no superuser), the migrations, roles and grants apply,
the statements only a superuser may run are skipped with a notice, and least privilege
holds as on the local server. Played on the local server (make up) with such a role."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors

from lcm.paths import REPO_DIR, SQL_DIR
from lcm.settings import Connections

pytestmark = pytest.mark.stack
POSTGRES_SH = REPO_DIR / "stack" / "postgres.sh"


@dataclass
class Managed:
    conn: Connections
    owner: str
    db: str
    writer: str
    reader: str
    password: str

    def apply(self) -> subprocess.CompletedProcess[str]:
        # the server's own psql (apply.sh uses \\getenv and \\warn), else the one on PATH
        psql = max(glob.glob("/usr/lib/postgresql/*/bin/psql"), default=shutil.which("psql"))
        assert psql, "psql not found"
        env = {**os.environ, "PATH": f"{os.path.dirname(psql)}:{os.environ['PATH']}",
               "PGHOST": self.conn.pg_host, "PGPORT": str(self.conn.pg_port),
               "PGUSER": self.owner, "PGPASSWORD": self.password, "PGSSLMODE": "disable",
               "LCM_DB": self.db, "LCM_WRITER_USER": self.writer,
               "LCM_READER_USER": self.reader, "LCM_WRITER_PASSWORD": self.password,
               "LCM_READER_PASSWORD": self.password}
        return subprocess.run(["bash", str(SQL_DIR / "timescale" / "apply.sh")], env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    def connect(self, user: str) -> psycopg.Connection:
        return psycopg.connect(host=self.conn.pg_host, port=self.conn.pg_port, dbname=self.db,
                               user=user, password=self.password, sslmode="disable",
                               autocommit=True)


def _superuser(sql: str) -> None:
    subprocess.run([POSTGRES_SH, "psql", "postgres", "-c", sql], check=True,
                   capture_output=True, timeout=60)


@pytest.fixture
def managed(stack: Connections) -> Iterator[Managed]:
    tag = uuid.uuid4().hex[:8]
    m = Managed(stack, f"lcm_owner_{tag}", f"lcm_managed_{tag}", f"lcm_w_{tag}",
                f"lcm_r_{tag}", secrets.token_hex(12))
    _superuser(f"CREATE ROLE {m.owner} LOGIN CREATEDB CREATEROLE NOSUPERUSER "
               f"PASSWORD '{m.password}'")
    try:
        yield m
    finally:
        subprocess.run([POSTGRES_SH, "dropdb", m.db], capture_output=True, timeout=120,
                       check=False)
        for role in (m.writer, m.reader, m.owner):
            subprocess.run([POSTGRES_SH, "psql", "postgres", "-c",
                            f"DROP ROLE IF EXISTS {role}"], capture_output=True, timeout=60,
                           check=False)


def test_migrations_apply_as_a_non_superuser_owner(managed: Managed) -> None:
    first = managed.apply()
    assert first.returncode == 0, first.stderr
    assert "notice: not a superuser" in first.stderr, first.stderr
    assert "ERROR" not in first.stderr
    again = managed.apply()  # idempotent, as on every `make db-init`
    assert again.returncode == 0 and "0 migration(s) applied" in again.stdout, again.stderr

    with managed.connect(managed.owner) as db:
        owner = db.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                           "WHERE datname = %s", (managed.db,)).fetchone()[0]
        assert owner == managed.owner
        supers = db.execute("SELECT rolname FROM pg_roles WHERE rolsuper AND rolname = ANY(%s)",
                            ([managed.writer, managed.reader],)).fetchall()
        assert supers == []
    with managed.connect(managed.writer) as w:
        w.execute("INSERT INTO topic_events_1m (topic, window_start, events, dead_letters) "
                  "VALUES ('prices', '2026-11-20 10:00Z', 1, 0)")
        with pytest.raises(errors.InsufficientPrivilege):
            w.execute("DELETE FROM topic_events_1m")
        with pytest.raises(errors.InsufficientPrivilege):
            w.execute("CREATE TABLE sneaky (x int)")
    with managed.connect(managed.reader) as r:
        assert r.execute("SELECT count(*) FROM topic_events_1m").fetchone()[0] == 1
        with pytest.raises(errors.ReadOnlySqlTransaction):
            r.execute("INSERT INTO topic_events_1m (topic, window_start, events, dead_letters)"
                      " VALUES ('prices', '2026-11-20 10:01Z', 1, 0)")

"""A throwaway database on the local PostgreSQL server (make up), with the schema applied
by the real migration command (stack/postgres.sh init -> sql/timescale/apply.sh). That
server has no timescaledb extension, so this is the plain-PostgreSQL branch."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import psycopg
import pytest
from psycopg.rows import dict_row

from lcm.paths import REPO_DIR
from lcm.settings import Connections

POSTGRES_SH = REPO_DIR / "stack" / "postgres.sh"


@dataclass
class LocalDatabase:
    name: str
    conn: Connections

    def init(self, *args: str) -> subprocess.CompletedProcess[str]:
        """(Re)apply the schema; fails the test with the command's output on error."""
        out = subprocess.run([POSTGRES_SH, "init", self.name, *args], capture_output=True,
                             text=True, timeout=300, check=False)
        if out.returncode != 0:
            pytest.fail(f"stack/postgres.sh init {self.name} failed:\n{out.stdout}{out.stderr}")
        return out

    def connect(self, role: Literal["writer", "reader"], **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.conn.dsn(role), dbname=self.name, row_factory=dict_row,
                               **kwargs)

    def query(self, sql: str, params: tuple | None = None,
              role: Literal["writer", "reader"] = "reader") -> list[dict]:
        with self.connect(role) as db:
            return db.execute(sql, params).fetchall()


@contextmanager
def local_database(label: str) -> Iterator[LocalDatabase]:
    db = LocalDatabase(f"lcm_{label}_{uuid.uuid4().hex[:8]}", Connections.from_env())
    try:
        db.init()
        yield db
    finally:
        subprocess.run([POSTGRES_SH, "dropdb", db.name], capture_output=True, timeout=120,
                       check=False)

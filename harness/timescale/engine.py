"""A throwaway TimescaleDB server for tests and bench.storage: PGlite with the timescaledb
extension (PostgreSQL compiled to WebAssembly, under Node; harness/timescale/serve.mjs) on
a free local port.

psql (so sql/timescale/apply.sh itself) and psycopg connect to it as to a server. Limits
of the engine: one in-memory database whatever the name, one backend shared by
connections that take turns, any password accepted, no TLS, no COPY (it ends the server).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from lcm.paths import SQL_DIR

HERE = Path(__file__).resolve().parent
APPLY = SQL_DIR / "timescale" / "apply.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TimescaleEngine:
    port: int

    @property
    def env(self) -> dict[str, str]:
        """Environment for apply.sh: superuser over TCP, throwaway role passwords."""
        return {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(self.port),
                "PGUSER": "postgres", "PGPASSWORD": "unused", "PGSSLMODE": "disable",
                "PGOPTIONS": "", "LCM_DB": "lcm", "LCM_WRITER_USER": "lcm_writer",
                "LCM_READER_USER": "lcm_reader", "LCM_WRITER_PASSWORD": "test-writer",
                "LCM_READER_PASSWORD": "test-reader"}

    def apply(self, *args: str, apply_sh: Path = APPLY, check: bool = True,
              **settings: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(["bash", str(apply_sh), *args], env={**self.env, **settings},
                             capture_output=True, text=True, timeout=300, check=False)
        if check:
            assert out.returncode == 0, f"apply.sh failed:\n{out.stdout}\n{out.stderr}"
        return out

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               password="unused", dbname="lcm", sslmode="disable",
                               autocommit=True, row_factory=dict_row)

    def query(self, sql: str, params: tuple | dict | None = None) -> list[dict]:
        with self.connect() as db:
            return db.execute(sql, params).fetchall()


@contextmanager
def timescale_engine(data_dir: Path | None = None) -> Iterator[TimescaleEngine]:
    """The engine on a free port, in memory or (data_dir) on disk; stopped on exit.
    Also used by bench.storage for the TimescaleDB figures."""
    if shutil.which("node") is None or not (HERE / "node_modules").exists():
        raise RuntimeError("Node.js or harness/timescale/node_modules missing: run 'make setup'")
    port = free_port()
    cmd = ["node", str(HERE / "serve.mjs"), str(port), *([str(data_dir)] if data_dir else [])]
    # The engine's output goes to a file, not a pipe: a chatty engine never blocks.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if line.strip() != f"ready {port}":
                proc.kill()
                log.seek(0)
                raise RuntimeError(
                    f"the TimescaleDB test engine did not start: {line}{log.read()}")
            yield TimescaleEngine(port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

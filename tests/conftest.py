"""Fixtures for tests that run on the real local stack (make up): Kafka, Flink, PostgreSQL.

Each such test gets its own topic prefix and its own database, so it never reads or
overwrites the demo's data, and it cleans both up afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from flink_jobs.config import REPO_DIR, Connections, load_config
from ingest import kafka_io

STACK = REPO_DIR / "stack"


def _flink(path: str, conn: Connections, method: str = "GET") -> dict:
    req = urllib.request.Request(conn.flink_rest + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


@pytest.fixture(scope="session")
def conn() -> Connections:
    return Connections.from_env()


@pytest.fixture(scope="session")
def stack(conn: Connections) -> Connections:
    """The running native stack, or a failure that says how to start it."""
    problems = []
    try:
        AdminClient({"bootstrap.servers": conn.kafka_bootstrap}).list_topics(timeout=10)
    except Exception as exc:
        problems.append(f"Kafka at {conn.kafka_bootstrap}: {exc}")
    try:
        psycopg.connect(conn.dsn("writer"), connect_timeout=5).close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {conn.pg_host}:{conn.pg_port}: {exc}")
    try:
        _flink("/overview", conn)
    except Exception as exc:
        problems.append(f"Flink at {conn.flink_rest}: {exc}")
    if problems:
        pytest.fail("the local stack is not up (run 'make up'):\n  " + "\n  ".join(problems))
    return conn


@dataclass
class Sandbox:
    """A topic prefix and a database of one's own, plus the jobs submitted into them."""

    conn: Connections
    prefix: str
    db: str
    jobs: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "LCM_TOPIC_PREFIX": self.prefix, "LCM_DB": self.db}

    def dsn(self) -> str:
        return self.conn.dsn("writer").replace(f"dbname={self.conn.pg_db}", f"dbname={self.db}")

    def submit_job(self) -> str:
        out = subprocess.run([STACK / "job.sh", "submit"], env=self.env, check=True,
                             capture_output=True, text=True, timeout=300).stdout
        job_id = next(line.split("=", 1)[1] for line in out.splitlines()
                      if line.startswith("JOB_ID="))
        self.jobs.append(job_id)
        return job_id

    def job_state(self, job_id: str) -> dict:
        info = _flink(f"/jobs/{job_id}", self.conn)
        exceptions = _flink(f"/jobs/{job_id}/exceptions", self.conn)
        return {"state": info["state"],
                "failures": len(exceptions.get("exceptionHistory", {}).get("entries", []))}

    def cancel_jobs(self) -> None:
        for job_id in self.jobs:
            with contextlib.suppress(Exception):  # already gone is fine
                _flink(f"/jobs/{job_id}?mode=cancel", self.conn, method="PATCH")
            for _ in range(60):
                if _flink(f"/jobs/{job_id}", self.conn)["state"] in ("CANCELED", "FAILED",
                                                                    "FINISHED"):
                    break
                time.sleep(0.5)
        self.jobs.clear()

    @property
    def group(self) -> str:
        return f"{self.prefix}{load_config().pipeline.consumer_group}"

    def _input_partitions(self) -> list[TopicPartition]:
        return [TopicPartition(self.prefix + t, p)
                for t, n in kafka_io.topic_partitions().items()
                if t not in ("alerts", kafka_io.DEAD_LETTER_TOPIC) for p in range(n)]

    def caught_up(self) -> bool:
        """The job's consumer group has committed (on a checkpoint) up to the end of every
        input partition: everything before has passed through the job and its sinks."""
        consumer = Consumer({"bootstrap.servers": self.conn.kafka_bootstrap,
                             "group.id": self.group, "enable.auto.commit": False})
        try:
            committed = consumer.committed(self._input_partitions(), timeout=10)
            return all(tp.offset >= consumer.get_watermark_offsets(tp, timeout=10)[1]
                       for tp in committed)
        finally:
            consumer.close()

    def forget_offsets(self) -> None:
        """Drop the job's consumer group, so caught_up() tracks a new job from zero."""
        admin = AdminClient({"bootstrap.servers": self.conn.kafka_bootstrap})
        for fut in admin.delete_consumer_groups([self.group], request_timeout=10).values():
            fut.result()

    def query(self, sql: str) -> list[dict]:
        with psycopg.connect(self.dsn(), row_factory=psycopg.rows.dict_row) as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def sandbox(stack: Connections) -> Iterator[Sandbox]:
    tag = uuid.uuid4().hex[:8]
    box = Sandbox(stack, prefix=f"t{tag}_", db=f"lcm_test_{tag}")
    subprocess.run([STACK / "postgres.sh", "init", box.db], check=True, capture_output=True,
                   timeout=120)
    kafka_io.ensure_topics(stack.kafka_bootstrap, box.prefix)
    try:
        yield box
    finally:
        box.cancel_jobs()
        kafka_io.delete_topics(stack.kafka_bootstrap,
                               [box.prefix + t for t in kafka_io.topic_partitions()])
        subprocess.run([STACK / "postgres.sh", "dropdb", box.db], capture_output=True,
                       timeout=120)


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 1.0):
    """Poll until predicate() is truthy; fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


SAMPLE = Path(REPO_DIR, "ingest", "samples", "sample.jsonl")

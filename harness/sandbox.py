"""An isolated copy of the pipeline on the running local cluster: its own topic prefix and
its own database, so tests, benchmarks and backtests never touch the monitor's live data.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.error
import uuid
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import TopicPartition

from flink_jobs.cluster import ACTIVE_STATES, flink_rest
from lcm import kafka_io
from lcm.paths import REPO_DIR, state_dir
from lcm.pipeline import load_pipeline
from lcm.settings import Connections
from lcm.topics import DATA_TOPICS, HEALTH_TOPIC, HEARTBEAT_TOPIC, TOPICS

__all__ = ["ACTIVE_STATES", "Sandbox", "flink_rest"]
STACK = REPO_DIR / "stack"
# A test or benchmark queues this long for a task slot that another one is releasing.
SLOT_WAIT_S = 120


@dataclass
class Sandbox:
    """A topic prefix and a database of one's own, plus the jobs submitted into them."""

    conn: Connections
    prefix: str
    db: str
    jobs: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"LCM_SLOT_WAIT_S": str(SLOT_WAIT_S), **os.environ,
                "LCM_TOPIC_PREFIX": self.prefix, "LCM_DB": self.db}

    def dsn(self) -> str:
        return self.conn.dsn("writer", dbname=self.db)

    def submit_job(self, *job_args: str, env: dict[str, str] | None = None) -> str:
        """Submit the job into the sandbox (job_args go to flink_jobs.job; env adds to the
        sandbox's, e.g. LCM_PARALLELISM)."""
        run = subprocess.run([STACK / "job.sh", "submit", *job_args],
                             env={**self.env, **(env or {})},
                             capture_output=True, text=True, timeout=SLOT_WAIT_S + 300)
        if run.returncode != 0:
            raise RuntimeError(f"submitting the sandbox job failed:\n{run.stderr.strip()}")
        out = run.stdout
        job_id = next(line.split("=", 1)[1] for line in out.splitlines()
                      if line.startswith("JOB_ID="))
        self.jobs.append(job_id)
        return job_id

    def job_state(self, job_id: str) -> dict:
        info = flink_rest(f"/jobs/{job_id}", self.conn)
        exceptions = flink_rest(f"/jobs/{job_id}/exceptions", self.conn)
        return {"state": info["state"],
                "failures": len(exceptions.get("exceptionHistory", {}).get("entries", []))}

    @property
    def job_name(self) -> str:
        return f"{self.prefix}liquidation-cascade-monitor"

    def cancel_jobs(self) -> None:
        """Cancel the sandbox's jobs and wait until they released their slots. A job the
        cluster no longer knows (HTTP 404, e.g. after a JobManager restart) is gone. Jobs of
        the sandbox's name that the job keeper resubmitted (new ids) are cancelled too, and
        its registry entry goes, so the keeper never brings the sandbox back."""
        (state_dir() / "flink" / "jobs" / f"{self.job_name}.json").unlink(missing_ok=True)
        with contextlib.suppress(urllib.error.URLError, OSError, KeyError):
            self.jobs += [j["jid"] for j in flink_rest("/jobs/overview", self.conn)["jobs"]
                          if j["name"] == self.job_name and j["state"] in ACTIVE_STATES
                          and j["jid"] not in self.jobs]
        for job_id in self.jobs:
            with contextlib.suppress(urllib.error.URLError):  # already gone is fine
                flink_rest(f"/jobs/{job_id}?mode=cancel", self.conn, method="PATCH")
            for _ in range(120):
                try:
                    if flink_rest(f"/jobs/{job_id}", self.conn)["state"] not in ACTIVE_STATES:
                        break
                except urllib.error.HTTPError as exc:
                    if exc.code == 404:
                        break
                    raise
                time.sleep(0.5)
        self.jobs.clear()

    @property
    def group(self) -> str:
        return f"{self.prefix}{load_pipeline().consumer_group}"

    def _input_partitions(self) -> list[TopicPartition]:
        return [TopicPartition(self.prefix + t, p)
                for t in (*DATA_TOPICS, HEARTBEAT_TOPIC, HEALTH_TOPIC)
                for p in range(TOPICS[t])]

    def caught_up(self) -> bool:
        """The job's consumer group has committed (on a checkpoint) up to the end of every
        input partition: everything before has passed through the job and its sinks."""
        consumer = kafka_io.make_consumer(self.conn.kafka_bootstrap, self.group,
                                          **{"enable.auto.commit": False})
        try:
            committed = consumer.committed(self._input_partitions(), timeout=10)
            for tp in committed:
                low, high = consumer.get_watermark_offsets(tp, timeout=10)
                if high > low and tp.offset < high:  # an empty partition has nothing to commit
                    return False
            return True
        finally:
            consumer.close()

    def forget_offsets(self) -> None:
        """Drop the job's consumer group, so caught_up() tracks a new job from zero."""
        kafka_io.delete_consumer_groups(self.conn.kafka_bootstrap, [self.group])

    def query(self, sql: str) -> list[dict]:
        with psycopg.connect(self.dsn(), row_factory=psycopg.rows.dict_row) as db:
            return db.execute(sql).fetchall()

    @classmethod
    def create(cls, conn: Connections, label: str = "t") -> Sandbox:
        tag = uuid.uuid4().hex[:8]
        box = cls(conn, prefix=f"{label}{tag}_", db=f"lcm_{label}_{tag}")
        subprocess.run([STACK / "postgres.sh", "init", box.db], check=True, capture_output=True,
                       timeout=120)
        kafka_io.ensure_topics(conn.kafka_bootstrap, box.prefix)
        return box

    def destroy(self) -> None:
        """Remove everything the sandbox made: jobs, topics, consumer groups (the job's and
        any reader's under the prefix), database. Each step runs even if one before failed."""
        steps = (self.cancel_jobs,
                 lambda: kafka_io.delete_topics(self.conn.kafka_bootstrap,
                                                [self.prefix + t for t in TOPICS]),
                 lambda: kafka_io.delete_consumer_groups(
                     self.conn.kafka_bootstrap,
                     kafka_io.consumer_groups(self.conn.kafka_bootstrap, self.prefix)),
                 lambda: subprocess.run([STACK / "postgres.sh", "dropdb", self.db],
                                        capture_output=True, timeout=120, check=True))
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # go on: the next steps still free their resources
                errors.append(repr(exc))
        if errors:
            raise RuntimeError(f"sandbox {self.prefix} not fully removed: {errors}")

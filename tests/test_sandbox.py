"""harness/sandbox.py against the real stack: a sandbox whose job the cluster no longer
knows (its JobManager was restarted: Flink answers HTTP 404 for the id) is still removed
completely, topics and database included."""

from __future__ import annotations

import psycopg
import pytest

from harness.sandbox import Sandbox
from lcm import kafka_io
from lcm.settings import Connections

pytestmark = pytest.mark.stack


def test_destroy_removes_everything_when_the_job_is_unknown(stack: Connections) -> None:
    box = Sandbox.create(stack, "gone")
    box.jobs.append("0123456789abcdef0123456789abcdef")  # a job a new JobManager never saw
    box.destroy()
    topics = kafka_io.make_admin(stack.kafka_bootstrap).list_topics(timeout=10).topics
    assert not [t for t in topics if t.startswith(box.prefix)]
    with psycopg.connect(stack.dsn("writer"), autocommit=True) as db:
        assert db.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                          (box.db,)).fetchone() is None

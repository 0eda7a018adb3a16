"""Fixtures for tests that run on the real local stack (make up): Kafka, Flink, PostgreSQL.

Each such test gets its own topic prefix and its own database, so it never reads or
overwrites the demo's data, and it cleans both up afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flink_jobs.config import REPO_DIR, Connections
from flink_jobs.job import preflight
from flink_jobs.sandbox import Sandbox, flink_rest


@pytest.fixture(scope="session")
def conn() -> Connections:
    return Connections.from_env()


@pytest.fixture(scope="session")
def stack(conn: Connections) -> Connections:
    """The running native stack, or a failure that says how to start it."""
    problems = []
    try:
        preflight(conn, "")  # the job's own checks: PostgreSQL, Kafka and its topics
    except SystemExit as exc:
        problems.append(str(exc))
    try:
        flink_rest("/overview", conn)
    except Exception as exc:
        problems.append(f"Flink at {conn.flink_rest}: {exc}")
    if problems:
        pytest.fail("the local stack is not up (run 'make up'):\n  " + "\n  ".join(problems))
    return conn


@pytest.fixture
def sandbox(stack: Connections) -> Iterator[Sandbox]:
    box = Sandbox.create(stack, "test")
    try:
        yield box
    finally:
        box.destroy()


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


@pytest.fixture(scope="session")
def pipeline_data(stack: Connections, tmp_path_factory: pytest.TempPathFactory):
    """The sample replayed through the real job into a sandbox, for the dashboard and
    report tests (tests/pipeline_data.py); one run per session, dropped afterwards."""
    from tests import pipeline_data as data

    box = Sandbox.create(stack, "dash")
    try:
        yield data.build(box, tmp_path_factory.mktemp("pipeline"))
    finally:
        box.destroy()

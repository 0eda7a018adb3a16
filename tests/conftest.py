"""Fixtures for tests that run on the real local stack (make up): Kafka, Flink, PostgreSQL.

Each such test gets its own topic prefix and its own database, so it never reads or
overwrites the demo's data, and it cleans both up afterwards.

Every test is also checked for what it leaves behind (`no_leftovers`): a Kafka client still
open, a child process still running and, for tests on the stack, a Flink job still running
or a consumer group still registered. Any of these fails the test that left it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flink_jobs.job import preflight
from harness.sandbox import ACTIVE_STATES, Sandbox, flink_rest
from lcm import kafka_io
from lcm.paths import REPO_DIR
from lcm.pipeline import load_pipeline
from lcm.settings import Connections


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
def pipeline_data(stack: Connections):
    """The sample replayed through the real job into a sandbox, for the dashboard and
    report tests (tests/pipeline_data.py); one run per session, dropped afterwards."""
    from tests import pipeline_data as data

    box = Sandbox.create(stack, "dash")
    try:
        yield data.build(box)
    finally:
        box.destroy()


# --- leftovers -------------------------------------------------------------------------------
# PyFlink starts one Java gateway per test process and keeps it for the session, by design.
_SESSION_CHILDREN = ("org.apache.flink.client.python.PythonGatewayServer",)


def _kafka_threads() -> int:
    """librdkafka's native threads (named rdk:*) of this process: one set per open client."""
    n = 0
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            n += (task / "comm").read_text().startswith("rdk:")
    return n


def _children() -> dict[int, str]:
    """Live (not zombie) child processes of this process: pid -> command line."""
    me, out = os.getpid(), {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (proc / "stat").read_text()
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == me and state != "Z":
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
                if not any(s in cmd for s in _SESSION_CHILDREN):
                    out[int(proc.name)] = cmd
    return out


def _running_jobs(conn: Connections) -> dict[str, str]:
    try:
        jobs = flink_rest("/jobs/overview", conn)["jobs"]
    except Exception:  # no cluster: nothing can be left on it
        return {}
    return {j["jid"]: j["name"] for j in jobs if j["state"] in ACTIVE_STATES}


# The monitor job's own group (unprefixed) appears when that job first commits its
# offsets, whichever test runs then: it is not the test's, and never deleted.
MONITOR_GROUPS = {load_pipeline().consumer_group}


def _groups(conn: Connections) -> set[str] | None:
    admin = kafka_io.make_admin(conn.kafka_bootstrap)
    try:
        result = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
        return {g.group_id for g in result.valid}
    except Exception:  # no broker: nothing can be left on it
        return None
    finally:
        del admin


def _settled(check, limit_s: float = 10.0):
    """check() until it returns nothing (clients close and processes exit asynchronously)."""
    deadline = time.monotonic() + limit_s
    while (left := check()) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.2)
    return left


@pytest.fixture(autouse=True)
def no_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a Kafka client, a process, a Flink job or a consumer group
    behind. Autouse, so it is set up after the session and module fixtures (theirs are not
    counted) and torn down after the test's own fixtures."""
    on_stack = request.node.get_closest_marker("stack") is not None
    conn = Connections.from_env() if on_stack else None
    threads, children = _kafka_threads(), set(_children())
    jobs = _running_jobs(conn) if conn else {}
    groups = _groups(conn) if conn else None
    yield
    problems = []
    if conn:
        # A job of a name that ran before is the same job under a new id (the keeper
        # resubmitted it after a JobManager restart, e.g. the monitor in a fault test).
        new_jobs = {j: n for j, n in _running_jobs(conn).items()
                    if j not in jobs and n not in jobs.values()}
        for jid in new_jobs:  # cancel them, so one leak does not starve the next test
            with contextlib.suppress(Exception):
                flink_rest(f"/jobs/{jid}?mode=cancel", conn, method="PATCH")
        if new_jobs:
            problems.append(f"Flink jobs still running: {new_jobs}")
        after = _groups(conn)
        if groups is not None and after is not None and (new_groups := after - groups
                                                         - MONITOR_GROUPS):
            problems.append(f"consumer groups left on the broker: {sorted(new_groups)}")
            with contextlib.suppress(Exception):
                kafka_io.delete_consumer_groups(conn.kafka_bootstrap, sorted(new_groups))
    left = _settled(lambda: {p: c for p, c in _children().items() if p not in children})
    if left:
        problems.append(f"child processes still running: {left}")
    extra = _settled(lambda: max(0, _kafka_threads() - threads))
    if extra:
        problems.append(f"{extra} librdkafka threads more than before: a Kafka producer, "
                        "consumer or admin client was not closed or released")
    if problems:
        pytest.fail("the test left things behind:\n  " + "\n  ".join(problems),
                    pytrace=False)


@pytest.fixture(scope="module")
def job_steps():
    """The job's SQL step by step (harness/job_steps.py) on a Flink mini-cluster of the test
    module's own: no Kafka, no PostgreSQL."""
    from harness.job_steps import JobSteps, LocalFlink

    with LocalFlink() as flink:
        yield JobSteps(flink)

"""The job at parallelism 4 on the local stack writes the reference rows.

Four parallel readers per topic: the data topics have 3 partitions (one reader per topic
has none and goes idle), the heartbeat topic has lcm/topics.txt's count and every heartbeat
reaches each of its partitions, so every heartbeat reader moves the job's clock. A second
TaskManager joins the cluster for the test (scaling out), since the first one's three slots
are shared with the monitor job.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flink_jobs.config import load_config
from ingest import replay
from lcm import kafka_io
from lcm.paths import state_dir
from lcm.pipeline import DEFAULT_MONITOR_CONFIG
from lcm.topics import HEARTBEAT_TOPIC, TOPICS
from tests.conftest import Sandbox, wait_for
from tests.reference import expected
from tests.test_pipeline_e2e import (
    _compare_job_tables,
    _input_file,
    _snapshot,
    _wait_quiet,
)

pytestmark = pytest.mark.stack
PARALLELISM = 4


def _flink_bin() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent / "bin"


@pytest.fixture
def second_taskmanager(stack) -> Iterator[None]:
    """One more TaskManager (three more slots) for the length of the test."""
    from flink_jobs.cluster import flink_rest

    env = {**os.environ, "FLINK_CONF_DIR": str(state_dir() / "flink" / "conf"),
           "FLINK_LIB_DIR": str(state_dir() / "flink" / "lib")}
    before = flink_rest("/overview", stack)["taskmanagers"]
    subprocess.run([_flink_bin() / "taskmanager.sh", "start"], env=env, check=True,
                   capture_output=True, timeout=120)
    try:
        wait_for(lambda: flink_rest("/overview", stack)["taskmanagers"] > before, 120,
                 "the second TaskManager to register")
        yield
    finally:
        # `stop` ends the TaskManager started last: this one.
        subprocess.run([_flink_bin() / "taskmanager.sh", "stop"], env=env,
                       capture_output=True, timeout=120)
        wait_for(lambda: flink_rest("/overview", stack)["taskmanagers"] <= before, 120,
                 "the second TaskManager to leave")


def test_parallelism_4_writes_the_reference_rows(second_taskmanager, sandbox: Sandbox,
                                                 tmp_path: Path) -> None:
    assert TOPICS[HEARTBEAT_TOPIC] >= PARALLELISM, "every heartbeat reader needs a partition"
    cfg = load_config()
    path, messages = _input_file(tmp_path)
    want = expected(messages, cfg, [])
    # Idleness 60 s instead of 10: four parallel pipelines and a cold TaskManager on two
    # shared cores back-pressure a source for longer than 10 s, and a back-pressured
    # source emits nothing, so it was marked idle and its records then arrived behind the
    # watermark (docs/scaling.md). The rows do not depend on the idle timeout.
    config = tmp_path / "monitor.yaml"
    config.write_text(re.sub(r"(?m)^(  idle_timeout_s:) \d+", r"\1 60",
                             DEFAULT_MONITOR_CONFIG.read_text(encoding="utf-8")))
    assert load_config(config).pipeline.idle_timeout_s == 60
    job_id = sandbox.submit_job(env={"LCM_PARALLELISM": str(PARALLELISM),
                                     "LCM_CONFIG": str(config)})
    from flink_jobs.cluster import flink_rest

    vertices = flink_rest(f"/jobs/{job_id}", sandbox.conn)["vertices"]
    assert max(v["parallelism"] for v in vertices) == PARALLELISM, vertices
    producer = kafka_io.make_producer(sandbox.conn.kafka_bootstrap)
    stats = replay.replay(path, producer, topic_prefix=sandbox.prefix, progress=False,
                          close_after_ms=cfg.pipeline.close_after_ms)
    assert stats.delivery_errors == 0
    assert producer.flush(30) == 0
    del producer  # frees its librdkafka threads before the leftovers check
    wait_for(lambda: len(sandbox.query("SELECT 1 FROM risk_scores")) >= len(want.risk),
             300, f"{len(want.risk)} risk rows at parallelism {PARALLELISM}")
    _wait_quiet(sandbox)
    rows = _snapshot(sandbox)
    _compare_job_tables(rows, want)
    assert sandbox.job_state(job_id) == {"state": "RUNNING", "failures": 0}

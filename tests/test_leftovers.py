"""The leftover checks of tests/conftest.py see what they claim to: an open Kafka client
and a running child process (each test is checked for these after it ran)."""

from __future__ import annotations

import gc
import subprocess
import sys

from lcm import kafka_io
from tests.conftest import _children, _kafka_threads, _settled


def test_an_open_kafka_client_is_seen_until_it_is_released() -> None:
    before = _kafka_threads()
    # A broker that is not there: the client's threads exist and keep trying to connect.
    producer = kafka_io.make_producer("127.0.0.1:1")
    assert _kafka_threads() > before
    del producer
    gc.collect()
    assert not _settled(lambda: max(0, _kafka_threads() - before))


def test_a_running_child_process_is_seen_until_it_ends() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert proc.pid in _children()
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in _children()

"""Fixtures for ingest tests: the local HTTP server of harness/local_servers.py, started and
stopped around a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.local_servers import HttpServer


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer().start()
    try:
        yield server
    finally:
        server.stop()

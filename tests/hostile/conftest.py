"""Fixtures of the hostile-input suite: the local HTTP stand-in (harness/local_servers.py)."""

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

"""Recorded real payloads of the venues and chains, and the answers of the notifier's
endpoints (harness/recorded/<source>/, notifier/; where each came from is in the ORIGIN
note beside it), served by the local stand-ins (harness/local_servers.py) in tests and
bench.ingest_live. The one reader of these files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent


def text(*parts: str) -> str:
    """harness/recorded/<parts...> as text."""
    return RECORDED.joinpath(*parts).read_text(encoding="utf-8")


def load(*parts: str, exact: bool = True) -> Any:
    """A JSON fixture decoded the way the venue clients decode (non-integers as exact
    Decimal), or with exact=False as plain floats (the notifier's answers)."""
    return json.loads(text(*parts), parse_float=Decimal if exact else float)


def lines(*parts: str) -> list[Any]:
    """A .jsonl fixture: one WebSocket frame per line, decoded."""
    return [json.loads(line, parse_float=Decimal)
            for line in text(*parts).splitlines() if line.strip()]


def frames(*parts: str) -> list[str]:
    """A .jsonl fixture as the raw text frames a venue would send."""
    return [line for line in text(*parts).splitlines() if line.strip()]

"""Recorded real payloads of the venues and chains (harness/recorded/<source>/; where each
came from is in the ORIGIN note beside it), served by the local stand-ins in tests and
bench.ingest_live."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent


def text(*parts: str) -> str:
    """harness/recorded/<parts...> as text."""
    return RECORDED.joinpath(*parts).read_text(encoding="utf-8")


def load(*parts: str) -> Any:
    """A JSON fixture decoded the way the clients decode (non-integers as Decimal)."""
    return json.loads(text(*parts), parse_float=Decimal)


def lines(*parts: str) -> list[Any]:
    """A .jsonl fixture: one WebSocket frame per line, decoded."""
    return [json.loads(line, parse_float=Decimal)
            for line in text(*parts).splitlines() if line.strip()]


def frames(*parts: str) -> list[str]:
    """A .jsonl fixture as the raw text frames a venue would send."""
    return [line for line in text(*parts).splitlines() if line.strip()]

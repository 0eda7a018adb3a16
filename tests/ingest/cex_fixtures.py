"""Recorded venue payloads (tests/ingest/fixtures/<venue>/, origins in ORIGIN.md there)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def text(venue: str, name: str) -> str:
    return (FIXTURES / venue / name).read_text(encoding="utf-8")


def load(venue: str, name: str) -> Any:
    """A JSON fixture decoded the way the clients decode (non-integers as Decimal)."""
    return json.loads(text(venue, name), parse_float=Decimal)


def lines(venue: str, name: str) -> list[Any]:
    """A .jsonl fixture: one WebSocket frame per line, decoded."""
    return [json.loads(line, parse_float=Decimal)
            for line in text(venue, name).splitlines() if line.strip()]


def frames(venue: str, name: str) -> list[str]:
    """A .jsonl fixture as the raw text frames a venue would send."""
    return [line for line in text(venue, name).splitlines() if line.strip()]

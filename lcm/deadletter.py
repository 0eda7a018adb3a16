"""The one shape of a dead letter, for every side that writes one (ingest's sources, the
replay, the notifier): {source, reason, raw, ts, where}. Whatever a venue, a chain or a
file sent is kept as text, bounded to RAW_LIMIT characters (the rest is cut and the
original length noted), with lone surrogates and other unencodable characters escaped,
so the record itself can always be encoded and published.
"""

from __future__ import annotations

import json
import reprlib
import time
from typing import Any

RAW_LIMIT = 100_000  # characters of a bad payload kept in its dead letter
TEXT_LIMIT = 2_000  # characters of a reason or a place ("where") kept in a dead letter

_repr = reprlib.Repr()  # for what cannot be written as JSON: bounded depth and length
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple = 12, 200, 200, 200
_repr.maxstring, _repr.maxother = RAW_LIMIT, 2_000


def safe_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters (the cut noting the original length), with
    characters that cannot be encoded as UTF-8 (lone surrogates) written as escapes."""
    total = len(text)
    text = text[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if total > limit or len(text) > limit:
        note = f"...[cut: {total} characters in all]"
        text = text[:max(0, limit - len(note))] + note
    return text


def raw_text(raw: Any) -> str:
    """An upstream payload as text for a dead letter: text as it came, bytes decoded
    (invalid UTF-8 replaced), decoded JSON written back as compact JSON (exact Decimals as
    their digits, quoted), nothing (None) as an empty string. Never raises: an object that
    cannot be written as JSON (nested too deep, not JSON at all) is shown by a bounded
    repr."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw[:RAW_LIMIT * 4]).decode("utf-8", "replace")
    try:
        return json.dumps(raw, default=str, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        try:
            return _repr.repr(raw)
        except Exception as exc:
            return f"<{type(raw).__name__}: not printable ({type(exc).__name__})>"


def dead_letter_record(source: str, reason: str, raw: Any, where: str,
                       ts: int | None = None) -> dict[str, Any]:
    """The ingest_dead_letter message {source, reason, raw, ts, where}, every text field
    bounded and encodable."""
    return {"source": safe_text(str(source), TEXT_LIMIT),
            "reason": safe_text(str(reason), TEXT_LIMIT),
            "raw": safe_text(raw_text(raw), RAW_LIMIT),
            "ts": time.time_ns() // 1_000_000 if ts is None else ts,
            "where": safe_text(str(where), TEXT_LIMIT)}

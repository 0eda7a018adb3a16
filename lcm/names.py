"""What an asset name may be, for every side that reads one (ingest builds messages with
it, the notifier puts it in chat messages and request headers, the report in file names).

An asset name is 1..32 characters, each a letter or a digit of any script (venues list
tickers such as 币安人生) or one of `.`, `_`, `-`, and it starts with a letter or a digit.
So no markup (`<!channel>`, `<@U1>`, `[x](y)`), no path (`../x`), no spaces, no control or
invisible characters (bidi overrides, zero-width joiners are not letters), nothing that
cannot be written as UTF-8.
"""

from __future__ import annotations

import unicodedata

ASSET_MAX_CHARS = 32
_ASSET_PUNCTUATION = frozenset("._-")


def asset_name_problem(name: object) -> str | None:
    """Why `name` is not an asset name, or None when it is one."""
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not 1 <= len(name) <= ASSET_MAX_CHARS:
        return f"{len(name)} characters (1 to {ASSET_MAX_CHARS} allowed)"
    if not name[0].isalnum():
        return f"starts with {name[0]!r} (a letter or a digit expected)"
    for ch in name:
        if ch in _ASSET_PUNCTUATION:
            continue
        if not ch.isalnum() or unicodedata.category(ch) in ("Cs", "Co", "Cn"):
            return f"character {ch!r} (U+{ord(ch):04X}) is not a letter, a digit or ._-"
    return None


def is_asset_name(name: object) -> bool:
    return asset_name_problem(name) is None

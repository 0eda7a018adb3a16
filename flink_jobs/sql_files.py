"""Read the job's SQL from sql/flink/ and fill in its ${name} parameters.

Only ${identifier} is a parameter, so JSON paths like '$.ts' pass through untouched. A
parameter with no value is an error naming the file, never an empty string in the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from lcm import paths

SQL_DIR = paths.SQL_DIR / "flink"
_PARAM = re.compile(r"\$\{(\w+)\}")


def render(path: Path, params: Mapping[str, object]) -> str:
    text = path.read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"{path.name}: no value for parameter ${{{name}}}")
        return str(params[name])

    return _PARAM.sub(fill, text)


def statements(sql: str) -> Iterator[str]:
    """Split on semicolons that end a line; drop comment-only chunks."""
    for chunk in re.split(r";[ \t]*(?:--[^\n]*)?\n", sql + "\n"):
        body = "\n".join(
            line for line in chunk.splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if body:
            yield body.rstrip(";")

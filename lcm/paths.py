"""Where the project's files are. From a checkout this is the repository; the wheel ships
config/ and sql/ inside the package tree at the same relative places."""

from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_DIR / "config"
SQL_DIR = REPO_DIR / "sql"


def state_dir() -> Path:
    """Local state of the native stack and the ingest spool ($LCM_STATE_DIR or .state/)."""
    return Path(os.environ.get("LCM_STATE_DIR") or REPO_DIR / ".state")

"""Where the project's files are, the same way from a checkout and from an installed wheel.

- Shipped files (config/, sql/, grafana/provisioning): from a checkout, the repository's
  own folders; from a wheel, the copies that the build puts into `lcm/_data/` (setup.py).
- The working home (.env, .state/, relative paths in the YAML configs): from a checkout,
  the repository; installed, $LCM_HOME or the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent
# A checkout has pyproject.toml beside the sql/ folder; an installed lcm/ sits in
# site-packages, where neither is.
FROM_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "sql").is_dir()

DATA_DIR = _CHECKOUT if FROM_CHECKOUT else PACKAGE_DIR / "_data"
REPO_DIR = _CHECKOUT if FROM_CHECKOUT else Path(os.environ.get("LCM_HOME") or Path.cwd())
CONFIG_DIR = DATA_DIR / "config"
SQL_DIR = DATA_DIR / "sql"
GRAFANA_DIR = DATA_DIR / "grafana"
# The folders the wheel carries under lcm/_data (setup.py copies exactly these).
SHIPPED = ("config", "sql", "grafana/provisioning")


def env_file() -> Path:
    """The .env file every side reads: $LCM_ENV_FILE, else .env in the working home."""
    return Path(os.environ.get("LCM_ENV_FILE") or REPO_DIR / ".env")


def state_dir() -> Path:
    """Local state of the native stack and the ingest spool ($LCM_STATE_DIR or .state/)."""
    return Path(os.environ.get("LCM_STATE_DIR") or REPO_DIR / ".state")

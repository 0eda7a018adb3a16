"""Links into the Grafana dashboards: the notifier's messages and the report's page both
point at the asset drill-down around an alert's window, from one `grafana_url` setting.

The setting: $LCM_GRAFANA_URL (environment or .env), else http://127.0.0.1:$GRAFANA_PORT
(3000 unless .env says otherwise): the container stack's Grafana on this machine. The
notifier's config may set its own `grafana_url`; the report takes `--grafana-url`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from datetime import datetime, timedelta

from lcm.settings import ConfigError, environment

DRILL_DOWN = "/d/lcm-asset"
# A link shows an hour either side of the alert's window.
LINK_MARGIN = timedelta(hours=1)
_URL = re.compile(r"^https?://[^/\s?#]+(/[^\s?#]*)?$")


def check_grafana_url(url: str) -> str:
    """The base address of Grafana, without a trailing slash; ValueError if it is not
    http(s)://host[:port][/path] (no query: the link adds its own)."""
    url = url.strip()
    if not _URL.match(url):
        raise ValueError(f"{url!r} is not a Grafana address like http://127.0.0.1:3000 "
                         "(http(s)://host[:port][/path], no query or fragment)")
    return url.rstrip("/")


def grafana_url(env: Mapping[str, str] | None = None) -> str:
    """The configured Grafana address (see the module docstring)."""
    values = environment(dict(env) if env is not None else None)
    raw = values.get("LCM_GRAFANA_URL") or f"http://127.0.0.1:{values.get('GRAFANA_PORT', '3000')}"
    try:
        return check_grafana_url(raw)
    except ValueError as exc:
        raise ConfigError(f"LCM_GRAFANA_URL: {exc}") from None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def drill_down_url(base_url: str, asset: str, start: datetime, end: datetime,
                   margin: timedelta = LINK_MARGIN) -> str:
    """The asset drill-down from `margin` before `start` to `margin` after `end`."""
    asset_q = urllib.parse.quote(asset, safe="")
    return (f"{base_url.rstrip('/')}{DRILL_DOWN}?var-asset={asset_q}"
            f"&from={_ms(start - margin)}&to={_ms(end + margin)}")

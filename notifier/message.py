"""What a trader reads on a phone: one short text per alert, and the pieces the channels
that format richer messages (Discord embeds, Slack blocks) lay out themselves."""

from __future__ import annotations

from dataclasses import dataclass

from lcm import links
from notifier.alert import Alert

MARKERS = {"CRITICAL": "🔴", "WARNING": "🟠", "INFO": "🔵", "NONE": "✅"}
# Discord embed colours (0xRRGGBB) in the same order of severity.
COLOURS = {"CRITICAL": 0xD32F2F, "WARNING": 0xF57C00, "INFO": 0x1976D2, "NONE": 0x388E3C}
SIDES = {"long": "long cascade", "short": "short squeeze"}
# The dashboard link shows an hour either side of the alert's window.
LINK_MARGIN = links.LINK_MARGIN


@dataclass(frozen=True)
class Message:
    title: str  # "🟠 BTC WARNING · long cascade"
    lines: tuple[str, ...]  # the body, one fact per line
    link: str
    level: str

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines, self.link))


def dashboard_link(grafana_url: str, alert: Alert) -> str:
    """The asset drill-down (/d/lcm-asset), an hour either side of the alert's window."""
    return links.drill_down_url(grafana_url, alert.base, alert.window_start, alert.window_end,
                                LINK_MARGIN)


def _num(value: float | None, fmt: str = ".1f", missing: str = "n/a") -> str:
    # U+2212 minus: a hyphen is easy to miss on a small screen.
    return missing if value is None else format(value, fmt).replace("-", "\u2212")


def render(alert: Alert, grafana_url: str, recovery: bool = False) -> Message:
    """recovery: this channel is told the asset fell below the level it subscribes to."""
    marker = MARKERS[alert.level]
    side = SIDES.get(alert.side or "", "")
    if alert.level == "NONE" or recovery:
        eased = "back to normal" if alert.level == "NONE" else f"eased to {alert.level}"
        title = f"{MARKERS['NONE']} {alert.base} {eased}"
    else:
        title = f"{marker} {alert.base} {alert.level}" + (f" · {side}" if side else "")
    was = f" (was {alert.previous_level})" if alert.previous_level else ""
    lines = [f"Risk {_num(alert.risk)}/100{was}"]
    if top := alert.top_components(2):
        lines.append("Top: " + ", ".join(f"{label} {_num(pts)}" for label, pts in top))
    if alert.pressure is None:
        pressure = "n/a"
    else:
        flow = "inflow to exchanges" if alert.pressure < 0 else "outflow from exchanges"
        pressure = f"{_num(alert.pressure, '+.1f')} ({flow})"
    lines.append(f"Stablecoin pressure {pressure}")
    confidence = "n/a" if alert.confidence is None else f"{alert.confidence:.0%}"
    lines.append(f"Confidence {confidence}")
    start, end = alert.window_start, alert.window_end
    lines.append(f"Window {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC")
    return Message(title=title, lines=tuple(lines), link=dashboard_link(grafana_url, alert),
                   level="NONE" if recovery else alert.level)

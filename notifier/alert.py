"""The alert message of the `alerts` topic (docs/contract.md; levels and scores in
docs/scoring.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lcm.contract import COMPONENT_FIELDS, LEVELS, Level, Side
from lcm.names import asset_name_problem

# NONE ranks lowest: a channel with min_level NONE receives everything.
LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}
# Windows outside these years are not alerts of this monitor (the job's event times are
# 2010..2100); a year-1 or year-9999 window would also overflow the dashboard link's +-1 h.
FIRST_YEAR, LAST_YEAR = 2010, 2100
# The contract's component columns and the words a trader reads for them.
COMPONENTS: dict[str, str] = dict(zip(
    COMPONENT_FIELDS, ("funding", "OI build-up", "long/short imbalance", "liquidations"),
    strict=True))


def parse_utc(value: object) -> datetime:
    """Both shapes the contract allows: "YYYY-MM-DD HH:MM:SS" (UTC) and ISO-8601 with Z/offset."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise ValueError(f"expected a UTC time string, got {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Alert(BaseModel):
    """One level change of one asset. Unknown extra fields are kept out, missing points are
    None (the input was missing: never shown as zero)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    alert_id: str = Field(min_length=1, max_length=200)
    base: str = Field(min_length=1, max_length=40)
    level: Level
    previous_level: Level | None = None
    side: Side | None = None
    risk: float | None = Field(None, ge=0, le=100)
    long_risk: float | None = None
    short_risk: float | None = None
    funding_pts: float | None = None
    oi_buildup_pts: float | None = None
    imbalance_pts: float | None = None
    liquidation_pts: float | None = None
    pressure: float | None = Field(None, ge=-100, le=100)
    confidence: float | None = Field(None, ge=0, le=1)
    components: str | None = None
    window_start: datetime
    window_end: datetime

    @field_validator("window_start", "window_end", mode="before")
    @classmethod
    def _utc(cls, value: object) -> datetime:
        moment = parse_utc(value)
        if not FIRST_YEAR <= moment.year < LAST_YEAR:
            raise ValueError(f"{moment.year}: outside {FIRST_YEAR}..{LAST_YEAR}")
        return moment

    @field_validator("base")
    @classmethod
    def _asset(cls, value: str) -> str:
        """lcm.names: letters and digits of any script and ._- (no markup, no paths)."""
        if problem := asset_name_problem(value):
            raise ValueError(f"not an asset name: {problem}")
        return value

    @field_validator("alert_id", "components")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("control or unprintable characters")
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("not valid Unicode (a lone surrogate)") from None
        return value

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.level]

    def top_components(self, n: int = 2) -> list[tuple[str, float]]:
        """The n largest present components, as (label, points), biggest first."""
        present = [(label, getattr(self, key)) for key, label in COMPONENTS.items()
                   if getattr(self, key) is not None]
        return sorted(present, key=lambda item: item[1], reverse=True)[:n]

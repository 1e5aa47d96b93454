"""Settings of the analytics service (``CANOPEE_ANALYTICS_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from shared.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    """Analytics settings; see docs/analytics.md."""

    service: ClassVar[str] = "analytics"
    default_port: ClassVar[int] = 8004
    needs_admin_token: ClassVar[bool] = True

    #: how often the business gauges (backlog, CSAT, within target, open alerts) are recomputed
    gauge_seconds: float = Field(60.0, gt=0, le=3600)
    #: how often the daily rollups of the days changed by consumed events are computed (a query
    #: computes the stale rollups it needs itself, so this only moves that work off queries)
    rollup_seconds: float = Field(5.0, gt=0, le=3600)
    #: the window (days) of the rate gauges (CSAT, within target)
    gauge_window_days: int = Field(30, ge=1, le=366)
    #: longest period one indicator query may span
    max_query_days: int = Field(800, ge=1, le=5000)
    #: how often the consumer lag of the services' groups is measured from Kafka
    lag_seconds: float = Field(30.0, gt=0, le=3600)
    #: the consumer groups (service names, without the topic prefix, comma-separated) whose lag is measured
    lag_groups: str = "ticketing,notifications,feedback,analytics"

    @property
    def lag_group_list(self) -> list[str]:
        """``lag_groups`` as a list."""
        return [g.strip() for g in self.lag_groups.split(",") if g.strip()]

    #: fewest repairs done in a period for a contractor to be ranked (figures are shown anyway)
    contractor_min_repairs: int = Field(5, ge=1, le=10000)

    #: where the monthly report's fonts are (DejaVuSans.ttf and DejaVuSans-Bold.ttf, from Debian's
    #: fonts-dejavu-core)
    report_font_dir: str = "/usr/share/fonts/truetype/dejavu"

    @field_validator("report_font_dir")
    @classmethod
    def _fonts(cls, value: str) -> str:
        missing = [n for n in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf") if not (Path(value) / n).is_file()]
        if missing:
            raise ValueError(f"{', '.join(missing)} not found in {value} (install fonts-dejavu-core)")
        return value

    #: whether the dashboard's session cookie is marked Secure (set it behind HTTPS)
    secure_cookie: bool = False

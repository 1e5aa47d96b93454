"""Settings of the analytics service (``CANOPEE_ANALYTICS_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, ValidationInfo, field_validator

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

    #: feedback's base URL (its API, ``GET /v1/voice``): the monthly report then reads the month's
    #: tenants' words from it when it is drawn (never stored); empty: the report says they are not
    #: available
    feedback_url: str = Field("", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")
    #: the token analytics presents to feedback: an office's read-only key for that office's
    #: report, feedback's admin token for the network's and every office's (required with the URL)
    feedback_token: SecretStr | None = Field(None, validate_default=True)
    #: how long the report waits for feedback's answer (then it says the words could not be read)
    feedback_timeout_seconds: float = Field(5.0, gt=0, le=60)
    #: how many of the month's most recent words the report quotes (masked, cut to 200 characters)
    report_word_excerpts: int = Field(5, ge=0, le=20)

    @field_validator("feedback_token")
    @classmethod
    def _feedback_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("feedback_url") and (value is None or not value.get_secret_value().strip()):
            raise ValueError("required when CANOPEE_ANALYTICS_FEEDBACK_URL is set (a token feedback accepts)")
        return value

    #: whether the dashboard's session cookie is marked Secure (set it behind HTTPS)
    secure_cookie: bool = False

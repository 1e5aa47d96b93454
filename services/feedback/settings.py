"""Settings of the feedback service (``CANOPEE_FEEDBACK_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from shared.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    """Feedback settings; see docs/feedback.md."""

    service: ClassVar[str] = "feedback"
    default_port: ClassVar[int] = 8003
    needs_admin_token: ClassVar[bool] = True

    #: public base of the survey links (``CANOPEE_FEEDBACK_SURVEY_URL_BASE``); links are base + /s/{token}
    survey_url_base: str = Field("http://127.0.0.1:8003", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    #: secret of the survey form's anti-forgery field (``CANOPEE_FEEDBACK_FORM_SECRET``);
    #: required, identical on every instance, at least 32 characters
    form_secret: SecretStr
    #: how often reminders due and unpublished events are looked for
    reminder_seconds: float = Field(60.0, gt=0, le=3600)
    #: events recorded but not yet published for this long are published by the sweep
    outbox_grace_seconds: float = Field(10.0, ge=0, le=3600)
    #: campaign pacing: at most this many invitations per tick (``CANOPEE_FEEDBACK_CAMPAIGN_RATE``)
    campaign_rate: int = Field(50, ge=1, le=10_000)
    #: period of the campaign pacing loop (``CANOPEE_FEEDBACK_CAMPAIGN_TICK_SECONDS``)
    campaign_tick_seconds: float = Field(1.0, gt=0, le=3600)
    #: storage limitation (docs/PRIVACY.md): tenants' words (survey comments, alert comments,
    #: unparsed SMS replies) are dropped this many days after they were recorded
    comment_retention_days: float = Field(365.0, gt=0, le=3650)
    #: voice entries (the staff list of tenants' words, handled or not) are deleted this many days
    #: after the words were received (``CANOPEE_FEEDBACK_VOICE_RETENTION_DAYS``)
    voice_retention_days: float = Field(365.0, gt=0, le=3650)
    #: how often the retention purge runs
    purge_seconds: float = Field(3600.0, gt=0, le=86_400)

    @field_validator("form_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be a secret of at least 32 characters")
        return value

    @field_validator("survey_url_base")
    @classmethod
    def _base(cls, value: str) -> str:
        return value.rstrip("/")

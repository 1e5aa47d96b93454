"""Settings of the notifications service (``CANOPEE_NOTIFICATIONS_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from shared.settings import ServiceSettings
from shared.webhooks import InvalidSecret, parse_secrets


class NotificationsSettings(ServiceSettings):
    """Notifications settings; see docs/notifications.md."""

    service: ClassVar[str] = "notifications"
    default_port: ClassVar[int] = 8002
    needs_admin_token: ClassVar[bool] = True

    #: office alerts (at-risk, breaches, detractor alerts) go as one digest per office team every
    #: this many minutes (windows aligned on the clock); U1 breaches go at once; 0: every alert at once
    digest_minutes: int = Field(15, ge=0, le=1440)
    #: detractor alerts with a score at or below this go to the managers at once, the others in
    #: their digest (0: every one in the digest; 5: every one at once)
    detractor_immediate_max_score: int = Field(1, ge=0, le=5)
    #: a tenant message whose tenant has no contact on record yet waits this long for its first
    #: contact event (topics are not ordered with each other) before it is suppressed ``no_contact``;
    #: 0: suppressed at once
    contact_wait_seconds: float = Field(120.0, ge=0)
    #: directory of per-office template overrides: ``<dir>/<office id>/<template>.<part>.j2``
    templates_dir: Path | None = None
    #: local time (office zone) at which the appointment reminder goes out the day before the slot
    reminder_hour: int = Field(18, ge=0, le=23)
    #: rewrite the few accented letters outside GSM-7 (ê→e, ç→c…) so an SMS stays GSM-7
    sms_gsm_rewrite: bool = True

    # SMS provider
    sms_provider: Literal["http", "file"] = "http"
    sms_base_url: str = "http://127.0.0.1:9901"
    sms_token: SecretStr | None = None
    #: where the ``file`` provider appends one JSON line per message
    sms_file: Path = Path(".local/run/sms.jsonl")
    sms_timeout_seconds: float = Field(10.0, gt=0)
    #: attempts of one send on 429/5xx/timeouts before the message waits for the dispatcher
    sms_attempts: int = Field(4, ge=1, le=20)
    sms_backoff_seconds: float = Field(0.5, ge=0)
    sms_rate_per_second: float = Field(50.0, gt=0)
    #: secret(s) of the inbound-SMS and delivery-receipt webhooks, signed per Standard Webhooks
    #: (``shared/webhooks.py``): ``whsec_<base64>``, two separated by a space during a rotation
    #: (required to accept them)
    webhook_secret: SecretStr | None = None
    #: storage limitation (docs/PRIVACY.md): the texts of messages are dropped this many days after
    #: they were created (the log of what was sent, when and how stays)
    message_body_retention_days: float = Field(90.0, gt=0, le=3650)
    #: contacts (phone, e-mail, preferences) of a tenant with no contact or consent fact for this
    #: many days are forgotten
    contact_retention_days: float = Field(1095.0, gt=0, le=3650)
    #: follow-up tasks created this many days ago lose their personal content (the words to tell
    #: the tenant, the tenant's reference); status, channel, outcome and dates stay
    #: (``CANOPEE_NOTIFICATIONS_FOLLOWUP_RETENTION_DAYS``)
    followup_retention_days: float = Field(90.0, gt=0, le=3650)
    #: how often the retention purge runs
    purge_seconds: float = Field(3600.0, gt=0, le=86_400)
    #: how far a webhook call's ``webhook-timestamp`` may be from now, either way
    webhook_tolerance_seconds: float = Field(300.0, gt=0, le=3600)

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_secrets(value.get_secret_value())
            except InvalidSecret as exc:
                raise ValueError(str(exc)) from None
        return value

    # e-mail over SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "no-reply@canopee.example.org"
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    #: SMTP connections kept open and reused for the next mails (at most this many mails in flight)
    smtp_pool_size: int = Field(4, ge=1, le=100)
    email_rate_per_second: float = Field(20.0, gt=0)

    # dispatcher of deferred and retried messages
    dispatch_seconds: float = Field(5.0, gt=0)
    #: period of the dispatcher's recovery sweeps (digests whose window ended, outcomes left
    #: unpublished, tenants' first contacts not come in time, the backlog gauge)
    sweep_seconds: float = Field(30.0, gt=0)
    #: how long an instance holds a message it is sending before another may take it over
    lease_seconds: float = Field(60.0, gt=0)
    #: delay before the dispatcher retries a message whose provider was unavailable
    retry_later_seconds: float = Field(60.0, gt=0)
    #: subjects of one consumed batch handled at the same time
    concurrency: int = Field(128, ge=1, le=1000)
    #: messages handed to the providers at the same time while the consumer goes on
    send_concurrency: int = Field(128, ge=1, le=10_000)
    #: at stop, how long sends in progress are given to finish (the rest go out after their lease)
    drain_seconds: float = Field(10.0, ge=0)
    dispatch_batch: int = Field(200, ge=1, le=10_000)

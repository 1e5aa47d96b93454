"""Invalid settings stop start-up with a message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.offices import DEMO_OFFICES_FILE, hash_key, load_offices
from shared.settings import ConfigError, ServiceSettings, load_offices_from, load_settings


class DemoSettings(ServiceSettings):
    service = "demo"
    default_port = 8999
    needs_admin_token = True


GOOD = "a-real-admin-token-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CANOPEE_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_operator_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN", GOOD)
    settings = load_settings(DemoSettings)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.mongo_url == "mongodb://127.0.0.1:27017"
    assert settings.offices_file == DEMO_OFFICES_FILE
    assert settings.http_port == 8999
    assert settings.group == "demo"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CANOPEE_KAFKA_BOOTSTRAP", "no-port"),
        ("CANOPEE_MONGO_URL", "http://localhost"),
        ("CANOPEE_DEMO_PORT", "eighty"),
        ("CANOPEE_DEMO_PORT", "70000"),
        ("CANOPEE_ADMIN_TOKEN", "changeme"),
        ("CANOPEE_ADMIN_TOKEN", "short"),
        ("CANOPEE_LOG_LEVEL", "LOUD"),
        ("CANOPEE_TOPIC_PREFIX", "Bad Prefix"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN", GOOD)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(DemoSettings)
    assert caught.value.message.startswith(f"{variable}:")


def test_the_admin_token_has_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CANOPEE_ADMIN_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="CANOPEE_ADMIN_TOKEN"):
        load_settings(DemoSettings)


def test_demo_offices_file() -> None:
    offices = load_offices(DEMO_OFFICES_FILE)
    assert offices.ids == ["demo-nord", "demo-sud", "demo-est", "demo-ouest"]
    assert all(o.timezone == "Europe/Paris" for o in offices.office)
    office = offices.office_for_key("demo-est-demo-key")
    assert office is not None and office.id == "demo-est"
    assert offices.office_for_key("demo-est-demo-kez") is None
    assert offices.get("demo-nord").sla.first_response_working_days == 1  # type: ignore[union-attr]
    assert offices.get("demo-est").sla.u1_hours == 4  # type: ignore[union-attr]


def test_a_bad_offices_file_names_the_setting_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "offices.toml"
    path.write_text(
        f'[[office]]\nid = "x1"\nname = "X"\ntimezone = "Mars/Olympus"\napi_key_sha256 = ["{hash_key("k")}"]\n'
    )
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN", GOOD)
    monkeypatch.setenv("CANOPEE_OFFICES_FILE", str(path))
    settings = load_settings(DemoSettings)
    with pytest.raises(ConfigError) as caught:
        load_offices_from(settings)
    assert caught.value.message.startswith("CANOPEE_OFFICES_FILE:")
    assert "timezone" in caught.value.message
    monkeypatch.setenv("CANOPEE_OFFICES_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="CANOPEE_OFFICES_FILE: no such file"):
        load_offices_from(load_settings(DemoSettings))


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("feedback", "CANOPEE_FEEDBACK_COMMENT_RETENTION_DAYS"),
        ("feedback", "CANOPEE_FEEDBACK_VOICE_RETENTION_DAYS"),
        ("notifications", "CANOPEE_NOTIFICATIONS_MESSAGE_BODY_RETENTION_DAYS"),
        ("notifications", "CANOPEE_NOTIFICATIONS_CONTACT_RETENTION_DAYS"),
        ("notifications", "CANOPEE_NOTIFICATIONS_FOLLOWUP_RETENTION_DAYS"),
    ],
)
@pytest.mark.parametrize("value", ["0", "-30", "forever", "4000"])
def test_a_bad_retention_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, service: str, variable: str, value: str
) -> None:
    from services.feedback.settings import FeedbackSettings
    from services.notifications.settings import NotificationsSettings

    cls = {"feedback": FeedbackSettings, "notifications": NotificationsSettings}[service]
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN", GOOD)
    monkeypatch.setenv("CANOPEE_FEEDBACK_FORM_SECRET", "a-form-secret-of-at-least-32-characters")
    monkeypatch.setenv(variable, "90")
    assert getattr(load_settings(cls), variable.split("_", 2)[2].lower()) == 90  # a good value is taken
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(cls)
    assert caught.value.message.startswith(f"{variable}:")


@pytest.mark.parametrize("value", ["0", "-1", "four", "1000"])
def test_a_bad_smtp_pool_size_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from services.notifications.settings import NotificationsSettings

    variable = "CANOPEE_NOTIFICATIONS_SMTP_POOL_SIZE"
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN", GOOD)
    assert load_settings(NotificationsSettings).smtp_pool_size == 4
    monkeypatch.setenv(variable, "8")
    assert load_settings(NotificationsSettings).smtp_pool_size == 8
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(NotificationsSettings)
    assert caught.value.message.startswith(f"{variable}:")

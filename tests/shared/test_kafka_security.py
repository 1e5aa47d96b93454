"""Every client over a secured broker: TLS with the local CA, SASL PLAIN and SCRAM-SHA-256/512.

The local infrastructure (deploy/local/infra.sh) runs a SASL_SSL listener beside the plaintext one,
with a CA and a broker certificate generated locally and one user whose password it keeps in its
TLS folder. ``CANOPEE_TEST_KAFKA_SASL_BOOTSTRAP`` / ``CANOPEE_TEST_KAFKA_TLS_DIR`` name them (the
Makefile sets both for `make test`; the defaults are those of `make infra-up`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from shared.bus import create_topics
from shared.events import CloudEvent, Topics, parse_event
from shared.kafka_security import broker_security, client_options
from shared.producer import KafkaProducer, Unavailable, record_of
from shared.runtime import Runtime
from shared.settings import ConfigError, ServiceSettings, load_settings
from tests.support.samples import sample
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SASL_BOOTSTRAP = os.environ.get("CANOPEE_TEST_KAFKA_SASL_BOOTSTRAP", "localhost:9094")
TLS_DIR = Path(os.environ.get("CANOPEE_TEST_KAFKA_TLS_DIR", ROOT / ".local" / "run" / "tls"))


class SecureSettings(ServiceSettings):
    service = "securetest"
    default_port = 0


@pytest.fixture
def tls() -> dict[str, Any]:
    ca, password = TLS_DIR / "ca.pem", TLS_DIR / "password"
    if not ca.exists() or not password.exists():
        pytest.fail(f"no SASL_SSL listener's CA in {TLS_DIR}: start the infrastructure with `make infra-up`")
    return {"ca": ca, "password": password.read_text().strip(), "user": "canopee"}


def secure(tls: dict[str, Any], prefix: str, mechanism: str, **changes: Any) -> SecureSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": SASL_BOOTSTRAP,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": tls["user"],
        "kafka_sasl_password": tls["password"],
        "kafka_ca_file": tls["ca"],
        "topic_prefix": prefix,
        "retry_base_seconds": 0.05,
    }
    values.update(changes)
    return load_settings(SecureSettings, **values)


# --- settings --------------------------------------------------------------------------------------


def test_sasl_without_credentials_stops_the_service_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANOPEE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="CANOPEE_KAFKA_SASL_PASSWORD: SASL_SSL needs a user name"):
        load_settings(SecureSettings)
    monkeypatch.setenv("CANOPEE_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ConfigError, match="CANOPEE_KAFKA_SECURITY_PROTOCOL"):
        load_settings(SecureSettings)


def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CANOPEE_KAFKA_CA_FILE", str(tmp_path / "nowhere.pem"))
    with pytest.raises(ConfigError, match="CANOPEE_KAFKA_CA_FILE"):
        load_settings(SecureSettings)


def test_secrets_can_be_read_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token, password = tmp_path / "token", tmp_path / "password"
    token.write_text("a-real-admin-token-0123456789\n")
    password.write_text("kafka-password\n")
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN_FILE", str(token))
    monkeypatch.setenv("CANOPEE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CANOPEE_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("CANOPEE_KAFKA_SASL_PASSWORD_FILE", str(password))
    settings = load_settings(SecureSettings)
    assert (
        settings.admin_token is not None and settings.admin_token.get_secret_value() == "a-real-admin-token-0123456789"
    )
    assert client_options(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": "kafka-password",
    }
    monkeypatch.setenv("CANOPEE_ADMIN_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="CANOPEE_ADMIN_TOKEN_FILE: cannot read"):
        load_settings(SecureSettings)


def test_plaintext_needs_no_security_object() -> None:
    settings = load_settings(SecureSettings)
    assert broker_security(settings) is None
    assert client_options(settings) == {"security_protocol": "PLAINTEXT"}


# --- on the real broker ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_service_consumes_and_publishes_over_sasl_ssl(tls: dict[str, Any], mechanism: str) -> None:
    prefix = f"s{uuid.uuid4().hex[:10]}."
    settings = secure(tls, prefix, mechanism)
    options = client_options(settings)
    await create_topics(SASL_BOOTSTRAP, [settings.topic(Topics.OFFICE_REQUESTS)], partitions=1, options=options)
    # the tools' and gateway's producer
    producer = KafkaProducer(SASL_BOOTSTRAP, timeout=20.0, options=options)
    first = parse_event(json.dumps(sample("request.opened")))
    await producer.send([record_of(first, prefix)])
    await producer.close()
    # a service's consumer and publisher (FastStream broker)
    rt = Runtime.create(settings)
    received: list[CloudEvent] = []

    async def handler(events: Sequence[CloudEvent]) -> None:
        received.extend(events)

    rt.consume("requests", [Topics.OFFICE_REQUESTS], handler)
    await rt.start()
    try:
        second = parse_event(json.dumps(sample("repair.done")))
        await rt.publisher.publish([second])
        await eventually(lambda: {e.id for e in received} >= {first.id, second.id}, timeout=30)
    finally:
        await rt.stop()


@pytest.mark.integration
async def test_a_wrong_password_is_refused(tls: dict[str, Any]) -> None:
    settings = secure(tls, "wrong.", "SCRAM-SHA-256", kafka_sasl_password="not-the-password")
    producer = KafkaProducer(SASL_BOOTSTRAP, timeout=10.0, options=client_options(settings))
    with pytest.raises(Unavailable):
        await producer.send([record_of(parse_event(json.dumps(sample("request.opened"))), "wrong.")])
    await producer.close()

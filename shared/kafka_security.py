"""How every Kafka client of the project connects: plaintext, TLS, SASL (PLAIN, SCRAM-SHA-256/512)
over plaintext or TLS, from the shared settings (``CANOPEE_KAFKA_SECURITY_PROTOCOL``,
``CANOPEE_KAFKA_SASL_MECHANISM``, ``CANOPEE_KAFKA_SASL_USERNAME``, ``CANOPEE_KAFKA_SASL_PASSWORD`` or
``..._PASSWORD_FILE``, ``CANOPEE_KAFKA_CA_FILE``, ``CANOPEE_KAFKA_CERT_FILE``/``..._KEY_FILE``).

``client_options`` gives the keyword arguments of aiokafka's clients (producer, consumer, admin);
``broker_security`` the same for FastStream's broker.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import CommonSettings


def _ssl_context(settings: CommonSettings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.kafka_ca_file) if settings.kafka_ca_file else None,
        certfile=str(settings.kafka_cert_file) if settings.kafka_cert_file else None,
        keyfile=str(settings.kafka_key_file) if settings.kafka_key_file else None,
    )
    return context


def client_options(settings: CommonSettings) -> dict[str, Any]:
    """``security_protocol``, ``ssl_context`` and the SASL arguments of an aiokafka client."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = _ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    return options


def broker_security(settings: CommonSettings) -> BaseSecurity | None:
    """The same connection for FastStream's ``KafkaBroker(security=...)``; None for plaintext."""
    protocol = settings.kafka_security_protocol
    context = _ssl_context(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    user = settings.kafka_sasl_username or ""
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    use_ssl = protocol == "SASL_SSL"
    kinds: dict[str, type[SASLPlaintext] | type[SASLScram256] | type[SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    return kinds[settings.kafka_sasl_mechanism](user, password, ssl_context=context, use_ssl=use_ssl)

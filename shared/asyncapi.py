"""The event API as an AsyncAPI 3 document, generated from the contract's registry (docs/asyncapi.json).

Written from the point of view of an office's system: it *sends* the office facts (requests,
tenants, ratings) and may *receive* what the platform emits (SLA alerts, surveys, notification
outcomes). Each message's payload is the JSON Schema of its type in ``docs/schemas/``; records are
keyed by the event's ``subject`` and carry ``content-type: application/cloudevents+json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events import CONTENT_TYPE, EVENT_TYPES, CloudEvent, Topics, short_type

ASYNCAPI_FILE = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"

#: what an office's system sends; the other topics it may read
_OFFICE_SENDS = (Topics.OFFICE_REQUESTS, Topics.OFFICE_TENANTS, Topics.FEEDBACK_RATINGS)


def _camel(name: str) -> str:
    parts = name.replace("_", ".").split(".")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _message(type_name: str, cls: type[CloudEvent]) -> dict[str, Any]:
    short = short_type(type_name)
    doc = (cls.__doc__ or "").strip().splitlines()
    subject = cls.subject_field or "notification_id"
    return {
        "name": type_name,
        "title": short,
        "summary": doc[0] if doc else short,
        "contentType": CONTENT_TYPE,
        "payload": {"$ref": f"schemas/{type_name}.json"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"the event's subject ({subject})"},
                "bindingVersion": "0.5.0",
            }
        },
    }


def render_asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the contract (stable output)."""
    messages: dict[str, Any] = {}
    by_topic: dict[str, list[str]] = {topic: [] for topic in Topics.ALL}
    for type_name, cls in sorted(EVENT_TYPES.items()):
        key = _camel(short_type(type_name))
        messages[key] = _message(type_name, cls)
        by_topic[cls.topic].append(key)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, keys in by_topic.items():
        channel = _camel(topic)
        channels[channel] = {
            "address": topic,
            "description": f"Kafka topic {topic} (prefixed by CANOPEE_TOPIC_PREFIX when one is set).",
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in keys},
        }
        sends = topic in _OFFICE_SENDS
        operations[("send" if sends else "receive") + channel[:1].upper() + channel[1:]] = {
            "action": "send" if sends else "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": (
                f"An office's system publishes to {topic} (or posts the same events to the gateway)."
                if sends
                else f"Any system may read {topic}."
            ),
            "messages": [{"$ref": f"#/channels/{channel}/messages/{k}"} for k in keys],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Canopée Esprit Client events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 in structured JSON mode over Apache Kafka (docs/EVENTS.md): the record "
                "value is the whole event, the key its subject, the content-type header "
                "application/cloudevents+json. Event ids are unique; consumers deduplicate on them."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The local broker of `make infra-up` (plaintext).",
            },
            "local-sasl": {
                "host": "localhost:9094",
                "protocol": "kafka-secure",
                "description": "The same broker over SASL_SSL (local CA in .local/run/tls/ca.pem).",
                "security": [
                    {"$ref": "#/components/securitySchemes/scramSha512"},
                    {"$ref": "#/components/securitySchemes/scramSha256"},
                    {"$ref": "#/components/securitySchemes/plain"},
                ],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                "scramSha512": {"type": "scramSha512", "description": "SASL/SCRAM-SHA-512 over TLS."},
                "scramSha256": {"type": "scramSha256", "description": "SASL/SCRAM-SHA-256 over TLS."},
                "plain": {"type": "plain", "description": "SASL/PLAIN over TLS."},
            },
        },
    }


def asyncapi_text() -> str:
    return json.dumps(render_asyncapi(), indent=2, ensure_ascii=False) + "\n"


def write_asyncapi(path: Path = ASYNCAPI_FILE) -> Path:
    path.write_text(asyncapi_text(), encoding="utf-8")
    return path

"""The gateway: authenticated HTTP intake of the offices' events (docs/gateway.md). The operator
tools that feed it or inspect Kafka (import, simulate, dlq) live in tools/."""

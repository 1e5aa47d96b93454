"""The gateway's one use case: ``intake`` (authenticate, check, rate-limit, produce, report per item)."""

"""Analytics: idempotent facts from every topic, per-office indicators, dashboard and metrics."""

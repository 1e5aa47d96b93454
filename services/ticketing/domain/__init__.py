"""The ticketing domain, pure (no I/O, no documents): the request lifecycle as a fold over its
known events (``requests``), its SLA clocks (``sla``), and the summary and alerts a request's
evaluation calls for (``views``). Rules: docs/DOMAIN.md."""

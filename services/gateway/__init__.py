"""The gateway: authenticated HTTP intake of office events, CSV import, traffic simulator, DLQ tools."""

"""The gateway: authenticated HTTP intake of office events, simulator and operator commands."""

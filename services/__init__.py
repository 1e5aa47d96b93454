"""Canopée services: gateway, ticketing, notifications, feedback, analytics; and the `canopee` command."""

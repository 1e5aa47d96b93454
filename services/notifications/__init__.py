"""Notifications: SMS and e-mail follow-ups to tenants and alerts to office teams."""

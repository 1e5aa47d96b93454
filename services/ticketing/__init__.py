"""Ticketing: each request's lifecycle and timeline, SLA clocks, at-risk and breach alerts."""

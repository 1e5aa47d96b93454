"""End-to-end tests' own marker: ``slow`` (minutes: ``make up`` from a clean clone), run on its own
by ``make test-up``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: takes minutes (make test-up: `make up` from a clean clone; make test-scale: scale-out and failover)",
    )

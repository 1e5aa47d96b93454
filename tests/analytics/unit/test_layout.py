"""The shape of the analytics service (docs/ARCHITECTURE.md, "Inside a service"): only the store
knows documents and the driver, the domain stays pure, use-case modules stay small, and the one
routing table names contract types only."""

from __future__ import annotations

import ast
from pathlib import Path

import services.analytics
from services.analytics.handlers.ingest import ROUTES
from shared.events import EVENT_TYPES, full_type, short_type

SERVICE = Path(services.analytics.__file__).resolve().parent
MODULES = sorted(p for p in SERVICE.rglob("*.py"))
#: contract types analytics counts and never keeps (nothing personal is stored)
NOT_KEPT = {"tenant.contact_updated", "tenant.consent_changed", "tenant.erased", "sms.replied"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def name(path: Path) -> str:
    return str(path.relative_to(SERVICE))


def test_only_the_store_knows_the_driver_and_documents() -> None:
    for path in MODULES:
        if name(path) == "store.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not any(i.startswith("pymongo") for i in imports(path)), name(path)
        assert '"_id"' not in text and "db[" not in text, name(path)


def test_only_the_composition_root_picks_a_store() -> None:
    for path in MODULES:
        if name(path) in ("app.py", "store.py", "store_memory.py"):
            continue
        assert not imports(path) & {"services.analytics.store", "services.analytics.store_memory"}, name(path)


def test_the_domain_does_no_io() -> None:
    forbidden = ("pymongo", "fastapi", "faststream", "aiokafka", "asyncio", "prometheus_client", "shared.store")
    for path in (SERVICE / "domain").glob("*.py"):
        found = {i for i in imports(path) if i.startswith(forbidden)}
        assert not found, (name(path), found)


def test_use_case_modules_stay_small() -> None:
    for path in (SERVICE / "handlers").glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, name(path)


def test_the_routing_table_covers_the_contract() -> None:
    assert all(full_type(kind) in EVENT_TYPES for kind in ROUTES)
    assert {short_type(t) for t in EVENT_TYPES} == set(ROUTES) | NOT_KEPT

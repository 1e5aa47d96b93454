"""The shape every service keeps (docs/ARCHITECTURE.md, "Inside a service"), checked on the source:
documents and collections only in store/adapters modules, pure domain packages, small use-case
modules, routes that never reach a store."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["gateway", "ticketing", "notifications", "feedback", "analytics"]
CONSUMING = ["ticketing", "notifications", "feedback", "analytics"]
MAX_HANDLER_LINES = 300

#: what only store/adapters modules may do: name a collection or run a Mongo operation
_MONGO = re.compile(
    r"\bdb\[|\bAsyncCollection\b|\.(find_one|insert_one|insert_many|update_one|update_many|replace_one"
    r"|bulk_write|delete_one|delete_many|aggregate|count_documents|find_one_and_update)\("
)
#: libraries that do I/O: never imported by a domain package
_IO_MODULES = (
    "pymongo",
    "faststream",
    "aiokafka",
    "fastapi",
    "httpx",
    "aiohttp",
    "smtplib",
    "aiosmtplib",
    "asyncio",
    "shared.store",
)


def _sources(service: str) -> list[Path]:
    return sorted((ROOT / "services" / service).rglob("*.py"))


def _is_store(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return path.stem in ("store", "stores") or "adapters" in parts or "stores" in parts


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("service", SERVICES)
def test_documents_and_collections_stay_in_store_modules(service: str) -> None:
    leaks = [
        f"{_rel(path)}:{n}: {line.strip()}"
        for path in _sources(service)
        if not _is_store(path)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _MONGO.search(line)
    ]
    assert leaks == []


@pytest.mark.parametrize("service", CONSUMING)
def test_every_service_has_the_same_rooms(service: str) -> None:
    base = ROOT / "services" / service
    missing = [
        room
        for room in (
            "domain/__init__.py",
            "handlers/__init__.py",
            "ports.py",
            "api.py",
            "app.py",
            "settings.py",
            "metrics.py",
        )
        if not (base / room).exists()
    ]
    assert missing == []
    assert (base / "store.py").exists() or (base / "adapters").is_dir()


@pytest.mark.parametrize("service", SERVICES)
def test_domain_is_pure(service: str) -> None:
    impure = []
    for path in sorted((ROOT / "services" / service / "domain").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            impure += [f"{_rel(path)}: {n}" for n in names if n.split(".")[0] in _IO_MODULES or n in _IO_MODULES]
    assert impure == []


@pytest.mark.parametrize("service", SERVICES)
def test_use_case_modules_stay_small(service: str) -> None:
    big = [
        f"{_rel(path)}: {len(path.read_text().splitlines())} lines"
        for path in sorted((ROOT / "services" / service / "handlers").rglob("*.py"))
        if len(path.read_text().splitlines()) > MAX_HANDLER_LINES
    ]
    assert big == []


@pytest.mark.parametrize("service", SERVICES)
def test_routes_never_reach_a_store(service: str) -> None:
    api = ROOT / "services" / service / "api.py"
    tree = ast.parse(api.read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert [m for m in imported if m.endswith("store") or ".adapters" in m or m == "adapters"] == []
    assert not re.search(r"\.store\.", api.read_text())

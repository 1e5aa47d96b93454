"""JSON Schemas of the contract, generated from the models (docs/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import EVENT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
_BASE = "https://canopee.example.org/schemas/"


def render_schemas() -> dict[str, str]:
    """File name → JSON text, one schema per event type (stable output, sorted keys)."""
    files: dict[str, str] = {}
    for type_name, cls in sorted(EVENT_TYPES.items()):
        schema = cls.model_json_schema(mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{_BASE}{type_name}.json",
            **schema,
        }
        schema["description"] = f"CloudEvents 1.0 event {type_name} (structured JSON mode), topic {cls.topic}."
        files[f"{type_name}.json"] = json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return files


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    wanted = render_schemas()
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, different, or no longer generated."""
    wanted = render_schemas()
    problems = [
        n
        for n, text in wanted.items()
        if not (directory / n).is_file() or (directory / n).read_text(encoding="utf-8") != text
    ]
    problems += [p.name for p in directory.glob("*.json") if p.name not in wanted]
    return sorted(problems)

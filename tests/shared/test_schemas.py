"""docs/schemas/ holds the JSON Schemas generated from the models; stale files fail the suite."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import EVENT_TYPES
from shared.schemas import SCHEMA_DIR, render_schemas, stale_schemas, write_schemas


def test_committed_schemas_are_up_to_date() -> None:
    stale = stale_schemas()
    assert not stale, f"regenerate with `canopee events schemas`: {stale}"


def test_one_schema_per_type_with_the_type_pinned() -> None:
    files = render_schemas()
    assert set(files) == {f"{t}.json" for t in EVENT_TYPES}
    schema = json.loads(files["fr.canopee.request.opened.v1.json"])
    assert schema["properties"]["type"]["const"] == "fr.canopee.request.opened.v1"
    assert "data" in schema["required"]


def test_a_change_is_detected(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    assert stale_schemas(tmp_path) == []
    victim = tmp_path / "fr.canopee.repair.done.v1.json"
    victim.write_text(victim.read_text().replace("completed_by", "done_by"))
    (tmp_path / "fr.canopee.old.v1.json").write_text("{}")
    assert stale_schemas(tmp_path) == ["fr.canopee.old.v1.json", "fr.canopee.repair.done.v1.json"]
    assert SCHEMA_DIR.is_dir()

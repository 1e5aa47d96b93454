"""CSV import: mapping, bad rows with their line numbers, stable ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from tools.importer import Mapping, load_mapping, read_rows, stable_id

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_MAPPING = ROOT / "deploy" / "import" / "mapping.example.toml"
EXAMPLE_CSV = ROOT / "deploy" / "import" / "demandes.example.csv"
PARIS = ZoneInfo("Europe/Paris")
HEADER = "N° demande;Date;Événement;Réf. locataire;Catégorie;Canal\n"


def rows(text: str, office: str = "demo-nord") -> list[Any]:
    return list(read_rows(text.splitlines(keepends=True), load_mapping(EXAMPLE_MAPPING), office, PARIS))


def example() -> str:
    return EXAMPLE_CSV.read_text(encoding="utf-8-sig")


def test_example_export_imports_good_rows_and_names_bad_lines() -> None:
    results = rows(example())
    bad = {r.line: r.reason for r in results if r.event is None}
    assert set(bad) == {11, 12, 15}
    assert "Catégorie" in bad[11] and "'Plomberie'" in bad[11]
    assert "Date" in bad[12]
    assert "Motif clôture" in bad[15]
    good = [r.event for r in results if r.event is not None]
    assert len(good) == 11
    opened = good[0]
    assert opened.type == "fr.canopee.request.opened.v1"
    assert opened.source == "/offices/demo-nord/export-csv"
    assert opened.data.category == "heating_hot_water" and opened.data.urgency == "U2"
    assert opened.time.isoformat() == "2026-11-02T08:42:00+01:00"
    assert good[1].data.assignee_kind == "contractor"
    assert good[-1].data.reason == "parts_ordered"


def test_ids_are_stable_per_office_and_row_content() -> None:
    first = [r.event.id for r in rows(example()) if r.event]
    again = [r.event.id for r in rows(example()) if r.event]
    other_office = [r.event.id for r in rows(example(), "demo-sud") if r.event]
    assert first == again
    assert len(set(first)) == len(first)
    assert not set(first) & set(other_office)
    assert stable_id("demo-nord", ["a", "b"]) != stable_id("demo-nord", ["a", "c"])


def test_missing_required_column_and_wrong_column_count() -> None:
    assert rows("N° demande;Événement\nX;Création\n")[0].reason == "header: missing column(s) Date"
    results = rows(HEADER + "D-1;02/11/2026 08:00;Création;LOC-1;Autre;Courrier;extra\n\n")
    assert len(results) == 1
    assert results[0].line == 2 and "7 columns, the header has 6" in (results[0].reason or "")


def test_unknown_event_kind_and_missing_subject() -> None:
    results = rows(
        HEADER
        + "D-1;02/11/2026 08:00;Suppression;LOC-1;Autre;Courrier\n;02/11/2026 08:00;Création;LOC-1;Autre;Courrier\n"
    )
    assert "unknown event kind" in (results[0].reason or "")
    assert "N° demande" in (results[1].reason or "")
    assert [r.line for r in results] == [2, 3]


def test_contract_violation_is_reported_with_its_field() -> None:
    results = rows(HEADER + "D 1 with spaces;02/11/2026 08:00;Création;LOC-1;Autre;Courrier\n")
    assert results[0].event is None and "request_id" in (results[0].reason or "")


def test_mapping_validation_names_the_problem() -> None:
    with pytest.raises(ValidationError, match=r"exactly one of event\.type and event\.type_column"):
        Mapping.model_validate({"event": {"time_column": "Date"}, "fields": {}})
    with pytest.raises(ValidationError, match=r"not office event kinds: sla\.breached"):
        Mapping.model_validate(
            {"event": {"time_column": "D", "type_column": "T"}, "types": {"x": "sla.breached"}, "fields": {}}
        )

"""CSV export of indicator results: one row per (scope, period), indicators flattened."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from services.analytics.domain.indicators import NETWORK

FIXED = ("scope", "period", "from", "to")


def flatten(value: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            yield from flatten(item, f"{name}.")
        else:
            yield name, item


def to_csv(result: Mapping[str, Any]) -> str:
    """The indicators as CSV (columns: scope, period, from, to, then dotted indicator names)."""
    rows: list[dict[str, Any]] = []
    scopes = [*result["offices"].items(), (NETWORK, result[NETWORK])]
    for scope, data in scopes:
        for row in data["periods"]:
            values = {k: v for k, v in row.items() if k not in ("period", "from", "to")}
            rows.append(
                {"scope": scope, "period": row["period"], "from": row["from"], "to": row["to"], **dict(flatten(values))}
            )
        rows.append(
            {
                "scope": scope,
                "period": "total",
                "from": result["from"],
                "to": result["to"],
                **dict(flatten(data["total"])),
            }
        )
    columns: list[str] = list(FIXED)
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def contractors_csv(result: Mapping[str, Any]) -> str:
    """Contractor indicators as CSV (columns: scope, contractor, from, to, then dotted indicator
    names); one row per office or network and contractor, and each scope's total."""
    rows: list[dict[str, Any]] = []
    scopes = [*result["offices"].items(), (NETWORK, result[NETWORK])]
    for scope, data in scopes:
        for contractor, values in data["contractors"].items():
            rows.append(
                {
                    "scope": scope,
                    "contractor": contractor,
                    "from": result["from"],
                    "to": result["to"],
                    **dict(flatten(values)),
                }
            )
        rows.append(
            {
                "scope": scope,
                "contractor": "total",
                "from": result["from"],
                "to": result["to"],
                **dict(flatten(data["total"])),
            }
        )
    return _write(rows, ["scope", "contractor", "from", "to"])


def _write(rows: list[dict[str, Any]], fixed: list[str]) -> str:
    columns = list(fixed)
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()

"""CSV import: one row of an office's export per request event, columns mapped by a TOML file.

Pure: rows in, events (or a reason naming the line) out. Event ids are a hash of the office and the
row's content, so importing the same file again produces the same ids and downstream services
deduplicate. See docs/gateway.md for the mapping format and deploy/import/ for an example.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from shared.events import EVENT_TYPES, SPECVERSION, CloudEvent, InvalidEvent, full_type, parse_event, short_type

#: short event kinds an import may produce (office events only)
OFFICE_KINDS = tuple(short_type(name) for name, cls in EVENT_TYPES.items() if not cls.service_only)

Scalar = str | int | bool


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] = ","
    encoding: str = "utf-8-sig"


class EventOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``{system}`` of ``source = /offices/{office}/{system}``: the exporting software
    source_system: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,40}$")] = "import"
    #: a fixed kind for every row (e.g. "request.opened"), or None to read it from ``type_column``
    type: str | None = None
    type_column: str | None = None
    time_column: str
    #: ``strptime`` format of the time column, or "iso" (ISO 8601, with or without offset)
    time_format: str = "iso"
    #: time zone of times without an offset (default: the office's)
    timezone: str | None = None

    @model_validator(mode="after")
    def _one_type_source(self) -> EventOptions:
        if (self.type is None) == (self.type_column is None):
            raise ValueError("give exactly one of event.type and event.type_column")
        if self.type is not None and self.type not in OFFICE_KINDS:
            raise ValueError(f"event.type: not an office event kind: {self.type}")
        return self


class Mapping(BaseModel):
    """The mapping file: how an export's columns become events (docs/gateway.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    csv: CsvOptions = CsvOptions()
    event: EventOptions
    #: value of ``event.type_column`` → event kind, e.g. "Création" = "request.opened"
    types: dict[str, str] = Field(default_factory=dict)
    #: data field → column name
    fields: dict[str, str]
    #: data field → {column value → contract value}; a value not listed is an error for that row
    values: dict[str, dict[str, Scalar]] = Field(default_factory=dict)
    #: data field → fixed value for every row (e.g. ``assignee_kind = "contractor"``)
    constants: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kinds(self) -> Mapping:
        unknown = sorted(k for k in self.types.values() if k not in OFFICE_KINDS)
        if unknown:
            raise ValueError(f"types: not office event kinds: {', '.join(unknown)}")
        return self


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; errors name the field."""
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    return Mapping.model_validate(raw)


def describe_mapping_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


@dataclass(frozen=True)
class RowResult:
    """One row: its line number in the file, and its event or the reason it was refused."""

    line: int
    event: CloudEvent | None = None
    reason: str | None = None


@dataclass
class Summary:
    rows: int = 0
    bad: list[RowResult] = field(default_factory=list)


def stable_id(office: str, row: Iterable[str]) -> str:
    """The event id of a row: same office and same row content → same id (re-import is idempotent)."""
    digest = hashlib.sha256(json.dumps([office, *row], ensure_ascii=False).encode()).hexdigest()
    return f"{office}-csv-{digest[:40]}"


def _time(value: str, options: EventOptions, tz: ZoneInfo) -> str:
    text = value.strip()
    if options.time_format == "iso":
        moment = datetime.fromisoformat(text)
    else:
        moment = datetime.strptime(text, options.time_format)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.isoformat()


class RowError(ValueError):
    pass


def row_event(mapping: Mapping, office: str, tz: ZoneInfo, row: dict[str, str], header: list[str]) -> CloudEvent:
    """The event of one row, validated by the contract; ``RowError``/``InvalidEvent`` otherwise."""
    options = mapping.event
    if options.type is not None:
        kind = options.type
    else:
        assert options.type_column is not None
        raw_kind = (row.get(options.type_column) or "").strip()
        kind_or_none = mapping.types.get(raw_kind, raw_kind if raw_kind in OFFICE_KINDS else None)
        if kind_or_none is None:
            raise RowError(f"{options.type_column}: unknown event kind {raw_kind[:40]!r}")
        kind = kind_or_none
    cls = EVENT_TYPES[full_type(kind)]
    data: dict[str, Any] = dict(mapping.constants)
    for name, column in mapping.fields.items():
        if column not in row:
            continue
        value = (row[column] or "").strip()
        if not value:
            continue
        table = mapping.values.get(name)
        if table is not None:
            if value not in table:
                raise RowError(f"{column}: value {value[:40]!r} is not in the mapping's values.{name}")
            data[name] = table[value]
        else:
            data[name] = value
    time_text = (row.get(options.time_column) or "").strip()
    if not time_text:
        raise RowError(f"{options.time_column}: empty")
    try:
        when = _time(time_text, options, tz)
    except ValueError:
        raise RowError(f"{options.time_column}: not a date in the format {options.time_format!r}") from None
    subject_field = cls.subject_field or ("survey_id" if data.get("survey_id") else "request_id")
    subject = data.get(subject_field)
    if not isinstance(subject, str):
        raise RowError(f"{mapping.fields.get(subject_field, subject_field)}: empty (the event's subject)")
    event = {
        "specversion": SPECVERSION,
        "id": stable_id(office, [row.get(h) or "" for h in header]),
        "source": f"/offices/{office}/{options.source_system}",
        "type": full_type(kind),
        "subject": subject,
        "time": when,
        "officeid": office,
        "datacontenttype": "application/json",
        "data": data,
    }
    return parse_event(json.dumps(event, ensure_ascii=False))


def read_rows(lines: Iterable[str], mapping: Mapping, office: str, tz: ZoneInfo) -> Iterator[RowResult]:
    """Every row of a CSV export as an event or a refusal naming its line; blank rows are skipped."""
    reader = csv.DictReader(lines, delimiter=mapping.csv.delimiter)
    header = list(reader.fieldnames or [])
    required = (mapping.event.time_column, mapping.event.type_column)
    missing = sorted(c for c in required if c and c not in header)
    if missing:
        yield RowResult(1, reason=f"header: missing column(s) {', '.join(missing)}")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowResult(reader.line_num, reason=f"not CSV: {exc}")
            return
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        extra = row.pop(None, None)
        if extra:
            yield RowResult(line, reason=f"{len(header) + len(extra)} columns, the header has {len(header)}")
            continue
        try:
            yield RowResult(line, event=row_event(mapping, office, tz, row, header))
        except (RowError, InvalidEvent) as exc:
            yield RowResult(line, reason=str(exc))

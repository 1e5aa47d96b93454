"""Comparable offices (docs/DOMAIN.md "per 1,000 homes"): volumes, SLA breaches, complaints and
detractor alerts divided by the housing stock of the offices file, per office and period and for
the network (the sum of the offices' stocks; None when an office has no stock configured)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.analytics.domain.facts import Doc
from services.analytics.domain.indicators import NETWORK


def per_1000(count: int | float | None, homes: int | None) -> float | None:
    """``count`` per 1,000 homes, to 2 decimals (None without a stock or a count)."""
    if count is None or not homes:
        return None
    return round(1000 * count / homes, 2)


def _figures(row: Mapping[str, Any], homes: int | None) -> Doc:
    breaches = sum(int(v.get("count") or 0) for v in (row.get("sla_breaches") or {}).values())
    complaints = (row.get("complaints") or {}).get("opened")
    return {
        "homes": homes,
        "opened": per_1000(row.get("volume", {}).get("opened"), homes),
        "breaches": per_1000(breaches, homes),
        "complaints": per_1000(complaints, homes),
        "detractors": per_1000((row.get("closed_loop") or {}).get("alerts"), homes),
    }


def add_per_1000_homes(result: Doc, stock: Mapping[str, int | None]) -> Doc:
    """Add ``per_1000_homes`` to every period row and total of an indicator document (in place;
    returned). ``stock``: housing stock by office (every office of the query, for the network)."""
    for office, data in result["offices"].items():
        homes = stock.get(office)
        for row in [*data["periods"], data["total"]]:
            row["per_1000_homes"] = _figures(row, homes)
    stocks = [stock.get(o) for o in stock]
    network_homes = sum(s for s in stocks if s) if stocks and all(stocks) else None
    for row in [*result[NETWORK]["periods"], result[NETWORK]["total"]]:
        row["per_1000_homes"] = _figures(row, network_homes)
    return result

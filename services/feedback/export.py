"""A campaign's results as the API returns them: JSON bodies and the CSV export."""

from __future__ import annotations

import csv
import io

from services.feedback.domain import OfficeResult


def results_json(results: list[OfficeResult]) -> list[dict[str, object]]:
    return [
        {
            "office": r.office,
            "invited": r.invited,
            "answered": r.answered,
            "response_rate": r.response_rate,
            "nps": r.nps,
            "nps_answers": r.nps_answers,
            "axes": {
                axis: {
                    "answers": a.answers,
                    "mean": a.mean,
                    "satisfied_share": a.satisfied_share,
                    "distribution": {str(k): v for k, v in a.distribution.items()},
                }
                for axis, a in r.axes.items()
            },
        }
        for r in results
    ]


CSV_COLUMNS = (
    "office",
    "axis",
    "invited",
    "answered",
    "response_rate",
    "axis_answers",
    "mean",
    "satisfied_share",
    "score_1",
    "score_2",
    "score_3",
    "score_4",
    "score_5",
)


def results_csv(results: list[OfficeResult]) -> str:
    """One row per office and axis (RFC 4180, comma separated, dot decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        for axis, a in r.axes.items():
            writer.writerow(
                [
                    r.office,
                    axis,
                    r.invited,
                    r.answered,
                    "" if r.response_rate is None else r.response_rate,
                    a.answers,
                    "" if a.mean is None else a.mean,
                    "" if a.satisfied_share is None else a.satisfied_share,
                    *(a.distribution[s] for s in range(1, 6)),
                ]
            )
    return out.getvalue()

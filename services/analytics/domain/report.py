"""The monthly report of an office or the network, as content (the PDF is drawn by
``services.analytics.report_pdf``): every figure is taken from indicator documents computed as
``/v1/kpis`` computes them (the month, the month before and the same month a year before, with
``period=month``; the month by day for the chart; ``by=contractor`` for the contractors).

Numbers are written as the API gives them, the decimal point as a comma (``12.5`` → ``12,5``);
a missing figure is ``—``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.analytics.domain.facts import Doc

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
NO_WORDS = (
    "Non disponible : le service d'analyse ne conserve aucun commentaire de locataire (données "
    "personnelles). Les verbatims, masqués, se consultent dans le service des enquêtes."
)
"""What the report says of tenants' words when it is not set to read them from feedback
(``services.analytics.domain.words`` when it is)."""


def fr(value: Any) -> str:
    """A figure as the report prints it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    return str(value).replace(".", ",")


def month_range(month: date) -> tuple[date, date]:
    """The first and last day of ``month``'s month."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def year_before(month: date) -> date:
    return month.replace(year=month.year - 1, day=1)


def month_label(month: date) -> str:
    return f"{MONTHS[month.month - 1]} {month.year}"


def _get(doc: Mapping[str, Any] | None, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _breaches(total: Mapping[str, Any]) -> int:
    return sum(int(v.get("count") or 0) for v in (total.get("sla_breaches") or {}).values())


Pick = Callable[[Mapping[str, Any]], Any]


def _path(path: str) -> Pick:
    return lambda total: _get(total, path)


#: the headline indicators: label, how to read it from an indicator document's total
HEADLINE: tuple[tuple[str, Pick], ...] = (
    ("Demandes ouvertes", _path("volume.opened")),
    ("Demandes pour 1 000 logements", _path("per_1000_homes.opened")),
    ("Stock en fin de mois", _path("backlog")),
    ("Part numérique (%)", _path("digital_share_pct")),
    ("Première réponse, médiane (h)", _path("first_response.median_hours")),
    ("Réparation, délai médian (h)", _path("repair_time.all.median_hours")),
    ("Urgences dans les délais (%)", _path("within_target.emergency.pct")),
    ("Non urgentes dans les délais (%)", _path("within_target.non_emergency.pct")),
    ("Dépassements de délai", _breaches),
    ("Dépassements pour 1 000 logements", _path("per_1000_homes.breaches")),
    ("Réclamations", _path("complaints.opened")),
    ("Réclamations pour 1 000 logements", _path("per_1000_homes.complaints")),
    ("Taux de réouverture (%)", _path("reopen.rate_pct")),
    ("Rendez-vous manqués", _path("missed_appointments.count")),
    ("Satisfaits (%)", _path("csat.pct")),
    ("Note moyenne (1–5)", _path("csat.mean")),
    ("NPS", _path("nps.score")),
    ("Taux de réponse aux enquêtes (%)", _path("survey_response.rate_pct")),
    ("Alertes détracteurs", _path("closed_loop.alerts")),
)

#: the charter's four axes (docs/DOMAIN.md): title, its indicators
AXES: tuple[tuple[str, str, tuple[tuple[str, Pick], ...]], ...] = (
    (
        "keys",
        "Donner les clés au client",
        (
            ("Part des demandes numériques (%)", _path("digital_share_pct")),
            ("Accusés de réception envoyés (%)", _path("follow_up_coverage_pct")),
        ),
    ),
    (
        "posture",
        "Adopter la bonne posture",
        (
            ("Satisfaits (%)", _path("csat.pct")),
            ("NPS", _path("nps.score")),
            ("Alertes détracteurs", _path("closed_loop.alerts")),
            ("Alertes traitées en 48 h (%)", _path("closed_loop.acknowledged_within_48h_pct")),
        ),
    ),
    (
        "team",
        "Développer l'esprit d'équipe",
        (
            ("Première réponse, médiane (h)", _path("first_response.median_hours")),
            ("Demandes réaffectées (%)", _path("reassigned.pct")),
            ("Taux de réouverture (%)", _path("reopen.rate_pct")),
        ),
    ),
    (
        "mission",
        "Remplir notre mission",
        (
            ("Urgences dans les délais (%)", _path("within_target.emergency.pct")),
            ("Non urgentes dans les délais (%)", _path("within_target.non_emergency.pct")),
            ("Dépassements de délai", _breaches),
            ("Mutations répondues à temps (%)", _path("transfer_answered_in_time.pct")),
        ),
    ),
)


@dataclass(frozen=True)
class Chart:
    """A bar chart: categories (x), series of values (None: no bar), and its unit."""

    title: str
    categories: Sequence[str]
    series: Sequence[tuple[str, Sequence[float | None]]]
    unit: str = ""


@dataclass(frozen=True)
class Report:
    title: str
    scope: str
    month: date
    columns: Sequence[str]
    headline: Sequence[tuple[str, Sequence[str]]]
    charts: Sequence[Chart]
    axes: Sequence[tuple[str, Sequence[tuple[str, Sequence[str]]]]]
    campaign_axes: Sequence[tuple[str, str, str]]
    offices: Sequence[Sequence[str]] = ()
    contractors: Sequence[Sequence[str]] = ()
    min_repairs: int = 0
    words: str = NO_WORDS
    #: a few of the month's words, masked and cut short (read from feedback, never stored)
    word_excerpts: Sequence[str] = ()
    alerts: Sequence[tuple[str, str]] = field(default_factory=tuple)


def _scope(doc: Mapping[str, Any], office: str | None) -> Mapping[str, Any]:
    scope: Mapping[str, Any] = doc["offices"][office] if office is not None else doc["network"]
    return scope


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def build_report(
    office: str | None,
    name: str,
    month: date,
    current: Doc,
    before: Doc,
    last_year: Doc,
    daily: Doc,
    contractors: Doc,
    office_names: Mapping[str, str],
) -> Report:
    """The report of ``office`` (None: the network) for ``month`` from indicator documents."""
    docs = [_scope(d, office)["total"] for d in (current, before, last_year)]
    columns = [month_label(month), month_label(previous_month(month)), month_label(year_before(month))]
    headline = [(label, [fr(pick(d)) for d in docs]) for label, pick in HEADLINE]
    axes = [(title, [(label, [fr(pick(d)) for d in docs]) for label, pick in rows]) for _, title, rows in AXES]
    campaigns = _scope(current, office).get("campaigns") or {}
    campaign_axes = [
        (campaign, title, fr(_get(c, f"axes.{axis}.mean")))
        for campaign, c in sorted(campaigns.items())
        for axis, title, _ in AXES
    ]
    days = _scope(daily, office)["periods"]
    charts = [
        Chart(
            "Demandes ouvertes par jour",
            [p["period"][-2:] for p in days],
            [("Demandes", [_num(_get(p, "volume.opened")) for p in days])],
        ),
        Chart(
            "Réparations dans les délais (%)",
            columns,
            [
                ("Urgences (U1+U2)", [_num(_get(d, "within_target.emergency.pct")) for d in docs]),
                ("Non urgentes (U3)", [_num(_get(d, "within_target.non_emergency.pct")) for d in docs]),
            ],
            "%",
        ),
        Chart(
            "Satisfaction et réponse aux enquêtes (%)",
            columns,
            [
                ("Satisfaits", [_num(_get(d, "csat.pct")) for d in docs]),
                ("Taux de réponse", [_num(_get(d, "survey_response.rate_pct")) for d in docs]),
            ],
            "%",
        ),
    ]
    offices_rows: list[list[str]] = []
    if office is None:
        for o, data in current["offices"].items():
            t = data["total"]
            offices_rows.append(
                [
                    office_names.get(o, o),
                    fr(_get(t, "volume.opened")),
                    fr(_get(t, "per_1000_homes.opened")),
                    fr(_get(t, "per_1000_homes.breaches")),
                    fr(_get(t, "per_1000_homes.complaints")),
                    fr(_get(t, "per_1000_homes.detractors")),
                    fr(_get(t, "csat.pct")),
                ]
            )
    view = _scope(contractors, office)
    contractor_rows = [
        [
            fr(c["rank"]),
            str(c["name"] or cid),
            fr(c["repairs"]),
            fr(c["within_target"]["all"]["pct"]),
            fr(c["repair_time"]["median_hours"]),
            fr(c["repair_time"]["p90_hours"]),
            fr(c["first_visit"]["rate_pct"]),
            fr(c["missed_appointments"]),
            fr(c["repeat_repairs"]["rate_pct"]),
            fr(c["csat"]["pct"]),
            fr(c["csat"]["ratings"]),
        ]
        for cid, c in view["contractors"].items()
    ]
    loop = docs[0].get("closed_loop") or {}
    alert_labels = {
        "alerts": "Alertes détracteurs levées",
        "acknowledged": "Alertes traitées",
        "overdue": "Alertes en retard (délai de suivi dépassé)",
        "acknowledged_within_48h_pct": "Alertes traitées en 48 h (%)",
    }
    alerts = [(alert_labels.get(k, k), fr(v)) for k, v in loop.items() if not isinstance(v, Mapping)]
    return Report(
        title=f"Rapport mensuel — {name} — {month_label(month)}",
        scope=name,
        month=month,
        columns=columns,
        headline=headline,
        charts=charts,
        axes=axes,
        campaign_axes=campaign_axes,
        offices=offices_rows,
        contractors=contractor_rows,
        min_repairs=int(contractors.get("min_repairs") or 0),
        alerts=alerts,
    )

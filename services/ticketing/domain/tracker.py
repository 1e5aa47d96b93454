"""What the tenant's tracker page says of a request (pure): its status in plain words, its
timeline, the next appointment window, how to reach the office and the office's tutorial for the
category. Nothing personal: no tenant reference, name, phone or address, no free text.

A link lives while the request is open and for ``LINK_DAYS`` after it was (last) closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.ticketing.domain.requests import RequestState, State
from shared.offices import Office

#: a tracker link expires this long after the request was closed (reopening revives it)
LINK_DAYS = 30

STATUS_WORDS = {
    State.OPEN: ("Demande reçue", "Votre demande a bien été enregistrée. Elle va être confiée à la bonne personne."),
    State.ASSIGNED: ("Prise en charge", "Votre demande a été confiée à une personne ou une équipe qui s'en occupe."),
    State.SCHEDULED: ("Rendez-vous fixé", "Une intervention est prévue : le créneau est indiqué ci-dessous."),
    State.ON_HOLD: ("En attente", "Le traitement de votre demande est momentanément en attente."),
    State.DONE: ("Intervention réalisée", "L'intervention a été réalisée. Votre demande va être clôturée."),
    State.CLOSED: ("Demande clôturée", "Votre demande est terminée."),
    State.REOPENED: ("Demande rouverte", "Votre demande a été rouverte et est de nouveau prise en charge."),
}

HOLD_WORDS = {
    "tenant_unavailable": "nous n'avons pas pu vous joindre ou vous rencontrer",
    "access_needed": "un accès au logement ou aux parties communes est nécessaire",
    "parts_ordered": "des pièces ont été commandées",
    "third_party": "nous attendons l'intervention d'un tiers",
    "other": "une autre raison",
}

RESOLUTION_WORDS = {
    "resolved": "traitée et résolue",
    "not_justified": "examinée, sans intervention nécessaire",
    "tenant_responsibility": "réparation à la charge du locataire",
    "duplicate": "en doublon avec une autre demande",
    "withdrawn": "retirée",
}

CATEGORY_WORDS = {
    "repair": "Réparation",
    "common_areas": "Parties communes",
    "heating_hot_water": "Chauffage et eau chaude",
    "neighbourhood": "Trouble de voisinage",
    "administrative": "Démarche administrative",
    "rent_charges": "Loyer et charges",
    "transfer": "Demande de mutation",
    "other": "Autre demande",
}

_MONTHS = [
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
]
_DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def french_day(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"


def french_clock(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.hour} h {local.minute:02d}"


@dataclass(frozen=True)
class Step:
    """One line of the timeline: when, and what happened in plain words."""

    day: str
    clock: str
    words: str


@dataclass(frozen=True)
class TrackerPage:
    request_id: str
    category: str
    status: str
    explanation: str
    timeline: tuple[Step, ...]
    #: "jeudi 3 décembre 2026, entre 8 h 00 et 10 h 00" (None: no appointment ahead)
    next_appointment: str | None
    office_name: str
    office_phone: str | None
    office_hours: str | None
    tutorial_url: str | None


def last_closed_at(request: RequestState) -> datetime | None:
    """When the request was last closed, if it is closed now."""
    if request.state is not State.CLOSED:
        return None
    closes = [e.fact.time for e in request.timeline if e.fact.type == "request.closed" and e.flag is None]
    return max(closes) if closes else request.closed_at


def link_alive(request: RequestState, now: datetime) -> bool:
    """Whether the tracker link of the request still opens (not closed more than 30 days ago)."""
    closed = last_closed_at(request)
    return closed is None or now <= closed + timedelta(days=LINK_DAYS)


def _words(kind: str, data: dict[str, object], zone: ZoneInfo) -> str | None:
    if kind == "request.opened":
        return "Demande enregistrée"
    if kind == "request.assigned":
        return "Demande confiée à " + ("une entreprise" if data.get("assignee_kind") == "contractor" else "nos équipes")
    if kind == "appointment.scheduled":
        start = data.get("slot_start")
        if isinstance(start, str):
            return f"Rendez-vous fixé pour le {french_day(datetime.fromisoformat(start), zone)}"
        return "Rendez-vous fixé"
    if kind == "appointment.missed":
        if data.get("missed_by") == "contractor":
            return "Rendez-vous manqué par l'intervenant : un nouveau créneau va vous être proposé"
        return "Rendez-vous manqué"
    if kind == "request.on_hold":
        return "Mise en attente : " + HOLD_WORDS.get(str(data.get("reason")), HOLD_WORDS["other"])
    if kind == "request.resumed":
        return "Reprise du traitement"
    if kind == "repair.done":
        return "Intervention réalisée"
    if kind == "request.closed":
        return "Demande clôturée : " + RESOLUTION_WORDS.get(str(data.get("resolution")), "terminée")
    if kind == "request.reopened":
        return "Demande rouverte"
    return None


def next_appointment(request: RequestState, now: datetime, zone: ZoneInfo) -> str | None:
    """The window of the latest scheduling of an appointment still ahead (not missed)."""
    if request.state in (State.DONE, State.CLOSED):
        return None
    slots: dict[str, tuple[datetime, datetime]] = {}
    for entry in request.timeline:
        fact = entry.fact
        if entry.flag is not None:
            continue
        if fact.type == "appointment.scheduled":
            try:
                start = datetime.fromisoformat(str(fact.data["slot_start"]))
                end = datetime.fromisoformat(str(fact.data["slot_end"]))
            except (KeyError, ValueError):
                continue
            slots[str(fact.data.get("appointment_id"))] = (start, end)
        elif fact.type == "appointment.missed":
            slots.pop(str(fact.data.get("appointment_id")), None)
    ahead = sorted((s, e) for s, e in slots.values() if e > now)
    if not ahead:
        return None
    start, end = ahead[0]
    return f"{french_day(start, zone)}, entre {french_clock(start, zone)} et {french_clock(end, zone)}"


def tracker_page(office: Office, request_id: str, request: RequestState, now: datetime) -> TrackerPage | None:
    """The page of a known, opened request whose link is alive, else None (the caller answers
    "not found" without saying why)."""
    if not request.opened or not link_alive(request, now):
        return None
    zone = office.tz
    status, explanation = STATUS_WORDS[request.state]
    if request.state is State.ON_HOLD:
        reasons = [e.fact.data.get("reason") for e in request.timeline if e.fact.type == "request.on_hold"]
        if reasons:
            explanation += " Motif : " + HOLD_WORDS.get(str(reasons[-1]), HOLD_WORDS["other"]) + "."
    steps = []
    for entry in request.timeline:
        if entry.flag is not None:
            continue
        words = _words(entry.fact.type, dict(entry.fact.data), zone)
        if words is not None:
            steps.append(Step(french_day(entry.fact.time, zone), french_clock(entry.fact.time, zone), words))
    category = request.category or "other"
    return TrackerPage(
        request_id=request_id,
        category=CATEGORY_WORDS.get(category, CATEGORY_WORDS["other"]),
        status=status,
        explanation=explanation,
        timeline=tuple(steps),
        next_appointment=next_appointment(request, now, zone),
        office_name=office.name,
        office_phone=office.phone,
        office_hours=office.opening_hours,
        tutorial_url=office.tutorials.get(category),
    )


@dataclass(frozen=True)
class TrackerLink:
    """A tracker link ticketing answers: the digest of its token and the request it opens (the
    tenant reference only to revoke the link when the tenant is erased)."""

    digest: str
    office: str
    request_id: str
    tenant_ref: str | None

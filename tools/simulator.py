"""Realistic traffic for the demo offices, in simulated time, deterministic for a given seed.

``generate`` (pure: a seeded ``random.Random``, no clock, no I/O) yields office events in the order of
their simulated time: French request categories and urgencies in plausible proportions, the channels
tenants use, contractors, delays that sometimes breach the deadlines, on-holds, missed appointments,
reopenings, contact updates and opt-outs, and ratings skewed the way real surveys are.
``run_simulation`` paces them in wall-clock time (``--speed``, ``--rate``, or ``--live``: on the wall
clock itself, a past history caught up at once) and sends or writes them, resuming from a checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import phonenumbers

from shared.events import SPECVERSION, CloudEvent, full_type, parse_event
from tools.progress import Progress
from tools.sending import Sender

PARIS = ZoneInfo("Europe/Paris")
HOUR = 3600.0
DAY = 86400.0

# proportions seen in French social housing request logs: technical requests dominate
CATEGORIES = {
    "repair": 40,
    "heating_hot_water": 15,
    "common_areas": 12,
    "neighbourhood": 9,
    "administrative": 8,
    "rent_charges": 8,
    "transfer": 4,
    "other": 4,
}
TECHNICAL = ("repair", "heating_hot_water", "common_areas")
URGENCIES = {"U1": 5, "U2": 25, "U3": 70}
CHANNELS = {"phone": 44, "web": 14, "app": 10, "email": 10, "counter": 9, "visit": 5, "chatbot": 5, "letter": 3}
SUMMARIES = {
    "repair": [
        "Fuite sous l'évier de la cuisine",
        "Chasse d'eau qui coule en continu",
        "Prise électrique qui ne fonctionne plus",
        "Volet roulant bloqué dans la chambre",
        "Porte d'entrée qui ferme mal",
        "Infiltration d'eau au plafond de la salle de bain",
        "Interphone en panne",
    ],
    "heating_hot_water": [
        "Plus d'eau chaude depuis hier soir",
        "Radiateur froid dans le séjour",
        "Chaudière en défaut, code erreur affiché",
        "Chauffage collectif trop faible",
    ],
    "common_areas": [
        "Ascenseur en panne",
        "Éclairage du hall hors service",
        "Porte du local poubelles cassée",
        "Tags dans la cage d'escalier",
    ],
    "neighbourhood": ["Bruit répété la nuit", "Encombrants déposés sur le palier", "Stationnement gênant"],
    "administrative": ["Demande d'attestation de loyer", "Changement de coordonnées bancaires", "Ajout d'un occupant"],
    "rent_charges": ["Question sur la régularisation des charges", "Contestation d'un avis d'échéance"],
    "transfer": ["Demande de mutation pour un logement plus grand", "Demande de logement adapté (mobilité réduite)"],
    "other": ["Demande de rendez-vous avec le gardien", "Question sur l'assurance habitation"],
}
CONTRACTORS = [
    ("ENT-003", "Plomberie Martin"),
    ("ENT-011", "Électricité Dubois"),
    ("ENT-017", "Chauffage Services Lefèvre"),
    ("ENT-021", "Serrurerie Moreau"),
    ("ENT-034", "Multiservices Girard"),
    ("ENT-040", "Ascenseurs Roux"),
]
AGENTS = [("AG-12", "Chargée de clientèle"), ("AG-27", "Gardien d'immeuble"), ("EQ-GL", "Équipe gestion locative")]
FIRST_NAMES = ["camille", "lea", "manon", "ines", "sarah", "lucas", "hugo", "nathan", "yanis", "karim", "fatou", "paul"]
LAST_NAMES = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy", "moreau"]
# ratings of real satisfaction surveys are skewed: most tenants answer 4 or 5, a few are detractors
SCORES = {5: 46, 4: 30, 3: 11, 2: 6, 1: 7}
COMMENTS = {
    5: ["Très satisfait, intervention rapide", "Technicien aimable et efficace", "Merci"],
    4: ["Bien, mais il a fallu rappeler", "Correct dans l'ensemble"],
    3: ["Délai un peu long", "Réparation faite mais logement laissé sale"],
    2: ["Rendez-vous décalé deux fois", "Toujours pas de nouvelles après l'intervention"],
    1: ["Personne n'est venu au rendez-vous", "Problème toujours pas réglé, très déçu"],
}
#: the recommendation (0–10) a tenant gives along with a score
NPS_BY_SCORE = {5: (8, 10), 4: (6, 9), 3: (4, 7), 2: (1, 5), 1: (0, 3)}


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _weight(moment: datetime) -> float:
    """Relative intensity of new requests at a local time: office hours dominate."""
    weekday, hour = moment.isoweekday(), moment.hour
    if weekday <= 5:
        return 1.0 if 8 <= hour < 18 else 0.08
    if weekday == 6:
        return 0.3 if 8 <= hour < 13 else 0.04
    return 0.04


_MEAN_WEIGHT = sum(_weight(datetime(2024, 1, 1 + d, h, tzinfo=PARIS)) for d in range(7) for h in range(24)) / 168


def _working(moment: datetime) -> datetime:
    """The same moment if within office hours (Mon–Fri 08–18, Paris), else the next opening (same minute)."""
    local = moment.astimezone(PARIS)
    if local.isoweekday() <= 5 and 8 <= local.hour < 18:
        return moment
    day = local.date() if local.hour < 8 else local.date() + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 8, local.minute, tzinfo=PARIS).astimezone(UTC)


@dataclass(frozen=True)
class SimulatorConfig:
    seed: int
    offices: tuple[str, ...]
    start: datetime
    requests_per_day: float = 30.0
    tenants_per_office: int = 400
    #: from this time on, new requests arrive at ``live_requests_per_day`` (a light history, then a
    #: busier live demo in the same world: requests opened in the history are repaired live)
    live_from: datetime | None = None
    live_requests_per_day: float | None = None

    def rate_at(self, moment: float) -> float:
        """New requests per office per day at a simulated time."""
        live_from, live_rate = self.live_from, self.live_requests_per_day
        if live_from is not None and live_rate is not None and moment >= live_from.timestamp():
            return live_rate
        return self.requests_per_day


@dataclass
class _Tenant:
    ref: str
    known: bool = False
    opted_out: bool = False


@dataclass
class _State:
    rng: random.Random
    config: SimulatorConfig
    heap: list[tuple[float, int, dict[str, Any] | None, str]] = field(default_factory=list)
    seq: int = 0
    events: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    tenants: dict[str, list[_Tenant]] = field(default_factory=dict)


def _code(office: str) -> str:
    return office.rsplit("-", 1)[-1][:8].upper()


def _push(state: _State, when: float, office: str, event: dict[str, Any] | None) -> None:
    state.seq += 1
    heapq.heappush(state.heap, (when, state.seq, event, office))


def _event(state: _State, office: str, kind: str, subject: str, when: float, data: dict[str, Any]) -> dict[str, Any]:
    state.events += 1
    return {
        "specversion": SPECVERSION,
        "id": f"sim-{state.config.seed}-{_code(office).lower()}-{state.events:08d}",
        "source": f"/offices/{office}/ikos",
        "type": full_type(kind),
        "subject": subject,
        "time": datetime.fromtimestamp(round(when), UTC).astimezone(PARIS).isoformat(),
        "officeid": office,
        "datacontenttype": "application/json",
        "data": data,
    }


def _mobile(rng: random.Random) -> str:
    while True:
        number = f"+33{rng.choice('67')}{rng.randrange(10**8):08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
            return number


def _contact(state: _State, office: str, tenant: _Tenant, when: float) -> None:
    rng = state.rng
    preferred = _pick(rng, {"sms": 55, "email": 35, "none": 10})
    data: dict[str, Any] = {"tenant_ref": tenant.ref, "preferred_channel": preferred, "language": "fr"}
    if preferred != "email" or rng.random() < 0.6:
        data["phone"] = _mobile(rng)
    if preferred == "email" or rng.random() < 0.5:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        data["email"] = f"{first}.{last}{rng.randrange(1, 999)}@example.org"
    if preferred == "sms" and "phone" not in data:
        data["phone"] = _mobile(rng)
    _push(state, when, office, _event(state, office, "tenant.contact_updated", tenant.ref, when, data))
    if not tenant.opted_out and rng.random() < 0.03:  # some tenants ask the office to stop texting them
        tenant.opted_out = True
        later = when + rng.uniform(1, 20) * DAY
        consent = {"tenant_ref": tenant.ref, "channel": "sms", "granted": False, "via": "office"}
        _push(state, later, office, _event(state, office, "tenant.consent_changed", tenant.ref, later, consent))


def _open_request(state: _State, office: str, t0: float) -> None:
    rng = state.rng
    if office not in state.tenants:  # built once per office (not on every request: it cost most of the time)
        state.tenants[office] = [_Tenant(f"T-{_code(office)}-{i:05d}") for i in range(state.config.tenants_per_office)]
    tenants = state.tenants[office]
    tenant = rng.choice(tenants)
    if not tenant.known or rng.random() < 0.03:
        tenant.known = True
        _contact(state, office, tenant, t0 - rng.uniform(60, 1800))
    number = state.requests.get(office, 0) + 1
    state.requests[office] = number
    request = f"REQ-{_code(office)}-{state.config.seed}-{number:06d}"
    category = _pick(rng, CATEGORIES)
    urgency = _pick(rng, URGENCIES) if category in TECHNICAL else None
    opened: dict[str, Any] = {
        "request_id": request,
        "tenant_ref": tenant.ref,
        "housing_ref": f"LGT-{rng.randrange(1, 3000):05d}",
        "category": category,
        "channel": _pick(rng, CHANNELS),
        "summary": rng.choice(SUMMARIES[category]),
    }
    if urgency:
        opened["urgency"] = urgency

    def emit(kind: str, when: float, **data: Any) -> None:
        _push(state, when, office, _event(state, office, kind, request, when, {"request_id": request, **data}))

    _push(state, t0, office, _event(state, office, "request.opened", request, t0, opened))
    # first response: usually within hours, a long tail breaches the 1–2 working-day target
    delay = rng.lognormvariate(math.log(3 * HOUR), 1.1)
    t = _working(datetime.fromtimestamp(t0 + delay, UTC)).timestamp() if urgency != "U1" else t0 + delay / 6
    if category in TECHNICAL:
        ref, name = rng.choice(CONTRACTORS)
        emit("request.assigned", t, assignee_kind="contractor", assignee_ref=ref, assignee_name=name)
        t = _technical(state, emit, t, urgency or "U3", name, tenant)
    else:
        ref, name = rng.choice(AGENTS)
        kind = "team" if ref.startswith("EQ") else "agent"
        emit("request.assigned", t, assignee_kind=kind, assignee_ref=ref, assignee_name=name)
        if rng.random() < 0.1:
            t += rng.uniform(0.5, 3) * DAY
            emit("request.on_hold", t, reason="third_party")
            t += rng.uniform(1, 6) * DAY
            emit("request.resumed", t)
        days = rng.uniform(10, 45) if category == "transfer" else rng.lognormvariate(math.log(5), 0.6)
        t += days * DAY
        resolution = _pick(rng, {"resolved": 70, "not_justified": 15, "withdrawn": 10, "duplicate": 5})
        emit("request.closed", _working(datetime.fromtimestamp(t, UTC)).timestamp(), resolution=resolution)


def _technical(state: _State, emit: Any, t: float, urgency: str, contractor: str, tenant: _Tenant) -> float:
    rng = state.rng
    appointment = f"RDV-{state.seq:07d}"
    # the slot follows the urgency: hours for U1/U2 (around the clock), days for U3 (office hours)
    if urgency == "U1":
        slot = t + rng.lognormvariate(math.log(1.8 * HOUR), 0.5)
    elif urgency == "U2":
        slot = t + rng.lognormvariate(math.log(10 * HOUR), 0.6)
    else:
        slot = _working(datetime.fromtimestamp(t + rng.lognormvariate(math.log(2.5 * DAY), 0.6), UTC)).timestamp()
    slot = float(round(slot / 1800) * 1800)

    def schedule(at: float, start: float) -> None:
        end = start + 2 * HOUR
        emit(
            "appointment.scheduled",
            at,
            appointment_id=appointment,
            slot_start=datetime.fromtimestamp(start, UTC).astimezone(PARIS).isoformat(),
            slot_end=datetime.fromtimestamp(end, UTC).astimezone(PARIS).isoformat(),
            contractor_name=contractor,
        )

    schedule(t + rng.uniform(5, 40) * 60, slot)
    first_visit = True
    if rng.random() < 0.07:  # a missed appointment, rescheduled with the same appointment id
        missed_by = _pick(rng, {"contractor": 60, "tenant": 40})
        missed_at = slot + 2.5 * HOUR
        emit("appointment.missed", missed_at, appointment_id=appointment, missed_by=missed_by)
        slot += rng.uniform(1, 4) * DAY if urgency == "U3" else rng.uniform(3, 12) * HOUR
        schedule(missed_at + rng.uniform(10, 60) * 60, slot)
        first_visit = False
    if rng.random() < 0.08:  # parts to order or access needed: the clock pauses
        reason = _pick(rng, {"parts_ordered": 50, "access_needed": 25, "tenant_unavailable": 15, "third_party": 10})
        emit("request.on_hold", slot + 1 * HOUR, reason=reason)
        slot += rng.uniform(1, 6) * DAY
        emit("request.resumed", slot - 2 * HOUR)
        first_visit = False
    done = slot + rng.uniform(0.5, 1.8) * HOUR
    emit("repair.done", done, completed_by=contractor, first_visit=first_visit)
    closed = done + rng.uniform(0.2, 3) * DAY
    resolution = _pick(rng, {"resolved": 86, "tenant_responsibility": 7, "not_justified": 4, "duplicate": 3})
    emit("request.closed", closed, resolution=resolution)
    if rng.random() < 0.05:  # the problem came back
        reopened = closed + rng.uniform(1, 10) * DAY
        emit("request.reopened", reopened, reason="Le problème est revenu")
        done = reopened + rng.uniform(0.5, 3) * DAY
        emit("repair.done", done, completed_by=contractor, first_visit=False)
        closed = done + rng.uniform(0.2, 2) * DAY
        emit("request.closed", closed, resolution="resolved")
    if rng.random() < 0.12:  # the office's own phone survey
        _rating(state, emit, closed + rng.uniform(1, 5) * DAY, tenant)
    return closed


def _rating(state: _State, emit: Any, when: float, tenant: _Tenant) -> None:
    rng = state.rng
    score = _pick(rng, SCORES)
    data: dict[str, Any] = {
        "tenant_ref": tenant.ref,
        "score": score,
        "channel": _pick(rng, {"phone": 80, "counter": 20}),
    }
    if rng.random() < 0.7:
        low, high = NPS_BY_SCORE[score]
        data["nps"] = rng.randint(low, high)
    if rng.random() < 0.4:
        data["comment"] = rng.choice(COMMENTS[score])
    # satisfaction.rated travels on feedback.ratings; its subject is the request (no survey id)
    emit("satisfaction.rated", when, **data)


def generate(config: SimulatorConfig) -> Iterator[dict[str, Any]]:
    """Events in simulated-time order (ties broken by creation order); endless: the caller stops."""
    state = _State(random.Random(config.seed), config)
    start = config.start.timestamp()
    top = max(config.rate_at(start), config.rate_at(math.inf))
    peak = top / DAY / _MEAN_WEIGHT  # thinning: candidates at the peak rate
    for office in config.offices:
        _push(state, start + state.rng.expovariate(peak), office, None)
    while state.heap:
        when, _, event, office = heapq.heappop(state.heap)
        if event is not None:
            yield event
            continue
        # an arrival candidate: kept with the probability of the hour's intensity
        share = config.rate_at(when) / top
        if state.rng.random() < _weight(datetime.fromtimestamp(when, PARIS)) * share:
            _open_request(state, office, when)
        _push(state, when + state.rng.expovariate(peak), office, None)


def event_seconds(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def run_simulation(
    config: SimulatorConfig, sender: Sender | None, args: argparse.Namespace, out: TextIO | None = None
) -> int:
    """Pace, then send (``sender``) or write (``out``) the generated events; returns how many."""
    return asyncio.run(_run(config, sender, args, out))


#: how far before its checkpoint a resumed run starts sending again
RESUME_OVERLAP_SECONDS = HOUR


def read_checkpoint(path: Path | None) -> float | None:
    """The simulated time up to which a previous run sent its events (``--checkpoint``), if any."""
    if path is None:
        return None
    try:
        return datetime.fromisoformat(path.read_text(encoding="utf-8").strip()).timestamp()
    except (OSError, ValueError):
        return None


def write_checkpoint(path: Path, moment: float) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(datetime.fromtimestamp(moment, UTC).isoformat() + "\n", encoding="utf-8")
    tmp.replace(path)


async def _run(config: SimulatorConfig, sender: Sender | None, args: argparse.Namespace, out: TextIO | None) -> int:
    count, duration, days = args.count, args.duration, args.days
    speed, rate = (args.speed, args.rate) if sender is not None else (None, None)
    live = bool(getattr(args, "live", False)) and sender is not None
    checkpoint: Path | None = getattr(args, "checkpoint", None)
    # a run resumed from a checkpoint sends again the last hour before it (a tenant's contact comes
    # up to half an hour before the request it goes with, after it in the generated order; the ids
    # are the same, consumers drop the duplicates) and what came after
    mark = read_checkpoint(checkpoint) if sender is not None else None
    resume = None if mark is None else mark - RESUME_OVERLAP_SECONDS
    sim0 = config.start.timestamp()
    progress = Progress("simulate", count, enabled=not getattr(args, "quiet", False))
    wall0 = time.monotonic()
    batch: list[CloudEvent] = []
    last = 0.0
    sent = 0

    async def flush() -> None:
        nonlocal batch
        if batch and sender is not None:
            await sender.send(batch)
            progress.update(len(batch))
            if checkpoint is not None:
                await asyncio.to_thread(write_checkpoint, checkpoint, last)
        batch = []

    try:
        for n, event in enumerate(generate(config)):
            if count is not None and n >= count:
                break
            moment = event_seconds(event)
            if days is not None and moment > sim0 + days * DAY:
                break
            if sender is None:
                assert out is not None
                out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
                sent += 1
                progress.update()
                continue
            if resume is not None and moment < resume:
                continue
            elapsed = time.monotonic() - wall0
            if live:  # the wall clock: what is past goes at once, the rest when its time comes
                target = elapsed + max(0.0, moment - time.time())
            else:
                target = max(0.0, (moment - sim0) / speed) if speed else 0.0
            if rate:
                target = max(target, sent / rate)
            if duration is not None and max(target, elapsed) > duration:
                break
            wait = target - elapsed
            if wait > 0:
                await flush()
                await asyncio.sleep(wait)
            batch.append(parse_event(json.dumps(event, ensure_ascii=False)))
            last = max(last, moment)
            sent += 1
            if len(batch) >= 100:
                await flush()
        await flush()
    finally:
        progress.close()
        if sender is not None:
            await sender.close()
    return sent

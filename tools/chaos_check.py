"""The chaos run's verdict, computed from a recording (a JSON document the run writes, also what the
tests feed it): events accepted vs events in each service's store, messages at the local SMS API and
SMTP server per cause, surveys per repair, dead letters, and every indicator of ``/v1/kpis`` against
``tools.chaos_kpis`` (the tool's own computation). ``check`` is pure: no I/O, no clock.

Recording keys: ``sent`` (office events accepted by the gateway or acknowledged by Kafka, each
once), ``stored`` (per service, the keys found in its store: ``event:<id>``, ``request:<office>|<id>``,
``tenant:<office>|<ref>``), ``sms`` and ``mails`` (``{"reference": ...}`` per message received),
``service_events`` (read back from the bus), ``dead_letters`` (``{"group", "reason", "expected"}``),
``kpis`` (the API's answer), ``offices``, ``traffic_started`` (ISO time), ``horizon_hours``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tools.chaos_kpis import differences, expected_totals, kind, leaves, when

Doc = dict[str, Any]
REQUEST_TYPES = {
    "request.opened",
    "request.assigned",
    "appointment.scheduled",
    "appointment.missed",
    "request.on_hold",
    "request.resumed",
    "repair.done",
    "request.closed",
    "request.reopened",
}
#: a survey decision near the horizon's edge may go either way (the decision's own clock)
HORIZON_MARGIN = timedelta(hours=1)
SURVEY_CAP = timedelta(days=7)


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: same-reference provider retries: reported apart, not a failure of "one message per cause"
    retries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def say(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, problem: str) -> None:
        self.problems.append(problem)


def expected_keys(events: list[Doc]) -> dict[str, set[str]]:
    """What each consuming service must hold for the events it was sent."""
    want: dict[str, set[str]] = defaultdict(set)
    for event in events:
        name, office, data = kind(event), str(event["officeid"]), event["data"]
        if name in REQUEST_TYPES:
            want["ticketing"].add(f"event:{event['id']}")
            want["analytics"].add(f"event:{event['id']}")
        if name == "satisfaction.rated":
            want["analytics"].add(f"event:{event['id']}")
        if name == "request.opened":
            want["notifications"].add(f"request:{office}|{data['request_id']}")
            want["feedback"].add(f"request:{office}|{data['request_id']}")
        if name == "tenant.contact_updated":
            want["notifications"].add(f"tenant:{office}|{data['tenant_ref']}")
    return want


def check(rec: Doc) -> Verdict:
    v = Verdict()
    sent: list[Doc] = rec["sent"]
    ids = Counter(str(e["id"]) for e in sent)
    if any(n > 1 for n in ids.values()):
        v.fail("the recording lists an accepted event twice")
    v.say(
        f"events accepted: {len(ids)} ({rec.get('via_gateway', '?')} via the gateway, "
        f"{rec.get('via_kafka', '?')} straight to Kafka, {rec.get('duplicates_sent', 0)} sent again)"
    )
    for refused in rec.get("refused", []):
        v.fail(f"the gateway refused a valid event: {refused}")
    _stores(rec, sent, v)
    service_events: list[Doc] = rec["service_events"]
    _messages(rec, service_events, v)
    _surveys(rec, sent, service_events, v)
    _dead_letters(rec, v)
    _kpis(rec, sent, service_events, v)
    return v


def _stores(rec: Doc, sent: list[Doc], v: Verdict) -> None:
    stored = {service: set(keys) for service, keys in rec["stored"].items()}
    for service, want in sorted(expected_keys(sent).items()):
        have = stored.get(service, set())
        lost = want - have
        v.say(f"{service:13} store: {len(want & have)}/{len(want)} expected records, lost {len(lost)}")
        if lost:
            v.fail(f"{service} lost {len(lost)} records, e.g. {sorted(lost)[:3]}")


def _notifications(service_events: list[Doc]) -> dict[str, Doc]:
    rank = {"deferred": 0, "suppressed": 1, "sent": 2, "failed": 3, "delivered": 4}
    notes: dict[str, Doc] = {}
    for event in service_events:
        name = kind(event)
        if not name.startswith("notification."):
            continue
        data = event["data"]
        note = notes.setdefault(str(data["notification_id"]), {**data, "outcome": None})
        outcome = name.split(".", 1)[1]
        if note["outcome"] is None or rank[outcome] > rank[note["outcome"]]:
            note["outcome"] = outcome
    return notes


def _messages(rec: Doc, service_events: list[Doc], v: Verdict) -> None:
    notes = _notifications(service_events)
    for channel, received in (("sms", rec["sms"]), ("email", rec["mails"])):
        by_ref = Counter(str(m["reference"]) for m in received)
        wanted = {n: d for n, d in notes.items() if d["channel"] == channel and d["outcome"] in ("sent", "delivered")}
        causes: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for reference in by_ref:
            note = notes.get(reference)
            if note is None:
                v.fail(f"{channel}: a message with reference {reference} that no notification event explains")
                continue
            causes[(str(note["cause_id"]), str(note["template"]), str(note["recipient"]))].add(reference)
        twice = {c: refs for c, refs in causes.items() if len(refs) > 1}
        missing = sorted(set(wanted) - set(by_ref))
        retried = {r: n for r, n in by_ref.items() if n > 1}
        v.say(
            f"{channel:5} messages: {sum(by_ref.values())} received for {len(causes)} causes; "
            f"{len(wanted)} notifications sent; missing {len(missing)}; causes sent twice {len(twice)}; "
            f"same-reference provider retries {sum(retried.values()) - len(retried)} (on {len(retried)} messages)"
        )
        for reference, n in sorted(retried.items()):
            v.retries.append(f"{channel} {reference}: received {n} times (same reference)")
        for cause, refs in sorted(twice.items())[:5]:
            v.fail(f"{channel}: cause {cause} sent under {len(refs)} references {sorted(refs)}")
        if twice:
            v.fail(f"{channel}: {len(twice)} causes sent more than once")
        if missing:
            v.fail(f"{channel}: {len(missing)} notifications said sent but never received, e.g. {missing[:3]}")
        states = Counter(str(d["outcome"]) for d in notes.values() if d["channel"] == channel)
        v.say(f"{channel:5} notifications by final outcome: {dict(sorted(states.items()))}")
        if states.get("failed"):
            v.fail(f"{channel}: {states['failed']} notifications failed (the tenant got nothing)")
        waiting = [d for d in notes.values() if d["channel"] == channel and d["outcome"] == "deferred"]
        unscheduled = [d for d in waiting if d.get("reason") != "scheduled"]
        if waiting:
            v.say(
                f"{channel:5} deferred: {len(waiting) - len(unscheduled)} scheduled for later (appointment reminders)"
            )
        if unscheduled:
            v.fail(f"{channel}: {len(unscheduled)} notifications still deferred at the end of the run")


def _surveys(rec: Doc, sent: list[Doc], service_events: list[Doc], v: Verdict) -> None:
    started = datetime.fromisoformat(rec["traffic_started"])
    live_from = started - timedelta(hours=float(rec["horizon_hours"])) + HORIZON_MARGIN
    history_before = live_from - 2 * HORIZON_MARGIN
    surveys: dict[tuple[str, str], set[str]] = defaultdict(set)
    survey_time: dict[tuple[str, str], datetime] = {}
    for event in service_events:
        data = event["data"]
        if kind(event) == "survey.requested" and data.get("request_id"):
            key = (str(event["officeid"]), str(data["request_id"]))
            surveys[key].add(str(data["survey_id"]))
            if not data.get("reminder"):
                survey_time[key] = min(survey_time.get(key, when(event)), when(event))
    tenant_of: dict[tuple[str, str], str] = {}
    ended: dict[tuple[str, str], datetime] = {}
    last_end: dict[tuple[str, str], datetime] = {}
    unreachable: set[tuple[str, str]] = set()
    #: each tenant's preference over time: whether it was ``none`` from then on
    preference: dict[tuple[str, str], list[tuple[datetime, bool]]] = defaultdict(list)
    for event in sorted(sent, key=lambda e: (when(e), str(e["id"]))):
        name, data, office = kind(event), event["data"], str(event["officeid"])
        if name == "request.opened":
            tenant_of[(office, str(data["request_id"]))] = str(data["tenant_ref"])
        elif name == "repair.done" or (name == "request.closed" and data.get("resolution") == "resolved"):
            key = (office, str(data["request_id"]))
            ended[key] = min(ended.get(key, when(event)), when(event))
            last_end[key] = max(last_end.get(key, when(event)), when(event))
        elif name == "tenant.contact_updated":
            tenant = (office, str(data["tenant_ref"]))
            (unreachable.add if data.get("preferred_channel") == "none" else unreachable.discard)(tenant)
            preference[tenant].append((when(event), data.get("preferred_channel") == "none"))

    # what feedback knew when each ending reached it: ``sent`` is in the order the events were
    # accepted; the tenant's preference then is the latest (by event time) accepted before
    known: dict[tuple[str, str], tuple[datetime, bool]] = {}
    unreachable_on_arrival: set[tuple[str, str]] = set()
    for event in sent:
        name, data, office = kind(event), event["data"], str(event["officeid"])
        if name == "tenant.contact_updated":
            tenant = (office, str(data["tenant_ref"]))
            if tenant not in known or known[tenant][0] <= when(event):
                known[tenant] = (when(event), data.get("preferred_channel") == "none")
        elif name == "repair.done" or (name == "request.closed" and data.get("resolution") == "resolved"):
            key = (office, str(data["request_id"]))
            tenant = (office, tenant_of.get(key, ""))
            if tenant in known and known[tenant][1]:
                unreachable_on_arrival.add(key)

    def unreachable_at(tenant: tuple[str, str], at: datetime) -> bool:
        """Whether the tenant wanted nothing (``preferred_channel`` none) when the repair ended:
        feedback decides on the contact it knows then, not on a later one."""
        before = [none for t, none in preference.get(tenant, ()) if t <= at]
        return bool(before) and before[-1]

    by_tenant: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for key, at in survey_time.items():
        if key in tenant_of:
            by_tenant[(key[0], tenant_of[key])].append(at)
    twice = {k: s for k, s in surveys.items() if len(s) > 1}
    eligible = missing = capped = history = reordered = late_preference = 0
    for key, end in ended.items():
        if key not in tenant_of:
            continue
        tenant = (key[0], tenant_of[key])
        if tenant in unreachable or unreachable_at(tenant, end):
            continue
        if key in unreachable_on_arrival and key not in survey_time:
            late_preference += 1  # the tenant's change of preference arrived after the ending
            continue
        if end < history_before and key in survey_time:
            # a live ending (a later closing) that arrived before the earlier, historical repair
            # decides as feedback documents it: reported apart; an all-historical request is wrong
            if last_end[key] >= live_from:
                reordered += 1
            else:
                history += 1
        if end < live_from:
            continue
        eligible += 1
        if key in survey_time:
            continue
        others = by_tenant.get((key[0], tenant_of[key]), [])
        if any(abs(at - end) <= SURVEY_CAP + timedelta(days=1) for at in others):
            capped += 1
        else:
            missing += 1
    v.say(
        f"surveys: {len(survey_time)} sent after repairs; {eligible} live repairs of reachable tenants: "
        f"{eligible - missing - capped} surveyed, {capped} capped (tenant surveyed within 7 days), {missing} missing; "
        f"requests with two surveys {len(twice)}; surveys for history repairs {history}"
    )
    if reordered:
        v.say(
            f"surveys: {reordered} repairs older than the horizon surveyed because their later, live closing "
            "arrived first (out-of-order delivery; feedback decides on the ending it knows)"
        )
    if late_preference:
        v.say(
            f"surveys: {late_preference} repairs not surveyed because the tenant's new preference (from none) "
            "arrived after the repair's ending (out-of-order delivery; feedback decides on the contact it knows)"
        )
    if twice:
        v.fail(f"surveys: {len(twice)} requests got more than one survey, e.g. {sorted(twice)[:3]}")
    if missing:
        v.fail(f"surveys: {missing} eligible repairs got no survey")
    if history:
        v.fail(f"surveys: {history} repairs older than the horizon got a survey")


def _dead_letters(rec: Doc, v: Verdict) -> None:
    letters: list[Doc] = rec["dead_letters"]
    unexpected = [d for d in letters if not d.get("expected")]
    by_group = Counter(str(d["group"]) for d in letters)
    v.say(
        f"dead letters: {len(letters)} ({dict(sorted(by_group.items()))}), "
        f"expected {rec.get('expected_dead_letters', 0)}, unexpected {len(unexpected)}"
    )
    if len(letters) - len(unexpected) != rec.get("expected_dead_letters", 0):
        v.fail(
            f"dead letters: {len(letters) - len(unexpected)} of the injected bad records reached a dead-letter topic, "
            f"expected {rec.get('expected_dead_letters', 0)}"
        )
    for letter in unexpected[:5]:
        v.fail(f"unexpected dead letter in {letter['group']}: {letter.get('reason')}")
    if len(unexpected) > 5:
        v.fail(f"{len(unexpected)} unexpected dead letters in all")


def _kpis(rec: Doc, sent: list[Doc], service_events: list[Doc], v: Verdict) -> None:
    offices: list[str] = rec["offices"]
    expected = expected_totals(sent, service_events, offices, rec.get("housing_stock"))
    kpis = rec["kpis"]
    actual = {o: kpis["offices"].get(o, {}).get("total") for o in offices}
    actual["network"] = kpis["network"]["total"]
    compared = 0
    diffs: list[str] = []
    for scope in [*offices, "network"]:
        diffs += [f"{scope}.{d}" for d in differences(expected[scope], actual[scope])]
        compared += len(leaves(expected[scope]))
        unchecked = set(leaves(actual[scope] or {})) - set(leaves(expected[scope]))
        if unchecked:
            v.fail(f"indicators of {scope} the tool does not compute: {sorted(unchecked)}")
    v.say(f"indicators: {compared} values compared (4 offices and the network), {len(diffs)} differ")
    network = expected["network"]
    v.say(
        f"  network: opened {network['volume']['opened']}, backlog {network['backlog']}, "
        f"csat {network['csat']['pct']} %, nps {network['nps']['score']}, "
        f"surveys sent {network['survey_response']['sent']}, "
        f"sms sent+delivered {network['notifications']['sms']['sent'] + network['notifications']['sms']['delivered']}"
    )
    for diff in diffs[:20]:
        v.fail(f"indicator {diff}")
    if len(diffs) > 20:
        v.fail(f"{len(diffs)} indicator values differ in all")

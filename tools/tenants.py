"""``canopee demo-tenants``: the demo's tenants answering their surveys.

The local demo's notifications write every SMS as a JSON line to a file (``.local/run/outbox/sms.jsonl``)
and every e-mail to the mail catcher's folder. This loop reads the survey invitations that appear
there and answers a realistic share of them, as tenants do: some on the survey page, as a browser
would (GET the link, keep the form's cookie, POST the form with its anti-forgery field and the page's
``Origin``), some by replying to the SMS (through notifications' inbound-SMS webhook, signed with the
webhook secret as the SMS provider signs it), the rest never. Scores are skewed like real surveys
(mostly 4–5, a few 1–2, so detractor alerts appear), answers come a few minutes after the message.

Which invitation gets which answer is decided from ``--seed`` and the link alone (pure, see
``plan``): the same outbox gives the same answers.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import html
import json
import math
import os
import random
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from tools.simulator import COMMENTS, NPS_BY_SCORE, SCORES

#: a survey link in a message: ``<survey_url_base>/s/<token>``
SURVEY_LINK = re.compile(r"https?://[^\s\"'<>\\]+/s/[A-Za-z0-9_-]+")
#: how tenants invited by SMS answer (surveys by SMS get about half of the tenants to answer)
SMS_INVITED = {"page": 28, "sms": 24, "never": 48}
#: how tenants invited by e-mail answer (no SMS to reply to)
EMAIL_INVITED = {"page": 35, "never": 65}
#: a few ways tenants write an SMS answer (feedback reads the first number 1–5 as the score)
SMS_FORMS = ("{score}", "{score}", "{score} merci", "{score} {comment}", "Note {score}. {comment}")
_FORM_FIELD = re.compile(r'name="form"\s+value="([^"]*)"|value="([^"]*)"\s+name="form"')
_RADIO = re.compile(r'<input[^>]*type="radio"[^>]*name="([^"]+)"|<input[^>]*name="([^"]+)"[^>]*type="radio"')
#: an SMS that asks for a reply (« Répondez à ce SMS par une note… »)
_ASKS_REPLY = re.compile(r"r[ée]pond", re.IGNORECASE)
_DEFAULT_NOTIFICATIONS = "http://127.0.0.1:{port}"

Channel = Literal["page", "sms"]


@dataclass(frozen=True)
class Invitation:
    """A survey link a tenant received; ``phone`` is the number an SMS went to (the reply comes from
    it) and ``replyable`` whether the SMS asks for a reply; both empty for an e-mail."""

    url: str
    phone: str | None = None
    replyable: bool = False

    @property
    def token(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Answer:
    invitation: Invitation
    channel: Channel
    delay: float  # seconds after the message was seen
    score: int
    nps: int | None
    comment: str | None
    sms_text: str


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan(seed: int, invitation: Invitation, median_delay: float = 60.0, max_delay: float = 600.0) -> Answer | None:
    """How (and whether) the tenant answers this invitation: a pure function of the seed and the link."""
    rng = random.Random(f"{seed}|{invitation.token}")
    weights = SMS_INVITED if invitation.phone and invitation.replyable else EMAIL_INVITED
    channel = _pick(rng, weights)
    if channel == "never":
        return None
    score = int(_pick(rng, SCORES))
    low, high = NPS_BY_SCORE[score]
    nps = rng.randint(low, high) if rng.random() < 0.6 else None
    comment = rng.choice(COMMENTS[score]) if rng.random() < 0.35 else None
    delay = min(max_delay, rng.lognormvariate(math.log(max(median_delay, 1.0)), 0.8))
    form = rng.choice(SMS_FORMS) if comment else rng.choice(SMS_FORMS[:3])
    text = form.format(score=score, comment=comment or "").strip()
    return Answer(invitation, channel, delay, score, nps, comment, text)


def invitation_in_sms(line: str) -> Invitation | None:
    """The survey invitation (or reminder) in one line of the SMS outbox file, if it is one."""
    try:
        sms = json.loads(line)
    except ValueError:
        return None
    if not isinstance(sms, dict) or not isinstance(sms.get("text"), str):
        return None
    found = SURVEY_LINK.search(sms["text"])
    if found is None:
        return None
    phone = sms.get("to") if isinstance(sms.get("to"), str) else None
    return Invitation(found.group(0), phone, _ASKS_REPLY.search(sms["text"]) is not None)


def invitations_in_email(raw: bytes) -> list[Invitation]:
    """The survey links of one e-mail (its text and HTML parts)."""
    links: list[str] = []
    for part in message_from_bytes(raw).walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            for link in SURVEY_LINK.findall(html.unescape(payload.decode("utf-8", "replace"))):
                if link not in links:
                    links.append(link)
    return [Invitation(link) for link in links]


def _form_values(page: str, answer: Answer) -> dict[str, str] | None:
    """What a tenant fills in on the form page; None when the page holds no form (answered already)."""
    field_match = _FORM_FIELD.search(page)
    if field_match is None:
        return None
    values = {"form": html.unescape(field_match.group(1) or field_match.group(2) or "")}
    rng = random.Random(answer.invitation.token)
    for groups in _RADIO.findall(page):
        name = groups[0] or groups[1]
        if name in values:
            continue
        if name == "score":
            values[name] = str(answer.score)
        elif name == "nps":
            if answer.nps is not None:
                values[name] = str(answer.nps)
        else:  # a campaign's axis: close to the tenant's overall feeling
            values[name] = str(min(5, max(1, answer.score + rng.choice((-1, 0, 0, 0, 1)))))
    if answer.comment and 'name="comment"' in page:
        values["comment"] = answer.comment
    return values


async def answer_on_page(client: httpx.AsyncClient, answer: Answer) -> str:
    """The tenant opens the link and sends the form, as a browser does (the form's cookie, its
    hidden field, the page's origin); the outcome in a word."""
    url = answer.invitation.url
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    client.cookies.clear()  # each tenant has their own browser
    page = await client.get(url)
    if page.status_code == 404:
        return "expired"
    if page.status_code != 200:
        return f"page {page.status_code}"
    values = _form_values(page.text, answer)
    if values is None:
        return "already answered"
    headers = {"Origin": origin, "Referer": url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
    sent = await client.post(url, data=values, headers=headers)
    return "answered" if sent.status_code == 200 else f"refused {sent.status_code}"


async def answer_by_sms(client: httpx.AsyncClient, notifications_url: str, secret: str, answer: Answer) -> str:
    """The tenant replies to the SMS: the provider forwards it to notifications' inbound webhook."""
    from shared.webhooks import signed_headers

    assert answer.invitation.phone is not None
    body = json.dumps(
        {"id": f"demo-{uuid.uuid4().hex}", "from": answer.invitation.phone, "text": answer.sms_text},
        ensure_ascii=False,
    ).encode()
    headers = signed_headers(secret, body)  # Standard Webhooks, as the SMS provider signs
    webhook = f"{notifications_url.rstrip('/')}/v1/webhooks/sms/inbound"
    response = await client.post(webhook, content=body, headers=headers)
    if response.status_code != 200:
        return f"refused {response.status_code}"
    return str(response.json().get("status", "sent"))


@dataclass
class Tenants:
    """The loop's state: where it is in the outbox, the links seen, the answers waiting for their time."""

    sms_file: Path
    mail_dir: Path | None
    notifications_url: str
    secret: str | None
    seed: int
    median_delay: float = 60.0
    max_delay: float = 600.0
    state_file: Path | None = None
    offset: int = 0
    mail_seen: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    due: list[tuple[float, int, Answer]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    _seq: int = 0

    def load_state(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            offset = int(state.get("offset", 0))
            mail_seen = set(state.get("mail_seen", []))
            tokens = set(state.get("tokens", []))
            pending = [Invitation(str(u), phone, bool(reply)) for u, phone, reply in state.get("pending", [])]
        except (OSError, ValueError, TypeError):
            return
        self.offset, self.mail_seen, self.tokens = offset, mail_seen, tokens
        now = time.monotonic()
        for invitation in pending:  # answers a stopped loop had not given yet: planned again, same answer
            self.tokens.discard(invitation.token)
            self._consider(invitation, now)

    def save_state(self) -> None:
        if self.state_file is None:
            return
        pending = [[a.invitation.url, a.invitation.phone, a.invitation.replyable] for _, _, a in self.due]
        state = {
            "offset": self.offset,
            "mail_seen": sorted(self.mail_seen),
            "tokens": sorted(self.tokens),
            "pending": pending,
        }
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self.state_file)

    def _consider(self, invitation: Invitation, now: float) -> None:
        if invitation.token in self.tokens:  # a reminder of a link already seen: same decision
            return
        self.tokens.add(invitation.token)
        answer = plan(self.seed, invitation, self.median_delay, self.max_delay)
        if answer is None:
            self.counts["never"] += 1
            return
        if answer.channel == "sms" and not self.secret:
            answer = Answer(invitation, "page", answer.delay, answer.score, answer.nps, answer.comment, "")
        self._seq += 1
        heapq.heappush(self.due, (now + answer.delay, self._seq, answer))

    def scan(self, now: float) -> int:
        """Read the messages that arrived since the last scan; returns how many invitations were new."""
        before = len(self.tokens)
        try:
            size = self.sms_file.stat().st_size
        except OSError:
            size = 0
        if size < self.offset:  # the outbox was emptied (make reset): start over
            self.offset = 0
        if size > self.offset:
            with self.sms_file.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(size - self.offset)
            complete = chunk.rfind(b"\n") + 1  # a line being written is read next time
            for line in chunk[:complete].decode("utf-8", "replace").splitlines():
                invitation = invitation_in_sms(line)
                if invitation is not None:
                    self._consider(invitation, now)
            self.offset += complete
        if self.mail_dir is not None and self.mail_dir.is_dir():
            for path in sorted(self.mail_dir.glob("*.eml")):
                if path.name in self.mail_seen:
                    continue
                self.mail_seen.add(path.name)
                try:
                    raw = path.read_bytes()
                except OSError:
                    continue
                for invitation in invitations_in_email(raw):
                    self._consider(invitation, now)
        return len(self.tokens) - before

    def ready(self, now: float) -> list[Answer]:
        answers = []
        while self.due and self.due[0][0] <= now:
            answers.append(heapq.heappop(self.due)[2])
        return answers

    async def answer(self, client: httpx.AsyncClient, answer: Answer) -> str:
        try:
            if answer.channel == "sms":
                assert self.secret is not None
                outcome = await answer_by_sms(client, self.notifications_url, self.secret, answer)
            else:
                outcome = await answer_on_page(client, answer)
        except httpx.HTTPError as exc:
            outcome = f"unreachable ({type(exc).__name__})"
        except ValueError:  # a body that is not the JSON expected
            outcome = "unexpected answer"
        self.counts[f"{answer.channel} {outcome}"] += 1
        return outcome


async def run_tenants(tenants: Tenants, poll: float, duration: float | None, quiet: bool = False) -> Counter[str]:
    """Scan, answer what is due, sleep ``poll`` seconds; until ``duration`` wall seconds have passed."""
    tenants.load_state()
    wall0 = time.monotonic()
    async with httpx.AsyncClient(timeout=15, headers={"User-Agent": "canopee-demo-tenant/1"}) as client:
        while duration is None or time.monotonic() - wall0 < duration:
            now = time.monotonic()
            changed = tenants.scan(now) > 0
            for answer in tenants.ready(now):
                changed = True
                outcome = await tenants.answer(client, answer)
                if not quiet:
                    how = "on the page" if answer.channel == "page" else f"by SMS ({answer.sms_text!r})"
                    extra = f", recommendation {answer.nps}/10" if answer.nps is not None else ""
                    print(
                        f"survey {answer.invitation.token[:6]}…: score {answer.score}/5{extra} {how}: {outcome}",
                        flush=True,
                    )
            if changed:
                tenants.save_state()
            await asyncio.sleep(poll)
    return tenants.counts


def _demo_tenants(args: argparse.Namespace) -> int:
    secret = os.environ.get("CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET")
    if args.webhook_secret_file:
        try:
            secret = Path(args.webhook_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            print(f"canopee demo-tenants: cannot read {args.webhook_secret_file}: {exc.strerror}", file=sys.stderr)
            return 2
    if not secret:
        print("canopee demo-tenants: no webhook secret: tenants answer on the page only", file=sys.stderr)
    url = args.notifications_url or _DEFAULT_NOTIFICATIONS.format(
        port=os.environ.get("CANOPEE_NOTIFICATIONS_PORT", "8002")
    )
    tenants = Tenants(
        sms_file=Path(args.sms_file),
        mail_dir=Path(args.mail_dir) if args.mail_dir else None,
        notifications_url=url,
        secret=secret or None,
        seed=args.seed,
        median_delay=args.median_delay,
        max_delay=args.max_delay,
        state_file=Path(args.state) if args.state else None,
    )
    print(f"demo tenants reading {args.sms_file}" + (f" and {args.mail_dir}" if args.mail_dir else ""), flush=True)
    try:
        counts = asyncio.run(run_tenants(tenants, args.poll, args.duration, args.quiet))
    except KeyboardInterrupt:
        counts = tenants.counts
    print("demo tenants: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), flush=True)
    return 0


def register(sub: Any) -> None:
    """Add ``demo-tenants`` to the ``canopee`` command."""
    parser = sub.add_parser(
        "demo-tenants",
        help="the demo's tenants: answer a realistic share of the survey invitations in the demo outboxes",
        description="Reads the SMS outbox file (and the mail catcher's folder) of the local demo and answers "
        "survey invitations on the survey page or by SMS reply (notifications' signed inbound webhook); "
        "about half are never answered. Scores mostly 4–5, some 1–2.",
    )
    parser.add_argument(
        "--sms-file", default=".local/run/outbox/sms.jsonl", help="the outbox of notifications' file SMS provider"
    )
    parser.add_argument("--mail-dir", help="the mail catcher's folder of .eml files (answered on the page)")
    parser.add_argument(
        "--notifications-url",
        help="where notifications listens (default http://127.0.0.1:$CANOPEE_NOTIFICATIONS_PORT, else :8002)",
    )
    parser.add_argument(
        "--webhook-secret-file",
        help="the inbound-SMS webhook secret (default: CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET)",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same answers to the same links")
    parser.add_argument("--median-delay", type=float, default=60.0, help="median seconds before a tenant answers")
    parser.add_argument("--max-delay", type=float, default=600.0, help="the slowest tenant's delay, in seconds")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between two looks at the outboxes")
    parser.add_argument("--duration", type=float, help="stop after this many wall seconds (default: never)")
    parser.add_argument("--state", help="file keeping the position in the outboxes across restarts")
    parser.add_argument("--quiet", action="store_true", help="no line per answer")
    parser.set_defaults(func=_demo_tenants)

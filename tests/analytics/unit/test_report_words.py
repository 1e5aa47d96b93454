"""Tenants' words in the monthly report: read from a words source at report time, masked again
(phone numbers, e-mail addresses), cut short, at most N excerpts, never kept by analytics; a
source that fails leaves the report whole, saying the words could not be read."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.analytics.domain.report import NO_WORDS
from services.analytics.domain.words import EXCERPT_MAX, UNAVAILABLE, excerpt, select_words
from services.analytics.feedback_words import FeedbackWords, words_source
from services.analytics.handlers import Analytics
from services.analytics.handlers.reports import MonthlyReports
from services.analytics.report_pdf import render_pdf
from services.analytics.store_memory import MemoryAnalyticsStore
from shared.offices import DEMO_OFFICES_FILE, load_offices
from shared.settings import ConfigError, load_settings
from tests.support.pdf import pdf_text
from tools.report import ReportSettings

OFFICES = load_offices(DEMO_OFFICES_FILE)
PHONE, EMAIL = "06 12 34 56 78", "jeanne.martin@example.org"
SECRET_WORDS = f"Fuite encore là, rappelez-moi au {PHONE} ou {EMAIL} svp"


def entry(n: int, text: str, status: str = "new", score: int | None = 2) -> dict[str, Any]:
    return {
        "id": f"VOX-{n}",
        "office": "demo-nord",
        "tenant_ref": f"T-{n}",
        "text": text,
        "at": datetime(2026, 3, 28 - n, 9, tzinfo=UTC).isoformat(),
        "score": score,
        "status": status,
    }


class Source:
    """A words source that records what it was asked and answers ``entries`` (None: a failure)."""

    def __init__(self, entries: list[dict[str, Any]] | None) -> None:
        self.entries = entries
        self.asked: list[tuple[str | None, datetime, datetime, int]] = []

    async def words(
        self, office: str | None, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]] | None:
        self.asked.append((office, since, until, limit))
        return self.entries


def test_an_excerpt_is_masked_flattened_and_cut() -> None:
    assert excerpt(SECRET_WORDS) == "Fuite encore là, rappelez-moi au [téléphone masqué] ou [e-mail masqué] svp"
    long = excerpt("mot " * 200 + "+33 6 12 34 56 78")
    assert len(long) == EXCERPT_MAX and long.endswith("…")
    assert excerpt("ligne\n\n  deux") == "ligne deux"


def test_the_selection_counts_the_month_and_quotes_at_most_n() -> None:
    entries = [entry(n, f"parole {n} {PHONE}", status="handled" if n % 3 == 0 else "new") for n in range(8)]
    words = select_words({"demo-nord": entries}, 3)
    assert words.summary.startswith("8 paroles de locataires reçues ce mois, dont 3 traitées.")
    assert len(words.excerpts) == 3
    assert [w.split("« ")[1] for w in words.excerpts] == [f"parole {n} [téléphone masqué] »" for n in range(3)]
    assert words.excerpts[0].startswith("28/03, note 2/5 — ")
    assert select_words({"demo-nord": []}, 3).summary == "Aucune parole de locataire reçue ce mois."
    assert select_words({"demo-nord": entries}, 0).excerpts == []


def test_the_network_merges_the_offices_newest_first_and_drops_strays() -> None:
    sud = [{**entry(0, "sud récent"), "office": "demo-sud", "at": "2026-03-29T08:00:00+02:00"}]
    stray = {**entry(1, "égarée"), "office": "demo-est"}  # in nord's list: left out
    words = select_words({"demo-nord": [entry(2, "nord"), stray], "demo-sud": sud}, 5)
    assert words.summary.startswith("2 paroles de locataires reçues ce mois, dont 0 traitée.")
    assert [w.split("« ")[1] for w in words.excerpts] == ["sud récent »", "nord »"]
    full = select_words({"demo-nord": [entry(0, "x")] * 500}, 1)
    assert full.summary.startswith("Au moins 500 paroles")


def reports(source: Source | None, store: MemoryAnalyticsStore, n: int = 2) -> MonthlyReports:
    svc = Analytics(OFFICES, store, contractor_min_repairs=5)
    return MonthlyReports(OFFICES, svc.office_indicators, svc.contractors, render_pdf, words=source, word_excerpts=n)


async def test_the_pdf_shows_masked_words_and_analytics_keeps_none(tmp_path: Path) -> None:
    store = MemoryAnalyticsStore()
    source = Source([entry(0, SECRET_WORDS), entry(1, "Merci pour la réparation", "handled"), entry(2, "trois")])
    pdf = tmp_path / "rapport.pdf"
    pdf.write_bytes(await reports(source, store).pdf("demo-nord", date(2026, 3, 1)))
    text = " ".join(pdf_text(pdf).split())
    assert "3 paroles de locataires reçues ce mois, dont 1 traitée." in text
    assert "rappelez-moi au [téléphone masqué] ou [e-mail masqué] svp" in text
    assert "Merci pour la réparation" in text and "« trois »" not in text  # at most 2 excerpts
    assert PHONE not in text and EMAIL not in text and "T-0" not in text
    assert NO_WORDS.split()[0] + " disponible" not in text
    # asked for the office's month in its time zone, [1 March, 1 April)
    office, since, until, limit = source.asked[0]
    assert office == "demo-nord" and limit == 500
    assert since.isoformat() == "2026-03-01T00:00:00+01:00" and until.isoformat() == "2026-04-01T00:00:00+02:00"
    # nothing of the words is kept by analytics: its store is as empty as before
    kept = repr(vars(store))
    assert "rappelez-moi" not in kept and "Merci pour" not in kept
    assert repr(vars(store)) == repr(vars(MemoryAnalyticsStore()))


async def test_a_failing_source_leaves_the_report_whole(tmp_path: Path) -> None:
    pdf = tmp_path / "rapport.pdf"
    pdf.write_bytes(await reports(Source(None), MemoryAnalyticsStore()).pdf(None, date(2026, 3, 1)))
    text = " ".join(pdf_text(pdf).split())
    assert "Paroles de locataires" in text and " ".join(UNAVAILABLE.split()) in text
    assert "Alertes en retard" in text


class OneOffice(Source):
    """A source whose token sees one office only: the others' lists are refused."""

    async def words(
        self, office: str | None, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]] | None:
        self.asked.append((office, since, until, limit))
        return self.entries if office == "demo-nord" else None


async def test_the_network_asks_every_office_and_one_refusal_hides_all() -> None:
    source = OneOffice([entry(0, "nord")])
    report = await reports(source, MemoryAnalyticsStore()).report(None, date(2026, 3, 1))
    assert report.words == UNAVAILABLE and report.word_excerpts == ()
    assert [a[0] for a in source.asked][:2] == ["demo-nord", "demo-sud"]
    office = await reports(OneOffice([entry(0, "nord")]), MemoryAnalyticsStore()).report("demo-nord", date(2026, 3, 1))
    assert office.words.startswith("1 parole de locataires reçue ce mois, dont 0 traitée.")


async def test_without_a_source_the_report_says_words_are_not_available() -> None:
    report = await reports(None, MemoryAnalyticsStore()).report("demo-nord", date(2026, 3, 1))
    assert report.words == NO_WORDS and report.word_excerpts == ()


SINCE, UNTIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "handler",
    [
        lambda r: httpx.Response(503, json={"title": "down"}),
        lambda r: httpx.Response(403, json={"title": "Forbidden"}),
        lambda r: httpx.Response(200, json={"not": "a list"}),
        lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")),
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow")),
    ],
    ids=["503", "403", "not-a-list", "down", "timeout"],
)
async def test_the_feedback_client_turns_failures_into_none_without_personal_data(
    handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = FeedbackWords("http://feedback.invalid", "token-" + "x" * 20, transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.WARNING):
        assert await client.words("demo-nord", SINCE, UNTIL, 500) is None
    assert caplog.records and all("token-" not in r.getMessage() for r in caplog.records)


async def test_the_feedback_client_asks_for_the_office_month_with_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[entry(0, SECRET_WORDS)])

    client = FeedbackWords("http://feedback.invalid/", "token-" + "x" * 20, transport=httpx.MockTransport(handler))
    got = await client.words("demo-nord", SINCE, UNTIL, 500)
    assert got is not None and got[0]["text"] == SECRET_WORDS
    request = seen[0]
    assert request.url.path == "/v1/voice" and request.headers["authorization"] == "Bearer token-" + "x" * 20
    assert dict(request.url.params) == {
        "since": SINCE.isoformat(),
        "until": UNTIL.isoformat(),
        "limit": "500",
        "office": "demo-nord",
    }
    assert await client.words(None, SINCE, UNTIL, 5) is not None
    assert "office" not in seen[1].url.params


def test_the_settings_turn_the_words_on_for_the_service_and_canopee_report() -> None:
    assert words_source(load_settings(ReportSettings)) is None  # no URL: the feature is off
    on = words_source(
        load_settings(ReportSettings, feedback_url="http://feedback:8003", feedback_token="read-" + "k" * 20)
    )
    assert on is not None and on.base_url == "http://feedback:8003" and on.timeout_seconds == 5.0
    with pytest.raises(ConfigError, match="CANOPEE_ANALYTICS_FEEDBACK_TOKEN: required"):
        load_settings(ReportSettings, feedback_url="http://feedback:8003")
    with pytest.raises(ConfigError, match="CANOPEE_ANALYTICS_FEEDBACK_URL"):
        load_settings(ReportSettings, feedback_url="feedback:8003", feedback_token="read-" + "k" * 20)

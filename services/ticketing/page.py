"""The tenant's tracker page: server-rendered French HTML, mobile first, no JavaScript.

Accessibility: ``lang="fr"``, one ``h1`` then ``h2`` sections, the timeline as an ordered list
with ``<time>`` elements, the office's phone as a ``tel:`` link, large text, contrast above WCAG
AA, a visible focus ring. Nothing personal is printed (see ``domain/tracker.py``).
"""

from __future__ import annotations

from html import escape

from services.ticketing.domain.tracker import TrackerPage

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:18px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#f6f7f5}main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;color:#14532d;margin:.5rem 0 .25rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.ref{color:#374151;margin:0 0 1rem}.status{background:#fff;border:2px solid #14532d;border-radius:.5rem;
padding:.75rem}.status strong{display:block;font-size:1.25rem;color:#14532d}
ol{list-style:none;padding:0;margin:0;border-left:3px solid #14532d}li{padding:0 0 .75rem .75rem}
li time{display:block;font-size:.9rem;color:#374151}.box{background:#fff;border-radius:.5rem;padding:.75rem;
border:1px solid #6b7280}a{color:#14532d;font-weight:700}a.call{display:block;text-align:center;
min-height:3rem;line-height:3rem;background:#14532d;color:#fff;border-radius:.5rem;text-decoration:none}
:focus-visible{outline:3px solid #b45309;outline-offset:2px}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)} – Canopée</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def tracker_html(page: TrackerPage) -> str:
    """The page of one request."""
    steps = "".join(f"<li><time>{escape(s.day)}, {escape(s.clock)}</time>{escape(s.words)}</li>" for s in page.timeline)
    parts = [
        "<h1>Suivi de votre demande</h1>",
        f'<p class="ref">{escape(page.category)} · référence {escape(page.request_id)}</p>',
        '<section aria-labelledby="etat"><h2 id="etat">Où en est votre demande ?</h2>',
        f'<div class="status" id="status"><strong>{escape(page.status)}</strong>{escape(page.explanation)}</div>',
        "</section>",
        '<section aria-labelledby="rdv"><h2 id="rdv">Prochain rendez-vous</h2>',
        f'<p class="box" id="appointment">{escape(page.next_appointment)}</p>'
        if page.next_appointment
        else '<p class="box" id="appointment">Aucun rendez-vous prévu pour le moment.</p>',
        "</section>",
        f'<section aria-labelledby="etapes"><h2 id="etapes">Les étapes</h2><ol id="timeline">{steps}</ol></section>',
        f'<section aria-labelledby="contact"><h2 id="contact">Nous joindre</h2><div class="box">'
        f"<p>{escape(page.office_name)}</p>",
    ]
    if page.office_phone:
        tel = "".join(c for c in page.office_phone if c.isdigit() or c == "+")
        parts.append(f'<p><a class="call" href="tel:{escape(tel)}">Appeler le {escape(page.office_phone)}</a></p>')
    if page.office_hours:
        parts.append(f"<p>Horaires : {escape(page.office_hours)}</p>")
    parts.append("</div></section>")
    if page.tutorial_url:
        parts.append(
            '<section aria-labelledby="tuto"><h2 id="tuto">Un conseil en vidéo</h2>'
            f'<p><a href="{escape(page.tutorial_url)}" rel="noopener noreferrer">Voir le tutoriel de votre '
            "agence pour ce type de demande</a></p></section>"
        )
    return _page("Suivi de votre demande", "".join(parts))


def not_found_html() -> str:
    """One page for a link that never existed, was revoked or expired: they are not told apart."""
    return _page(
        "Lien non valable",
        "<h1>Ce lien de suivi n'est pas valable</h1><p>Ce lien est inconnu ou a expiré. "
        "Pour savoir où en est votre demande, contactez votre agence.</p>",
    )

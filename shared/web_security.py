"""Security headers of the public pages tenants open from a link (survey pages, request tracker):
no script at all, nothing framed, no referrer leaving the page (the link's token is in its URL),
nothing cached. A service answers such a page with ``public_page(html, status)``, or sets
``PUBLIC_PAGE_HEADERS`` on its responses; ``missing_headers`` is what tests check every page with.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import HTMLResponse

#: inline styles are allowed (the pages are self-contained); scripts are not, from anywhere
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

PUBLIC_PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), interest-cohort=()",
    "Strict-Transport-Security": "max-age=31536000",
    "Cache-Control": "no-store",
}


def public_page(body: str, status: int = 200) -> HTMLResponse:
    """An HTML page for tenants, with the strict headers."""
    return HTMLResponse(body, status_code=status, headers=dict(PUBLIC_PAGE_HEADERS))


def missing_headers(headers: Mapping[str, str]) -> list[str]:
    """What a public page's response lacks or weakens (empty: strict enough)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    problems = [name for name, value in PUBLIC_PAGE_HEADERS.items() if lowered.get(name.lower()) != value]
    csp = lowered.get("content-security-policy", "")
    if "'unsafe-inline'" in csp.split("script-src", 1)[-1].split(";", 1)[0] or "script-src 'none'" not in csp:
        problems.append("Content-Security-Policy: script-src must be 'none'")
    return problems

"""Security headers on every response, and no caching of anything private."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_login import current_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)

# The kiosk device's cookie (portal/kiosk/routes.py), named here to keep imports one-way.
KIOSK_COOKIE = "kiosk_device"

# Set on every response unless the view set its own: built once, not per request.
_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

# Pages whose forms hold a phone number and password (and a CSRF token bound to a session).
_NEVER_CACHED = {"auth.login", "auth.register"}


def _private(response: Response) -> bool:
    """A member's pages and fragments must not stay in a shared computer's cache (or a proxy's)
    for the next person to see with Back; static assets keep their caching."""
    if request.endpoint == "static":
        return False
    # The hallway kiosk is the most shared screen of all: nothing of one person may be
    # found in its cache by the next.
    kiosk = (request.endpoint or "").startswith("kiosk") or KIOSK_COOKIE in request.cookies
    return request.endpoint in _NEVER_CACHED or kiosk or bool(current_user.is_authenticated)


def init_app(app: Flask) -> None:
    with_hsts = (*_HEADERS, _HSTS)

    @app.after_request
    def _headers(response: Response) -> Response:
        # What `headers.setdefault` did for each, with one pass over the headers (a missing
        # key in Werkzeug's Headers raises and builds an HTTP exception to say so).
        headers = response.headers
        present = {key.lower() for key, _value in headers.items()}
        for key, value in with_hsts if app.config.get("PRODUCTION") else _HEADERS:
            if key.lower() not in present:
                headers.add(key, value)
        if _private(response):
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        return response

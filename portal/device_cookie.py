"""Device cookies (OWASP "Slow down online guessing attacks with device cookies").

After a successful login the browser gets a signed cookie naming the account (its normalised
phone) and a random nonce. Login attempts for that account from that browser are limited per
cookie, so a stranger guessing at an elder's number — even from the same address, behind the
same proxy — only locks out unknown browsers, never the elder's own phone. A forged, unsigned or
other account's cookie counts as unknown.
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "portal_device"
MAX_AGE = 400 * 86400  # the longest lifetime browsers accept (Chrome caps at 400 days)
MAX_ACCOUNTS = 5  # a family phone shared by a few people
_SALT = "device-cookie"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _entries() -> dict[str, str]:
    """phone → nonce for the accounts this browser has logged in to; {} if absent or forged."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return {}
    if not isinstance(data, list):
        return {}
    return {
        str(pair[0]): str(pair[1]) for pair in data if isinstance(pair, list) and len(pair) == 2
    }


def nonce_for(phone: str) -> str | None:
    """The nonce of this browser's valid device cookie for `phone`, or None (unknown browser)."""
    return _entries().get(phone) if phone else None


def remember(response: Response, phone: str) -> None:
    """After a successful login: this browser is now known for `phone` (a fresh nonce, so a
    cookie that was locked out by failures starts anew)."""
    entries = _entries()
    entries.pop(phone, None)
    entries[phone] = secrets.token_urlsafe(16)
    kept = list(entries.items())[-MAX_ACCOUNTS:]
    response.set_cookie(
        COOKIE,
        _serializer().dumps([list(pair) for pair in kept]),
        max_age=MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("DEVICE_COOKIE_SECURE")),
    )

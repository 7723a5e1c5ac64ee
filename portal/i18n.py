"""Language choice: the member's saved language, else the session's, else Chinese."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.extensions import babel

CATEGORY_LABELS = {
    "poverty_relief": _l("Poverty relief"),
    "psychological": _l("Psychological support"),
    "emergency": _l("Emergency rescue"),
    "sanitation": _l("Sanitation"),
    "patrol": _l("Security patrol"),
    "elder_care": _l("Elder care"),
}

STATUS_LABELS = {
    "pending": _l("Pending"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
}

ENTRY_KIND_LABELS = {
    "hours": _l("Service approved"),
    "redeem_hold": _l("Hours reserved for a request"),
    "redeem_settle": _l("Request paid"),
    "redeem_release": _l("Reserved hours returned"),
    "gift": _l("Family gift"),
    "reversal": _l("Correction"),
}


def select_locale() -> str:
    """Chinese unless the member (or this browser's session) chose another language."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)

"""What every template can use: the top bar's member data, formatting, labels."""

from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask_babel import format_decimal, get_locale
from flask_login import current_user

from portal import i18n
from portal.services import idempotency


def hours(minutes: int | None) -> str:
    """Integer minutes shown as hours with one decimal (90 → 1.5)."""
    minutes = minutes or 0
    # Round half away from zero on tenths of an hour, from integers only.
    tenths, rest = divmod(abs(minutes) * 10, 60)
    if rest * 2 >= 60:
        tenths += 1
    sign = "-" if minutes < 0 else ""
    return f"{sign}{tenths // 10}.{tenths % 10}"


def elder_mode() -> bool:
    if current_user and current_user.is_authenticated:
        return bool(current_user.elder_mode)
    return bool(session.get("elder_mode"))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["hours"] = hours
    app.jinja_env.filters["number"] = lambda n: format_decimal(n)
    app.jinja_env.globals["once_key"] = idempotency.new_key

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from portal.services import ledger

        locale = str(get_locale() or "zh_CN")
        from portal.services import notifications, teams

        balance = None
        unread = 0
        coordinates = False
        if current_user and current_user.is_authenticated:
            balance = ledger.balance_of(current_user)
            unread = notifications.unread_count(current_user)
            coordinates = bool(teams.coordinated_team_ids(current_user))
        return {
            "locale": locale,
            "html_lang": "zh-CN" if locale.startswith("zh") else "en",
            "elder_mode": elder_mode(),
            "top_balance": balance,
            "unread_count": unread,
            "coordinates_a_team": coordinates,
            "category_labels": i18n.CATEGORY_LABELS,
            "status_labels": i18n.STATUS_LABELS,
            "entry_kind_labels": i18n.ENTRY_KIND_LABELS,
            "request_status_labels": i18n.REQUEST_STATUS_LABELS,
            "request_event_labels": i18n.REQUEST_EVENT_LABELS,
            "review_reason_labels": i18n.REVIEW_REASON_LABELS,
            "hour_log_action_labels": i18n.HOUR_LOG_ACTION_LABELS,
        }

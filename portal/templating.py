"""What every template can use: the top bar's member data, formatting, labels."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, session
from flask_babel import format_decimal, get_locale, gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from portal import i18n
from portal.extensions import db
from portal.services import idempotency


def duration(minutes: int | None, signed: bool = False) -> str:
    """Minutes as people say them: "1 小时 30 分", "45 分钟", "2 小时" — never a rounded
    decimal, which turned 45 minutes into "0.8"."""
    minutes = minutes or 0
    sign = "-" if minutes < 0 else ("+" if signed and minutes > 0 else "")
    whole, rest = divmod(abs(minutes), 60)
    if whole and rest:
        text = gettext("%(h)s h %(m)s min", h=format_decimal(whole), m=rest)
    elif whole:
        text = gettext("%(h)s h", h=format_decimal(whole))
    else:
        text = gettext("%(m)s min", m=rest)
    return sign + text


def duration_cells(minutes: int | None, signed: bool = False) -> Markup:
    """`duration` for narrow table cells: "1 小时" and "30 分" may go on two lines, but
    never break inside themselves."""
    parts = re.split(r" (?=\d)", duration(minutes, signed))
    return Markup(" ").join(Markup('<span class="nowrap">%s</span>') % part for part in parts)


def elder_mode() -> bool:
    if current_user and current_user.is_authenticated:
        return bool(current_user.elder_mode)
    return bool(session.get("elder_mode"))


def init_app(app: Flask) -> None:
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["duration_cells"] = duration_cells
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
        grid_role = False
        if current_user and current_user.is_authenticated:
            from portal.models import GridAppointment

            grid_role = (
                db.session.scalar(
                    select(GridAppointment.id)
                    .where(GridAppointment.member_id == current_user.id)
                    .limit(1)
                )
                is not None
            )
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
            "grid_role": grid_role,
            "care_category_labels": i18n.CARE_CATEGORY_LABELS,
            "distance_labels": i18n.DISTANCE_LABELS,
            "team_kind_labels": i18n.TEAM_KIND_LABELS,
            "category_labels": i18n.CATEGORY_LABELS,
            "status_labels": i18n.STATUS_LABELS,
            "entry_kind_labels": i18n.ENTRY_KIND_LABELS,
            "request_status_labels": i18n.REQUEST_STATUS_LABELS,
            "request_event_labels": i18n.REQUEST_EVENT_LABELS,
            "review_reason_labels": i18n.REVIEW_REASON_LABELS,
            "hour_log_action_labels": i18n.HOUR_LOG_ACTION_LABELS,
        }

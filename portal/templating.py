"""What every template can use: the top bar's member data, formatting, labels."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from flask import Flask, has_request_context, session
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from portal import i18n
from portal.i18n import format_decimal, gettext
from portal.services import idempotency

# (locale and catalogue, minutes, signed) → the words: the same few durations fill every
# list, and each cost a gettext and a Babel number format (~40 µs) per cell.
_DURATIONS: dict[tuple[Any, int, bool], str] = {}
_MAX_DURATIONS = 20_000


def duration(minutes: int | None, signed: bool = False) -> str:
    """Minutes as people say them: "1 小时 30 分", "45 分钟", "2 小时" — never a rounded
    decimal, which turned 45 minutes into "0.8"."""
    minutes = minutes or 0
    if not has_request_context():
        return _duration(minutes, signed)
    key = (i18n.current(), minutes, signed)
    text = _DURATIONS.get(key)
    if text is None:
        if len(_DURATIONS) > _MAX_DURATIONS:
            _DURATIONS.clear()
        text = _DURATIONS[key] = _duration(minutes, signed)
    return text


def _duration(minutes: int, signed: bool) -> str:
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


class TopBar:
    """The logged-in member's top-bar figures (balance, unread messages, coordinates a team),
    read in one statement the first time a page shows one of them: an htmx fragment, which
    shows none, reads nothing (it used to pay three statements for them)."""

    def __init__(
        self, member_id: int | None, figures: tuple[int, int, bool, bool, bool] | None = None
    ) -> None:
        self._member_id = member_id
        if figures is not None:  # read already, with the page's own figures
            self.__dict__["_figures"] = figures

    @cached_property
    def _figures(self) -> tuple[int, int, bool, bool, bool]:
        if self._member_id is None:
            return 0, 0, False, False, False
        from portal.services import members

        balance, unread, coordinates, called, grid_role = members.top_bar_figures(
            self._member_id
        )
        return balance, unread, coordinates, called, grid_role

    @property
    def balance(self) -> int:
        return self._figures[0]

    @property
    def unread(self) -> int:
        return self._figures[1]

    @property
    def coordinates(self) -> bool:
        return self._figures[2]

    @property
    def grid_role(self) -> bool:
        """A grid worker or building head (the Grids link)."""
        return self._figures[4]

    @cached_property
    def calls(self) -> list[Any]:
        """Call-ups this member was called to that still want an answer: the banner on every
        page and the count in the top bar (one statement, only on whole pages)."""
        if self._member_id is None or not self._figures[3]:
            return []
        from portal.services import callups

        return callups.calls_for_id(self._member_id)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["duration_cells"] = duration_cells
    app.jinja_env.filters["number"] = lambda n: format_decimal(n)
    app.jinja_env.filters["datetimeformat"] = i18n.format_datetime
    app.jinja_env.globals["once_key"] = idempotency.new_key

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = str(get_locale() or "zh_CN")
        return {
            "locale": locale,
            "html_lang": "zh-CN" if locale.startswith("zh") else "en",
            "elder_mode": elder_mode(),
            "top": TopBar(current_user.id if current_user.is_authenticated else None),
            "care_category_labels": i18n.CARE_CATEGORY_LABELS,
            "distance_labels": i18n.DISTANCE_LABELS,
            "team_kind_labels": i18n.TEAM_KIND_LABELS,
            "category_labels": i18n.CATEGORY_LABELS,
            "age_band_labels": i18n.AGE_BAND_LABELS,
            "status_labels": i18n.STATUS_LABELS,
            "entry_kind_labels": i18n.ENTRY_KIND_LABELS,
            "request_status_labels": i18n.REQUEST_STATUS_LABELS,
            "request_event_labels": i18n.REQUEST_EVENT_LABELS,
            "review_reason_labels": i18n.REVIEW_REASON_LABELS,
            "hour_log_action_labels": i18n.HOUR_LOG_ACTION_LABELS,
            "callup_action_labels": i18n.CALLUP_ACTION_LABELS,
            "callup_answer_labels": i18n.CALLUP_ANSWER_LABELS,
            "callup_status_labels": i18n.CALLUP_STATUS_LABELS,
        }

"""What every template can use: the top bar's member data, formatting, labels."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from flask import Flask, session, url_for
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from portal import i18n
from portal.i18n import format_decimal, gettext
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


# An id no row will have: `row_url` builds the URL once with it and puts each row's id in
# its place.
_ROW_MARK = 9_187_201_950_435_737_471


def row_url(endpoint: str, key: str, **values: Any) -> Callable[[int], str]:
    """`url_for` for the rows of a list: `row_url('grids.visit', 'household_id',
    grid_id=1)(7)` is `url_for('grids.visit', grid_id=1, household_id=7)`, but the URL is
    built once per list, not once per row (werkzeug takes ~40 µs a build; a 50-row page
    built 50 of them). Only for integer ids."""
    url = url_for(endpoint, **values, **{key: _ROW_MARK})
    head, mark, tail = url.partition(str(_ROW_MARK))
    if not mark or str(_ROW_MARK) in tail:
        return lambda row_id: url_for(endpoint, **values, **{key: row_id})
    return lambda row_id: f"{head}{int(row_id)}{tail}"


def translated(labels: Mapping[str, Any]) -> dict[str, str]:
    """A dict of lazy labels, translated once: a lazy string translates again each time a
    row shows it."""
    return {key: str(label) for key, label in labels.items()}


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

        balance, unread, coordinates, called, grid_role = members.top_bar_figures(self._member_id)
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
    app.jinja_env.filters["translated"] = translated
    app.jinja_env.globals["once_key"] = idempotency.new_key
    app.jinja_env.globals["row_url"] = row_url

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

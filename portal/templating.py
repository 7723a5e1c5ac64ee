"""What every template can use: the top bar's member data, formatting, labels."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from flask import Flask, g, has_request_context, request, session, url_for
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from portal import i18n
from portal.i18n import format_decimal, gettext
from portal.inputs import MAX_ID
from portal.memo import Memo
from portal.services import idempotency

# (locale and catalogue, minutes, signed) → the words: the same few durations fill every
# list, and each cost a gettext and a Babel number format (~40 µs) per cell.
_DURATIONS: Memo[tuple[Any, int, bool], str] = Memo(20_000)


def duration(minutes: int | None, signed: bool = False) -> str:
    """Minutes as people say them: "1 小时 30 分", "45 分钟", "2 小时" — never a rounded
    decimal, which turned 45 minutes into "0.8"."""
    minutes = minutes or 0
    if not has_request_context():
        return _duration(minutes, signed)
    key = (i18n.current(), minutes, signed)
    text = _DURATIONS.get(key)
    if text is None:
        text = _DURATIONS.keep(key, _duration(minutes, signed))
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


# Like _DURATIONS, the cells' markup: a city's report has ~850 cells of few distinct values,
# and splitting and escaping each cost more than the query behind it.
_CELLS: Memo[tuple[Any, int, bool], Markup] = Memo(20_000)
_SPACE_BEFORE_DIGIT = re.compile(r" (?=\d)")


def duration_cells(minutes: int | None, signed: bool = False) -> Markup:
    """`duration` for narrow table cells: "1 小时" and "30 分" may go on two lines, but
    never break inside themselves."""
    minutes = minutes or 0
    key = (i18n.current() if has_request_context() else None, minutes, signed)
    cell = _CELLS.get(key) if key[0] is not None else None
    if cell is None:
        parts = _SPACE_BEFORE_DIGIT.split(duration(minutes, signed))
        cell = Markup(" ").join(Markup('<span class="nowrap">%s</span>') % part for part in parts)
        if key[0] is not None:
            _CELLS.keep(key, cell)
    return cell


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


# The label tables every template may use, by the name templates know them by.
_LABEL_TABLES = {
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
# catalogue → the tables translated into it: a lazy label went through Flask-Babel's
# gettext (locale, domain and catalogue found again) every time a row showed it.
_TRANSLATED_LABELS: dict[Any, dict[str, dict[str, str]]] = {}


def _labels() -> dict[str, dict[str, str]]:
    translations = i18n.catalogue()
    tables = _TRANSLATED_LABELS.get(translations)
    if tables is None:
        tables = _TRANSLATED_LABELS[translations] = {
            name: {key: str(label) for key, label in table.items()}
            for name, table in _LABEL_TABLES.items()
        }
    return tables


def labels(table: str) -> dict[str, str]:
    """One label table (by its template name, e.g. "entry_kind_labels") in this request's
    language, for code that builds a page's texts before rendering."""
    return _labels()[table]


def csrf_token() -> str:
    """Flask-WTF's `csrf_token()` for templates: the same token (Flask-WTF keeps one per
    request), found once: a roster or queue renders it in every row's forms, and each call
    looked up the config, the session and `g` again."""
    request_globals = g._get_current_object()
    token = request_globals.__dict__.get("_portal_csrf_token")
    if token is None:
        token = request_globals._portal_csrf_token = generate_csrf()
    return token  # type: ignore[no-any-return]


# (script root, endpoint, static file) → URL: the links of every page's menu and head (about
# 15 a page, each a routing-map build). Only URLs that depend on nothing per row are kept.
_PLAIN_URLS: dict[tuple[str, str, str | None], str] = {}


def template_url_for(endpoint: str, **values: Any) -> str:
    """Flask's `url_for` for templates, remembering the URLs of links without arguments (and
    of static files) per process."""
    plain = not values or (len(values) == 1 and endpoint == "static" and "filename" in values)
    if plain and has_request_context() and not endpoint.startswith("."):
        key = (request.script_root, endpoint, values.get("filename"))
        url = _PLAIN_URLS.get(key)
        if url is None:
            url = _PLAIN_URLS[key] = url_for(endpoint, **values)
        return url
    return url_for(endpoint, **values)


# A marker id no row has (the largest id the routes accept), replaced by each row's own.
_ROW_MARKER = str(MAX_ID)


# (script root, endpoint, key, other values) → the row URL's text before and after the id:
# a row block rendered on its own (an htmx fragment) asks for its URLs once per row, so the
# routing-map build is kept per process, not only per list.
_ROW_URLS: Memo[tuple[Any, ...], tuple[str, str]] = Memo(5_000)


def row_url(endpoint: str, key: str, **values: Any) -> Callable[[int], str]:
    """The URL of `endpoint` for each row of a list, built once: `row_url('hours.show',
    'log_id')(log.id)` gives what `url_for('hours.show', log_id=log.id)` gives, without a
    routing-map build per row (a roster of 100 built 300)."""
    cache_key: tuple[Any, ...] | None = None
    if has_request_context() and not endpoint.startswith("."):
        try:
            cache_key = (request.script_root, endpoint, key, *sorted(values.items()))
            hash(cache_key)
        except TypeError:
            cache_key = None
    parts = _ROW_URLS.get(cache_key) if cache_key is not None else None
    if parts is None:
        template = url_for(endpoint, **{key: MAX_ID}, **values)
        head, marker, tail = template.partition(_ROW_MARKER)
        if not marker or _ROW_MARKER in tail:  # not a plain path segment: build each one
            return lambda row_id: url_for(endpoint, **{key: row_id}, **values)
        parts = (head, tail)
        if cache_key is not None:
            _ROW_URLS.keep(cache_key, parts)
    head, tail = parts
    return lambda row_id: f"{head}{int(row_id)}{tail}"


# (script root, locale, the fragment's name and what it depends on) → its text.
_FRAGMENTS: Memo[tuple[Any, ...], Markup] = Memo(2_000)


def fragment(*key: Any, caller: Callable[[], str]) -> Markup:
    """`{% call fragment("name", what it depends on…) %}…{% endcall %}`: the block rendered
    once per process for each locale and key, then reused. For the parts of every page
    (menu, head, footer) that depend only on the language and a few flags: each `_()` or
    `url_for` costs a few µs, and base.html has ~40 of them. The key must name everything
    the block shows besides the locale: never put a token, a name or a count inside."""
    if not has_request_context():
        return Markup(caller())
    full_key = (request.script_root, str(i18n.current()[0]), *key)
    text = _FRAGMENTS.get(full_key)
    if text is None:
        text = _FRAGMENTS.keep(full_key, Markup(caller()))
    return text


def translated(labels: Mapping[str, Any]) -> dict[str, str]:
    """A dict of lazy labels, translated once: a lazy string translates again each time a
    row shows it."""
    return {key: str(label) for key, label in labels.items()}


def init_app(app: Flask) -> None:
    app.jinja_env.globals["url_for"] = template_url_for
    app.jinja_env.globals["row_url"] = row_url
    app.jinja_env.globals["fragment"] = fragment
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["duration_cells"] = duration_cells
    app.jinja_env.filters["number"] = lambda n: format_decimal(n)
    app.jinja_env.filters["datetimeformat"] = i18n.format_datetime
    app.jinja_env.filters["timedeltaformat"] = i18n.format_timedelta
    app.jinja_env.filters["translated"] = translated
    app.jinja_env.globals["once_key"] = idempotency.new_key

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = str(get_locale() or "zh_CN")
        return {
            "locale": locale,
            "html_lang": "zh-CN" if locale.startswith("zh") else "en",
            "elder_mode": elder_mode(),
            "top": TopBar(current_user.id if current_user.is_authenticated else None),
            # Over Flask-WTF's context processor, which offers its own `generate_csrf`.
            "csrf_token": csrf_token,
            **_labels(),
        }

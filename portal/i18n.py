"""Language choice: the member's saved language, else the session's, else Chinese."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import flask_babel
from babel import Locale, dates, numbers
from flask import Flask, current_app, g, has_request_context, session
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

from portal.extensions import babel
from portal.memo import Memo

CATEGORY_LABELS = {
    "poverty_relief": _l("Poverty relief"),
    "psychological": _l("Psychological support"),
    "emergency": _l("Emergency rescue"),
    "sanitation": _l("Sanitation"),
    "patrol": _l("Security patrol"),
    "elder_care": _l("Elder care"),
}

AGE_BAND_LABELS = {
    "under_60": _l("Under 60"),
    "60_69": _l("60–69"),
    "70_79": _l("70–79"),
    "80_plus": _l("80 and over"),
}

CARE_CATEGORY_LABELS = {
    "alone": _l("Living alone"),
    "over_80": _l("80 or older"),
    "disabled": _l("Disabled"),
    "low_income": _l("Low income"),
}

DISTANCE_LABELS = {
    "micro": _l("Same micro-grid"),
    "grid": _l("Same grid"),
    "elsewhere": _l("Elsewhere in the community"),
}

TEAM_KIND_LABELS = {
    "ordinary": _l("Ordinary team"),
    "vanguard": _l("Party members' vanguard post"),
    "shock": _l("Party members' shock team"),
}

STATUS_LABELS = {
    "pending": _l("Pending"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
    "reversed": _l("Corrected"),
}

# An hour log's history, from the audit log (the log's page).
HOUR_LOG_ACTION_LABELS = {
    "hour_log.approve": _l("Approved"),
    "hour_log.reject": _l("Rejected"),
    "hour_log.cancel": _l("Cancelled by the volunteer"),
    "hour_log.beneficiary_confirm": _l("Confirmed by the person served"),
    "hour_log.reverse": _l("Corrected (reversed)"),
    "hour_log.approve_callup": _l("Approved by the coordinator who closed the call-up"),
}

# A call-up's timeline, from the audit log (its board).
CALLUP_ACTION_LABELS = {
    "callup.create": _l("Call-up started"),
    "callup.call": _l("Group called"),
    "callup.escalate": _l("Too few said yes: next group called automatically"),
    "callup.answer": _l("Answered"),
    "callup.stand_down": _l("Enough: the rest stood down"),
    "callup.close": _l("Closed, hours credited"),
}

CALLUP_STATUS_LABELS = {
    "open": _l("Calling"),
    "stood_down": _l("Enough people: the rest stood down"),
    "closed": _l("Closed"),
}

CALLUP_ANSWER_LABELS = {
    "none": _l("Not answered"),
    "coming": _l("Coming"),
    "late": _l("Coming late"),
    "cannot": _l("Cannot come"),
}

REQUEST_STATUS_LABELS = {
    "awaiting_consent": _l("Waiting for the resident's consent"),
    "open": _l("Waiting for a volunteer"),
    "dispatched": _l("Given to a volunteer"),
    "accepted": _l("Volunteer on the way"),
    "done": _l("Done, please confirm"),
    "confirmed": _l("Confirmed"),
    "cancelled": _l("Cancelled"),
}

REQUEST_EVENT_LABELS = {
    "posted": _l("Posted"),
    "dispatched": _l("Dispatched"),
    "taken": _l("Taken by a volunteer"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined by the volunteer"),
    "done": _l("Marked done"),
    "confirmed": _l("Confirmed and rated"),
    "cancelled": _l("Cancelled"),
    "consented": _l("The resident agreed to pay with banked hours"),
    "consent_declined": _l("The resident did not agree to pay with banked hours"),
    "routed": _l("Given to a team"),
    "opened": _l("Opened to the whole community"),
    "escalated": _l("Escalated"),
    "followup_opened": _l("Follow-up opened for the grid worker"),
    "followup_closed": _l("Follow-up outcome recorded"),
    "pool_asked": _l("The public-welfare pool was asked to pay"),
    "pool_approved": _l("A coordinator approved: the public-welfare pool pays"),
}

REVIEW_REASON_LABELS = {
    "unverified_resident": _l(
        "Confirmed by a resident nobody has verified in person yet: please check"
    ),
    "over_estimate": _l("Much longer than estimated: please check"),
    # Kiosk check-ins (issue 10).
    "forgotten_checkout": _l("Forgot to check out at the kiosk: the scheduled end was counted"),
    "late_sync": _l("Sent by an offline kiosk more than 12 hours late: please check"),
    "printed_code": _l("Checked in with a printed place code, no kiosk saw it: please check"),
}

ENTRY_KIND_LABELS = {
    "hours": _l("Service approved"),
    "redeem_hold": _l("Hours reserved for a request"),
    "redeem_settle": _l("Request paid"),
    "redeem_release": _l("Reserved hours returned"),
    "gift": _l("Family gift"),
    "reversal": _l("Correction"),
}


# A notification's text by its kind, from its stored parameters: only the one shown is built
# (a list of 20 built all 30 lazy strings for each row).
_NOTIFICATION_TEXTS: dict[str, Callable[[dict], Any]] = {
    "join_accepted": lambda params: _l(
        "You have joined the team %(team)s.", team=params.get("team", "")
    ),
    "join_requested": lambda params: _l(
        "%(name)s asks to join %(team)s. Please accept or decline.",
        name=params.get("name", ""),
        team=params.get("team", ""),
    ),
    "join_declined": lambda params: _l(
        "Your request to join %(team)s was declined.", team=params.get("team", "")
    ),
    "log_approved": lambda params: _l(
        "Your %(minutes)s minutes on %(date)s were approved.",
        minutes=params.get("minutes", ""),
        date=params.get("date", ""),
    ),
    "log_rejected": lambda params: _l(
        "Your %(minutes)s minutes on %(date)s were not approved: %(reason)s",
        minutes=params.get("minutes", ""),
        date=params.get("date", ""),
        reason=params.get("reason", ""),
    ),
    "activity_changed": lambda params: _l(
        "The activity %(title)s has changed. Please check the time and place.",
        title=params.get("title", ""),
    ),
    "activity_cancelled": lambda params: _l(
        "The activity %(title)s was cancelled.", title=params.get("title", "")
    ),
    "coordinator_appointed": lambda params: _l(
        "You are now a coordinator of %(team)s.", team=params.get("team", "")
    ),
    "request_dispatched": lambda params: _l(
        "A request was given to you: %(service)s. Please accept or decline.",
        service=params.get("service", ""),
    ),
    "request_for_grid": lambda params: _l(
        "A new request in %(grid)s: %(service)s. Please dispatch it.",
        grid=params.get("grid", ""),
        service=params.get("service", ""),
    ),
    "request_routed": lambda params: _l(
        "A request was given to your team %(team)s: %(service)s.",
        team=params.get("team", ""),
        service=params.get("service", ""),
    ),
    "request_escalated": lambda params: _l(
        "A request nobody has taken was escalated to you: %(service)s.",
        service=params.get("service", ""),
    ),
    "request_followup": lambda params: _l(
        "A resident was not satisfied with %(service)s: please follow up and record the outcome.",
        service=params.get("service", ""),
    ),
    "request_accepted": lambda params: _l(
        "Volunteer %(name)s will help you.", name=params.get("name", "")
    ),
    "request_done": lambda params: _l(
        "%(service)s is done. Please confirm and rate it.", service=params.get("service", "")
    ),
    "request_confirmed": lambda params: _l(
        "Your service was confirmed: %(minutes)s minutes, %(rating)s stars. Thank you!",
        minutes=params.get("minutes", ""),
        rating=params.get("rating", ""),
    ),
    "request_consent": lambda params: _l(
        "%(name)s asked for %(service)s for you, paid with %(minutes)s minutes of your "
        "banked hours. Please agree or decline.",
        name=params.get("name", ""),
        service=params.get("service", ""),
        minutes=params.get("minutes", ""),
    ),
    "request_pool_asked": lambda params: _l(
        "%(service)s: the public-welfare pool is asked to pay. Please approve it or "
        "leave it to the community.",
        service=params.get("service", ""),
    ),
    "request_confirmed_review": lambda params: _l(
        "Your service was confirmed (%(minutes)s minutes, %(rating)s stars). A coordinator "
        "will approve the hours soon.",
        minutes=params.get("minutes", ""),
        rating=params.get("rating", ""),
    ),
    "request_cancelled": lambda params: _l(
        "The request %(service)s was cancelled.", service=params.get("service", "")
    ),
    "family_proposed": lambda params: _l(
        "%(name)s asks to link with you as family.", name=params.get("name", "")
    ),
    "gift_received": lambda params: _l(
        "%(name)s gave you %(minutes)s minutes.",
        name=params.get("name", ""),
        minutes=params.get("minutes", ""),
    ),
    "log_reversed": lambda params: _l(
        "Your %(minutes)s minutes on %(date)s were corrected by %(name)s and taken off "
        "your balance. Reason: %(reason)s",
        minutes=params.get("minutes", ""),
        date=params.get("date", ""),
        name=params.get("name", ""),
        reason=params.get("reason", ""),
    ),
    "log_corrected": lambda params: _l(
        "Your %(minutes)s minutes on %(date)s were corrected by %(name)s to %(new_minutes)s "
        "minutes. Reason: %(reason)s",
        minutes=params.get("minutes", ""),
        new_minutes=params.get("new_minutes", ""),
        date=params.get("date", ""),
        name=params.get("name", ""),
        reason=params.get("reason", ""),
    ),
    "callup_called": lambda params: _l(
        "Call-up: %(what)s at %(place)s by %(time)s. Please answer: coming, late or cannot.",
        what=params.get("what", ""),
        place=params.get("place", ""),
        time=params.get("time", ""),
    ),
    "callup_stood_down": lambda params: _l(
        "Call-up %(what)s: enough people are coming, you are not needed this time. Thank you!",
        what=params.get("what", ""),
    ),
    "service_to_confirm": lambda params: _l(
        "%(name)s logged %(minutes)s minutes of service to you on %(date)s. Please confirm.",
        name=params.get("name", ""),
        minutes=params.get("minutes", ""),
        date=params.get("date", ""),
    ),
}


def notification_text(kind: str, params: dict) -> str:
    """A notification in the reader's language, from its kind and stored parameters."""
    text = _NOTIFICATION_TEXTS.get(kind)
    return kind if text is None else str(text(params))


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


# WTForms' own messages ("This field is required." …) in the request's locale. Flask-WTF
# reads its .mo file from disk again on every request that builds a form (~0.6 ms: the
# login, kiosk and every one-button page); the catalogue never changes while the process
# runs, so it is loaded once per locale. Same catalogue, same messages.
_WTFORMS_CATALOGUES: dict[str, Any] = {}


def _wtforms_translations() -> Any:
    from babel import support
    from wtforms.i18n import messages_path

    if not has_request_context() or "babel" not in current_app.extensions:
        return None
    # Asked once per field of every form built: the locale found once per request.
    locale = _current()[0]
    key = str(locale)
    translations = _WTFORMS_CATALOGUES.get(key)
    if translations is None:
        translations = _WTFORMS_CATALOGUES[key] = support.Translations.load(
            messages_path(), [locale], domain="wtforms"
        )
    return translations


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    import flask_wtf.i18n

    flask_wtf.i18n._get_translations = _wtforms_translations

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: catalogue().ugettext(s),
        ngettext=lambda s, p, n: catalogue().ungettext(s, p, n),
        pgettext=lambda c, s: catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalogue().unpgettext(c, s, p, n),
        newstyle=True,
    )
    # `_()` and `gettext()` in templates: the same newstyle behaviour (translated, escaped
    # as Markup, always %-formatted with the keyword arguments), without Jinja's two
    # `context.call`s and `resolve` per call, and with each translated string made into
    # Markup once per process (a page calls `_()` 20–200 times).
    app.jinja_env.globals["gettext"] = template_gettext
    app.jinja_env.globals["_"] = template_gettext


# (catalogue, message) → the translated text as Markup; and, for a message without
# variables, already %-formatted (so "%%" reads "%", as newstyle gettext does).
# Messages are the templates' literals; a bound all the same.
_MARKUP: Memo[tuple[Any, str], Markup] = Memo(20_000)
_FORMATTED: Memo[tuple[Any, str], Markup] = Memo(20_000)


@pass_eval_context
def template_gettext(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
    translations = catalogue()
    if not eval_ctx.autoescape:
        return translations.ugettext(string) % variables  # type: ignore[no-any-return]
    key = (translations, string)
    if not variables:
        done = _FORMATTED.get(key)
        if done is None:
            done = _FORMATTED.keep(key, Markup(translations.ugettext(string)) % {})
        return done
    markup = _MARKUP.get(key)
    if markup is None:
        markup = _MARKUP.keep(key, Markup(translations.ugettext(string)))
    return markup % variables


# Flask-Babel finds the locale and the catalogue again on every call (g, its context object,
# the domain, the cache key: a dozen proxy look-ups); a statement page of 50 rows called
# `_get_current_context` ~980 times. Both are found once per request here, and found again
# only when the locale changes (`force_locale`), which Flask-Babel records on its context.
def _current() -> tuple[Locale, Any]:
    # One look-up through the `g` proxy, then plain dict reads (a statement page asks ~500
    # times).
    request_globals = g._get_current_object().__dict__
    cached = request_globals.get("_portal_catalogue")
    babel_context = request_globals.get("_flask_babel")
    if cached is not None and getattr(babel_context, "babel_locale", None) is cached[0]:
        return cached  # type: ignore[no-any-return]
    cached = request_globals["_portal_catalogue"] = (get_locale(), get_translations())
    return cached


def current() -> tuple[Locale, Any]:
    """This request's locale and translations, found once per request."""
    return _current()


def user_timezone() -> Any:
    """This request's timezone (Flask-Babel's, found once per request)."""
    tz = getattr(g, "_portal_timezone", None)
    if tz is None:
        tz = g._portal_timezone = flask_babel.get_timezone()
    return tz


# Babel patterns made of numbers only read the same in every language: strftime writes them
# (Babel parsed the pattern and looked up the locale and timezone anew for each cell).
_NUMERIC_PATTERNS = {"yyyy-MM-dd": "%Y-%m-%d", "yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M"}


def format_datetime(
    value: datetime | None = None, format: str | None = None, rebase: bool = True
) -> str:
    """Flask-Babel's `datetimeformat` filter: in the user's timezone (a naive time is UTC),
    the numeric patterns above without Babel."""
    pattern = _NUMERIC_PATTERNS.get(format or "")
    if pattern is None or value is None or not rebase or not has_request_context():
        return flask_babel.format_datetime(value, format, rebase)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(user_timezone()).strftime(pattern)


def catalogue() -> Any:
    """This request's translations (Flask-Babel's, found once per request)."""
    return _current()[1]


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext`, with the catalogue found once per request."""
    if not has_request_context():
        return flask_babel.gettext(string, **variables)
    text = catalogue().ugettext(string)
    return text % variables if variables else text


# (locale, type, number) → its text: Babel's format_decimal costs ~50 µs (pattern, rounding,
# grouping), and the landing page alone shows 66 figures, the same ones for minutes on end.
# Floats too (the report charts' hour labels, rounded to one place: ~50 a page, each
# 0.2-0.6 ms through Babel's Decimal rounding); the type keeps 1 and 1.0 apart.
_DECIMALS: Memo[tuple[Locale, type, float | int], str] = Memo(20_000)


def format_decimal(number: float | int) -> str:
    """Flask-Babel's `format_decimal`, with the locale found once per request (and whole
    numbers' texts kept per process)."""
    if not has_request_context():
        return flask_babel.format_decimal(number)
    locale = _current()[0]
    kind = type(number)
    if kind is not int and kind is not float:
        return numbers.format_decimal(number, locale=locale)
    key = (locale, kind, number)
    text = _DECIMALS.get(key)
    if text is None:
        text = _DECIMALS.keep(key, numbers.format_decimal(number, locale=locale))
    return text


# (locale, unit, amount) → the words: Babel's format_timedelta parses the locale and walks its
# patterns (~40 µs) for each row of a queue, which says "7 minutes" or "3 days" many times.
_TIMEDELTAS: Memo[tuple[Locale, str, int], str] = Memo(20_000)


def format_timedelta(
    datetime_or_timedelta: datetime | timedelta,
    granularity: str = "second",
    add_direction: bool = False,
    threshold: float = 0.85,
) -> str:
    """Flask-Babel's `format_timedelta` (the `timedeltaformat` filter), with a timedelta's
    words kept per process under the same unit and rounded amount Babel chooses."""
    if (
        not isinstance(datetime_or_timedelta, timedelta)
        or (granularity, add_direction, threshold) != ("second", False, 0.85)
        or not has_request_context()
    ):
        return flask_babel.format_timedelta(
            datetime_or_timedelta, granularity, add_direction, threshold
        )
    seconds = abs(datetime_or_timedelta.total_seconds())
    # Babel's choice (babel.dates.format_timedelta): the first unit reaching the threshold,
    # the amount rounded; the words depend on nothing else.
    for unit, seconds_per_unit in dates.TIMEDELTA_UNITS:
        value = seconds / seconds_per_unit
        if value >= threshold or unit == granularity:
            if unit == granularity and value > 0:
                value = max(1, value)
            break
    locale = _current()[0]
    key = (locale, unit, int(round(value)))
    text = _TIMEDELTAS.get(key)
    if text is None:
        text = _TIMEDELTAS.keep(
            key,
            dates.format_timedelta(
                datetime_or_timedelta, granularity, threshold=threshold, locale=locale
            ),
        )
    return text

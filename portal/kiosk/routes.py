"""The kiosk's screens. A kiosk browser holds a device token (a signed HttpOnly cookie set
by a one-time enrolment link) and never a member's login; between two taps, who was
identified rides in a signed value in the page that expires in 20 seconds.

start (scan a card, or number + PIN) → the member's activities here today → a big
confirmation → back to the start. Each screen is a whole page that works without
JavaScript; htmx swaps only the keypad; static/kiosk.js adds the visible countdown, the
keypad's digits on the screen and the offline queue (cards, and number + PIN checked here
on delivery).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from portal import clock
from portal.extensions import db, limiter
from portal.forms import EmptyForm
from portal.htmx import is_htmx, render
from portal.kiosk.forms import CardForm, CheckInForm, CheckOutForm, CorrectForm, KeypadForm
from portal.models import CheckIn, KioskDevice, Member
from portal.services import devices, kiosk, presence
from portal.services import teams as team_service
from portal.services.errors import DomainError

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")

COOKIE = "kiosk_device"
COOKIE_YEARS = 5
F = TypeVar("F", bound=Callable[..., Any])


def _cookie_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kiosk-device")


def device_from_cookie() -> KioskDevice | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        token = _cookie_signer().loads(raw)
    except BadSignature:
        return None
    return devices.device_by_token(str(token))


def device_required(view: F) -> F:
    """A kiosk screen: an enrolled, unrevoked device and no member logged in (403)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user.is_authenticated:
            abort(403)
        device = device_from_cookie()
        if device is None:
            abort(403)
        g.kiosk_device = device
        response = view(*args, **kwargs)
        try:
            db.session.commit()  # last contact, and counted PIN failures
        except OperationalError:
            # A GET runs in SQLite's read transaction; when another writer got in first
            # the last-contact note is skipped (the next tap records it), not a 500.
            db.session.rollback()
            if request.method != "GET":
                raise
        return response

    return wrapped  # type: ignore[return-value]


def _device_key() -> str:
    return request.cookies.get(COOKIE, "") or request.remote_addr or "unknown"


def _screen(
    template: str,
    status: int = 200,
    block: str | None = None,
    *,
    member: Member | None = None,
    **context: Any,
):
    """A kiosk screen. Once a member is identified, their screens follow their 长辈版
    setting (bigger text, 60 px controls); every other screen, the start above all, is the
    standard one, so the next person never inherits it."""
    context.setdefault("idle_seconds", current_app.config.get("KIOSK_IDLE_SECONDS", 20))
    context.setdefault("device", g.get("kiosk_device"))
    context["elder_mode"] = bool(member is not None and member.elder_mode)
    response = current_app.make_response((render(template, block, **context), status))
    # Nothing of one person may stay in the browser for the next (back button, cache).
    response.headers["Cache-Control"] = "no-store"
    return response


def _start(message: str | None = None, status: int = 200, kind: str = "info"):
    # The start screen itself never times out: reloading it would only lose a scan.
    return _screen(
        "kiosk/start.html",
        status,
        form=CardForm(formdata=None),
        keypad_form=KeypadForm(formdata=None),
        message=message,
        kind=kind,
        idle_seconds=0,
    )


# --- enrolment --------------------------------------------------------------------------


@bp.get("/enrol/<token>")
def enrol_page(token: str) -> Any:
    """A GET changes nothing (a link preview must not spend the link): one button."""
    return _screen("kiosk/enrol.html", form=EmptyForm(), token=token)


@bp.post("/enrol/<token>")
def enrol(token: str) -> Any:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        device, device_token = devices.enrol(token)
    except DomainError as error:
        db.session.rollback()
        return _screen("kiosk/enrol.html", 410, form=EmptyForm(), token=token, error=error.message)
    db.session.commit()
    if current_user.is_authenticated:
        logout_user()  # a kiosk never holds a member's login
    response = redirect(url_for("kiosk.start"), 303)
    response.set_cookie(
        COOKIE,
        _cookie_signer().dumps(device_token),
        max_age=COOKIE_YEARS * 365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("PRODUCTION")),
    )
    return response


# --- start and identification -------------------------------------------------------------


@bp.get("")
@device_required
def start() -> Any:
    return _start(request.args.get("message") and _(request.args["message"]))


def _member_screen(member: Member, message: str | None = None, status: int = 200):
    device: KioskDevice = g.kiosk_device
    who = kiosk.who_token(member, device)
    due = presence.correction_due(member)
    if due is not None:
        return _screen(
            "kiosk/correct.html",
            status,
            member=member,
            masked=member.masked_name,
            form=CorrectForm(formdata=None, who=who, key=uuid.uuid4().hex),
            visit=due,
            times=[
                (m, due.checked_out_at - timedelta(minutes=m)) for m in presence.EARLIER_CHOICES
            ],
        )
    # The member's teams, read once for both (they were read twice).
    member_teams = team_service.active_teams_of(member)
    choices, walk_ins = kiosk.choices_here(member, device.place, clock.now_local(), member_teams)
    teams, services = kiosk.walk_in_options(member, member_teams)
    walk_form = CheckInForm(formdata=None, who=who, key=uuid.uuid4().hex)
    walk_form.team.choices = [(t.id, t.name) for t in teams]
    walk_form.service.choices = [(s.id, s.display_name(_locale())) for s in services]
    return _screen(
        "kiosk/member.html",
        status,
        member=member,
        masked=member.masked_name,
        who=who,
        choices=choices,
        walk_ins=walk_ins,
        walk_form=walk_form,
        new_key=lambda: uuid.uuid4().hex,
        message=message,
        form=CheckInForm(formdata=None),
    )


def _locale() -> str:
    from flask_babel import get_locale

    return str(get_locale())


@bp.post("/card")
@device_required
def card() -> Any:
    form = CardForm()
    if not form.validate_on_submit():
        return _start(_("The card could not be read. Please scan it again."), 422, "error")
    member = kiosk.identify_by_card(g.kiosk_device, form.card.data or "")
    if member is None:
        return _start(_("This card is not valid here. Ask a coordinator."), 422, "error")
    return _member_screen(member)


KEYS = "1234567890"


# Wrong PIN tries are limited per device, typed on the keypad or kept by an offline kiosk
# (one budget for both, so the sync route is no way around it).
PIN_TRIES = "30/minute"


@bp.route("/pin", methods=["GET", "POST"])
@device_required
@limiter.shared_limit(PIN_TRIES, scope="kiosk-pin", key_func=_device_key, methods=["POST"])
def pin() -> Any:
    """The on-screen keypad. Without JavaScript each tap posts the digits so far and the
    whole page comes back; with it, static/kiosk.js keeps the digits on the screen and
    posts only the final OK (htmx swaps the keypad), so no tap waits for the network."""
    form = KeypadForm()
    number, digits, stage = form.number.data or "", form.pin.data or "", form.stage.data
    if stage not in ("number", "pin"):
        stage = "number"
    message = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        key = request.form.get("key", "")
        current = number if stage == "number" else digits
        if key in KEYS and len(current) < (12 if stage == "number" else 6):
            current += key
        elif key == "back":
            current = current[:-1]
        elif key == "ok" and stage == "number" and current:
            stage = "pin"
        elif key == "ok" and stage == "pin":
            member = kiosk.identify_by_pin(g.kiosk_device, number, digits, clock.now_local())
            if member is not None:
                if is_htmx():
                    # The keypad is a fragment; the member's screen is a whole page.
                    response = Response("", status=200)
                    response.headers["HX-Redirect"] = url_for(
                        "kiosk.member", who=kiosk.who_token(member, g.kiosk_device)
                    )
                    return response
                return _member_screen(member)
            db.session.commit()  # the wrong try counts
            number, digits, stage, current = "", "", "number", ""
            message = _(
                "The member number or PIN is not right, or the PIN is locked for a while. "
                "Please try again or use your card."
            )
            status = 422
        if stage == "number":
            number = current
        elif key != "ok":
            digits = current
    form = KeypadForm(formdata=None, number=number, pin=digits, stage=stage)
    return _screen(
        "kiosk/pin.html",
        status,
        "keypad",
        form=form,
        number=number,
        digits=digits,
        stage=stage,
        keys=KEYS,
        message=message,
    )


@bp.get("/member")
@device_required
def member() -> Any:
    """The member's screen after an htmx keypad identification (the signed value expires
    in 20 seconds and names this device)."""
    found = kiosk.who_from(request.args.get("who", ""), g.kiosk_device)
    if found is None:
        return _start_redirect(_("Too much time passed. Please start again."))
    return _member_screen(found)


def _who(form: Any) -> Member:
    member = kiosk.who_from(form.who.data or "", g.kiosk_device)
    if member is None:
        abort(_start_redirect(_("Too much time passed. Please start again.")))
    return member


def _start_redirect(message: str) -> Response:
    return redirect(url_for("kiosk.start", message=message), 303)


# --- check in, check out, correct ---------------------------------------------------------


def _done(member: Member, *, title: str, visit: CheckIn, minutes: int | None = None):
    out = visit.checked_out_at
    # Said on the screen when the count stopped before the check-out (the scheduled end).
    counted_until = kiosk.counted_until(visit, out) if out and minutes else None
    return _screen(
        "kiosk/done.html",
        member=member,
        masked=member.masked_name,
        title=title,
        visit=visit,
        minutes=minutes,
        capped_at=counted_until if counted_until and out and counted_until < out else None,
        log=kiosk.log_of(visit),
        balance=kiosk.balance(member),
        idle_seconds=current_app.config.get("KIOSK_CONFIRM_SECONDS", 5),
    )


@bp.post("/in")
@device_required
def check_in() -> Any:
    form = CheckInForm()
    if not form.validate_on_submit():
        abort(400)
    member = _who(form)
    try:
        visit = kiosk.check_in(
            member,
            kiosk.Where.kiosk(g.kiosk_device),
            at=clock.now_local(),
            key=form.key.data or uuid.uuid4().hex,
            activity_id=form.activity.data,
            team_id=form.team.data,
            service_id=form.service.data,
        )
    except DomainError as error:
        db.session.rollback()
        return _member_screen(member, str(error.message), 422)
    db.session.commit()
    return _done(member, title=_("Checked in"), visit=visit)


@bp.post("/out")
@device_required
def check_out() -> Any:
    form = CheckOutForm()
    if not form.validate_on_submit():
        abort(400)
    member = _who(form)
    visit_id = form.visit.data or 0
    if form.short.data == "cancel":
        try:
            visit = kiosk.cancel_check_in(member, visit_id)
        except DomainError as error:
            db.session.rollback()
            return _member_screen(member, str(error.message), 422)
        db.session.commit()
        return _done(member, title=_("Check-in cancelled"), visit=visit)
    try:
        visit = kiosk.check_out(
            member,
            visit_id,
            at=clock.now_local(),
            key=form.key.data or uuid.uuid4().hex,
            device=g.kiosk_device,
            allow_short=form.short.data == "keep",
        )
    except kiosk.TooShort:
        db.session.rollback()
        return _screen(
            "kiosk/short.html",
            member=member,
            masked=member.masked_name,
            form=CheckOutForm(
                formdata=None,
                who=kiosk.who_token(member, g.kiosk_device),
                key=uuid.uuid4().hex,
                visit=visit_id,
            ),
        )
    except DomainError as error:
        db.session.rollback()
        return _member_screen(member, str(error.message), 422)
    db.session.commit()
    log = kiosk.log_of(visit)
    return _done(member, title=_("Checked out"), visit=visit, minutes=log.minutes if log else None)


@bp.post("/correct")
@device_required
def correct() -> Any:
    form = CorrectForm()
    if not form.validate_on_submit():
        abort(400)
    member = _who(form)
    try:
        presence.correct_leaving(member, form.visit.data or 0, form.earlier.data or 0)
    except DomainError as error:
        db.session.rollback()
        return _member_screen(member, str(error.message), 422)
    db.session.commit()
    return _member_screen(member, _("Thank you. Your last visit has been corrected."))


# --- offline delivery -------------------------------------------------------------------


@bp.post("/sync")
@device_required
@limiter.shared_limit(
    PIN_TRIES,
    scope="kiosk-pin",
    key_func=_device_key,
    exempt_when=lambda: "pin" not in request.form,
)
def sync() -> Any:
    """One check-in or check-out the kiosk kept while the network was down: a card token or
    a member number + PIN, when it happened (epoch ms) and its own key. Accepted once; a
    replay answers the same. The PIN is checked now, on delivery, like at the keypad (a
    wrong one counts towards the lock); a refused one is flagged for the coordinator and
    never credited."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    device: KioskDevice = g.kiosk_device
    key = (request.form.get("key") or "")[:64]
    try:
        happened_ms = int(request.form.get("at", ""))
    except ValueError:
        return Response("bad time", 422)
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))
    happened = datetime.fromtimestamp(happened_ms / 1000, zone).replace(tzinfo=None, microsecond=0)
    now = clock.now_local()
    if not key or happened > now:
        return Response("refused", 422)
    if "pin" in request.form:
        number = (request.form.get("number") or "")[:12]
        member = kiosk.identify_by_pin(device, number, request.form.get("pin") or "", now)
        if member is None:
            kiosk.refuse_offline_pin(device, member_no=number, at=happened, key=key)
            db.session.commit()
            return Response("refused", 422)
    else:
        member = kiosk.identify_by_card(device, request.form.get("card", ""))
    if member is None:
        return Response("refused", 422)
    try:
        outcome = kiosk.deliver_offline(member, device, key=key, at=happened, received=now)
    except DomainError as error:
        db.session.rollback()
        return Response(str(error.message), 422)
    db.session.commit()
    return Response(outcome, 200)


# Device pages outside this blueprint, and the health check.
KIOSK_PAGES_ELSEWHERE = ("places.code_screen", "main.healthz")


def init_app(app: Flask) -> None:
    @app.before_request
    def _kiosk_reaches_only_kiosk_pages() -> Response | None:
        if COOKIE not in request.cookies:
            return None
        endpoint = request.endpoint or ""
        if endpoint.startswith(("kiosk.", "static")) or endpoint in KIOSK_PAGES_ELSEWHERE:
            return None
        if device_from_cookie() is None:
            return None  # a stale or revoked token: an ordinary browser again
        db.session.commit()
        return redirect(url_for("kiosk.start"))

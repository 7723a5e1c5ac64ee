"""Register, log in, log out, and the preferences a visitor can set too."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal import device_cookie
from portal.actions import run, submit
from portal.auth.forms import (
    ElderModeForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    RegisterForm,
)
from portal.auth_session import current_member, mark_seen
from portal.extensions import client_address, db, limiter
from portal.forms import EmptyForm, choices, safe_next, show_error
from portal.htmx import render
from portal.models import Community, Member
from portal.services import grids, members, password_reset

bp = Blueprint("auth", __name__)


def _community_choices(locale: str) -> list[tuple[int, str]]:
    communities = db.session.scalars(select(Community).order_by(Community.id))
    return [(c.id, c.display_name(locale)) for c in communities]


def _start_session(member) -> None:  # type: ignore[no-untyped-def]
    # A fresh session on login: nothing from before it (a planted cookie) carries over.
    session.clear()
    login_user(member)
    mark_seen()


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10 per hour", key_func=client_address, methods=["POST"])
def register() -> Response | tuple[str, int] | str:
    if current_user.is_authenticated:
        return redirect(url_for("me.dashboard"))
    form = RegisterForm()
    locale = session.get("locale", "zh_CN")
    form.community.choices = choices([(0, _("Choose…")), *_community_choices(locale)])
    if form.validate_on_submit():

        def _register() -> Member:
            member = members.register(
                members.Registration(
                    name=form.name.data or "",
                    phone=form.phone.data or "",
                    password=form.password.data or "",
                    community_id=form.community.data or 0,
                    birth_year=form.birth_year.data or 0,
                    locale=locale if locale in ("zh_CN", "en") else "zh_CN",
                    elder_mode=bool(session.get("elder_mode")),
                )
            )
            if (form.building.data or "").strip():
                grids.set_home(member, member.id, form.building.data or "", form.unit.data or "")
            return member

        ok, member = submit(form, _register)
        if ok and member is not None:
            _start_session(member)
            flash(_("Welcome, %(name)s. Your account is ready.", name=member.name), "success")
            response = redirect(url_for("me.dashboard"), 303)
            device_cookie.remember(response, member.phone)
            return response
    status = 422 if request.method == "POST" else 200
    return render("auth/register.html", form=form), status


def _login_phone() -> str:
    return members.normalise_phone(request.form.get("phone", ""))


def _known_device() -> bool:
    return device_cookie.nonce_for(_login_phone()) is not None


def _device_key() -> str:
    return f"device:{device_cookie.nonce_for(_login_phone())}"


def _untrusted_account_key() -> str:
    return f"untrusted:{_login_phone()}"


def _failed(response: Response) -> bool:
    return response.status_code != 303


@bp.route("/login", methods=["GET", "POST"])
# Failed attempts only (OWASP device cookies, see portal/device_cookie.py):
# - a browser that logged in to this account before is limited on its own cookie;
@limiter.limit(
    "5 per minute;20 per hour",
    key_func=_device_key,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=lambda: not _known_device(),
)
# - unknown browsers share one budget per account: a stranger who guesses can lock out
#   unknown browsers, never the owner's own phone;
@limiter.limit(
    "5 per minute;20 per hour",
    key_func=_untrusted_account_key,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=_known_device,
)
# - and per real client address (ProxyFix), against one machine trying many numbers. The
#   owner's known browser is not counted here: behind a proxy or a shared home router the
#   attacker may have the same address.
@limiter.limit(
    "30 per minute;200 per hour",
    key_func=client_address,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=_known_device,
)
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    target = safe_next(request.args.get("next"), url_for("me.dashboard"))
    if form.validate_on_submit():
        member = members.authenticate(form.phone.data or "", form.password.data or "")
        if member is None:
            show_error(form, _("The mobile number or password is not right."), "password")
        else:
            _start_session(member)
            response = redirect(target, 303)
            device_cookie.remember(response, member.phone)
            return response
    status = 422 if request.method == "POST" else 200
    return render("auth/login.html", form=form), status


def _forgot_phone_key() -> str:
    return f"forgot:{_login_phone()}"


@bp.route("/password/forgot", methods=["GET", "POST"])
# Wrong codes are limited per phone (besides the 5 tries each code allows) and per address.
@limiter.limit(
    "5 per minute;20 per hour",
    key_func=_forgot_phone_key,
    methods=["POST"],
    deduct_when=_failed,
)
@limiter.limit(
    "30 per minute;200 per hour", key_func=client_address, methods=["POST"], deduct_when=_failed
)
def forgot_password() -> Response | tuple[str, int] | str:
    """Phone + the code a relative, coordinator or admin gave + a new password."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        ok, member = submit(
            form,
            lambda: password_reset.reset_password(
                form.phone.data or "", form.code.data or "", form.new_password.data or ""
            ),
        )
        if ok and member is None:
            show_error(form, password_reset.CODE_REFUSED, "code")
        elif ok:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash(_("Your password was changed. Log in with the new one."), "success")
            return redirect(url_for("auth.login"), 303)
    status = 422 if request.method == "POST" else 200
    return render("auth/forgot.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    form = EmptyForm()
    # The browser keeps its language and text size: the next person here is likely the same.
    kept = {key: session[key] for key in ("locale", "elder_mode") if key in session}
    if current_user.is_authenticated:
        member = current_member()
        kept = {"locale": member.locale, "elder_mode": member.elder_mode}
        if form.validate_on_submit():
            run(lambda: members.end_sessions(member))
    logout_user()
    session.clear()
    session.update(kept)
    return redirect(url_for("main.index"), 303)


@bp.post("/settings/language")
def set_language() -> Response:
    form = LanguageForm()
    if not form.validate_on_submit():
        # Only a forged form offers another language: refuse it, and change nothing.
        abort(400)
    session["locale"] = form.locale.data
    if current_user.is_authenticated:
        run(lambda: members.set_preferences(current_member(), locale=form.locale.data))
    return redirect(safe_next(request.form.get("next"), url_for("main.index")), 303)


@bp.post("/settings/elder")
def set_elder_mode() -> Response:
    form = ElderModeForm()
    if form.validate_on_submit():
        on = form.elder.data == "1"
        session["elder_mode"] = on
        if current_user.is_authenticated:
            run(lambda: members.set_preferences(current_member(), elder_mode=on))
    return redirect(safe_next(request.form.get("next"), url_for("main.index")), 303)

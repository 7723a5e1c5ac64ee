"""Register, log in, log out, and the preferences a visitor can set too."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.actions import run, submit
from portal.auth.forms import ElderModeForm, LanguageForm, LoginForm, RegisterForm
from portal.auth_session import current_member
from portal.extensions import client_address, db, limiter
from portal.forms import EmptyForm, choices, safe_next, show_error
from portal.htmx import render
from portal.models import Community
from portal.services import members

bp = Blueprint("auth", __name__)


def _community_choices(locale: str) -> list[tuple[int, str]]:
    communities = db.session.scalars(select(Community).order_by(Community.id))
    return [(c.id, c.display_name(locale)) for c in communities]


def _start_session(member) -> None:  # type: ignore[no-untyped-def]
    # A fresh session on login: nothing from before it (a planted cookie) carries over.
    session.clear()
    login_user(member)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10 per hour", key_func=client_address, methods=["POST"])
def register() -> Response | tuple[str, int] | str:
    if current_user.is_authenticated:
        return redirect(url_for("me.dashboard"))
    form = RegisterForm()
    locale = session.get("locale", "zh_CN")
    form.community.choices = choices([(0, _("Choose…")), *_community_choices(locale)])
    if form.validate_on_submit():
        ok, member = submit(
            form,
            lambda: members.register(
                members.Registration(
                    name=form.name.data or "",
                    phone=form.phone.data or "",
                    password=form.password.data or "",
                    community_id=form.community.data or 0,
                    birth_year=form.birth_year.data or 0,
                    locale=locale if locale in ("zh_CN", "en") else "zh_CN",
                    elder_mode=bool(session.get("elder_mode")),
                )
            ),
        )
        if ok and member is not None:
            _start_session(member)
            flash(_("Welcome, %(name)s. Your account is ready.", name=member.name), "success")
            return redirect(url_for("me.dashboard"), 303)
    status = 422 if request.method == "POST" else 200
    return render("auth/register.html", form=form), status


def _phone_and_address() -> str:
    return f"{members.normalise_phone(request.form.get('phone', ''))}|{client_address()}"


@bp.route("/login", methods=["GET", "POST"])
# Failed attempts only. Per phone *and* address, so nobody elsewhere can lock a member
# out by guessing at their number; and per address, against one machine trying many numbers.
@limiter.limit(
    "5 per minute;20 per hour",
    key_func=_phone_and_address,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
)
@limiter.limit(
    "30 per minute;200 per hour",
    key_func=client_address,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
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
            return redirect(target, 303)
    status = 422 if request.method == "POST" else 200
    return render("auth/login.html", form=form), status


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

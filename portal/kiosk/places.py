"""Pages for people, not devices: the rotating place code (a screen at the place shows
it; a logged-in member opens it on their phone), who is here now, member cards and PINs,
and the admin's kiosk list."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal import clock
from portal.actions import attempt, one_button, submit
from portal.auth_session import current_member
from portal.extensions import db
from portal.forms import EmptyForm
from portal.htmx import render
from portal.kiosk.forms import CheckInForm, CheckOutForm, MemberNoForm, PinForm, PlaceForm
from portal.kiosk.routes import device_required
from portal.models import Member, Team, TeamMembership
from portal.services import cards, devices, kiosk, presence, teams
from portal.services.errors import DomainError

bp = Blueprint("places", __name__)

# Scanned just as it rotates, a code still works; a member then has two minutes to tap.
PHONE_GRACE_WINDOWS = 4


# --- the rotating place code ------------------------------------------------------------


@bp.get("/kiosk/code")
@device_required
def code_screen() -> Any:
    from flask import g

    device = g.kiosk_device
    url = url_for("places.at_place", code=devices.place_code(device, time.time()), _external=True)
    response = current_app.make_response(
        render(
            "kiosk/code.html",
            qr=cards.qr_svg(url, scale=8, fluid=True),
            device=device,
            refresh=devices.CODE_WINDOW_SECONDS,
            idle_seconds=0,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _place_from(code: str, grace: int = 1) -> devices.Spot:
    try:
        return devices.spot_from_code(code, time.time(), grace_windows=grace)
    except DomainError as error:
        db.session.rollback()
        abort(
            current_app.make_response(
                (render("kiosk/phone.html", error=error.message, spot=None), 410)
            )
        )


@bp.get("/kiosk/at/<code>")
@login_required
def at_place(code: str) -> Any:
    """A kiosk's rotating code, or a printed one, opened on a logged-in member's phone."""
    spot = _place_from(code)
    me = current_member()
    if me.community_id != spot.community_id:
        abort(403)
    choices, walk_ins = kiosk.choices_here(me, spot.place, clock.now_local())
    return render(
        "kiosk/phone.html",
        spot=spot,
        code=code,
        choices=choices,
        walk_ins=walk_ins,
        form=EmptyForm(),
        new_key=lambda: uuid.uuid4().hex,
        error=None,
    )


@bp.post("/kiosk/at/<code>/in")
@login_required
def at_place_in(code: str) -> Response:
    spot = _place_from(code, PHONE_GRACE_WINDOWS)
    form = CheckInForm()
    if not form.validate_on_submit():
        abort(400)
    me = current_member()
    if me.community_id != spot.community_id:
        abort(403)
    where = kiosk.Where(spot.community_id, spot.place, None, spot.source)
    ok, _r = attempt(
        lambda: kiosk.check_in(
            me,
            where,
            at=clock.now_local(),
            key=form.key.data or uuid.uuid4().hex,
            activity_id=form.activity.data,
        ),
        lambda error: flash(str(error.message), "error"),
    )
    if ok:
        flash(_("Checked in at %(place)s.", place=spot.place), "success")
    return redirect(url_for("places.at_place", code=code), 303)


@bp.post("/kiosk/at/<code>/out")
@login_required
def at_place_out(code: str) -> Response:
    spot = _place_from(code, PHONE_GRACE_WINDOWS)
    if current_member().community_id != spot.community_id:
        abort(403)
    form = CheckOutForm()
    if not form.validate_on_submit():
        abort(400)
    me = current_member()
    ok, visit = attempt(
        lambda: kiosk.check_out(
            me,
            form.visit.data or 0,
            at=clock.now_local(),
            key=form.key.data or uuid.uuid4().hex,
            allow_short=True,
            flag="printed_code" if spot.source == "printed_code" else None,
        ),
        lambda error: flash(str(error.message), "error"),
    )
    if ok and visit is not None:
        log = kiosk.log_of(visit)
        flash(
            _(
                "Checked out: %(minutes)s minutes, waiting for approval.",
                minutes=log.minutes if log else 0,
            ),
            "success",
        )
    return redirect(url_for("places.at_place", code=code), 303)


# --- who is here now --------------------------------------------------------------------


def _overseer() -> Member:
    me = current_member()
    if not presence.may_oversee(me):
        abort(403)
    return me


@bp.get("/kiosk/here")
@login_required
def here() -> str:
    me = _overseer()
    places = devices.places_for(me)
    place = request.args.get("place") or (places[0] if places else "")
    if place and place not in places:
        abort(404)
    return render(
        "kiosk/here.html",
        "here",
        places=places,
        place=place,
        visits=presence.here_now(me.community_id, place) if place else [],
        flagged=presence.flagged(me.community_id, place) if place else [],
        refused=presence.refused_offline_pins(me.community_id, place) if place else [],
        form=EmptyForm(),
    )


@bp.post("/kiosk/here/checkout-all")
@login_required
def check_out_all() -> Response:
    me = _overseer()
    place = request.form.get("place", "")
    if place not in devices.places_for(me):
        abort(404)
    return one_button(
        lambda: presence.check_out_everyone(me, place, clock.now_local()),
        done=_("Everyone at %(place)s has been checked out.", place=place),
        back_to=url_for("places.here", place=place),
    )


# --- member cards and PINs --------------------------------------------------------------


@bp.route("/me/card", methods=["GET", "POST"])
@login_required
def my_card() -> Any:
    me = current_member()
    form = PinForm()
    if form.validate_on_submit():
        ok, _r = submit(form, lambda: cards.set_pin(me, form.pin.data or ""))
        if ok:
            flash(_("Your kiosk PIN has been saved."), "success")
            return redirect(url_for("places.my_card"), 303)
    status = 422 if request.method == "POST" else 200
    return render(
        "kiosk/card.html",
        cards=[(me, cards.qr_svg(cards.card_token(me)))],
        form=form,
        button=EmptyForm(),
        single=True,
    ), status


@bp.post("/me/card/reissue")
@login_required
def reissue() -> Response:
    me = current_member()
    return one_button(
        lambda: cards.reissue_card(me, me),
        done=_("A new card was made; the old card no longer works."),
        back_to=url_for("places.my_card"),
    )


@bp.get("/kiosk/cards/<int:team_id>")
@login_required
def team_cards(team_id: int) -> str:
    """An A4 sheet of cards for a team (its coordinators, or an admin of its community)."""
    me = current_member()
    team = db.get_or_404(Team, team_id)
    admin_here = me.is_admin and me.community_id == team.community_id
    if not (admin_here or teams.is_coordinator(me, team.id)):
        abort(403)
    people = list(
        db.session.scalars(
            select(Member)
            .join(TeamMembership, TeamMembership.member_id == Member.id)
            .where(TeamMembership.team_id == team.id, TeamMembership.status == "active")
            .order_by(Member.name)
        )
    )
    return render(
        "kiosk/card.html",
        cards=[(m, cards.qr_svg(cards.card_token(m))) for m in people],
        team=team,
        single=False,
    )


# --- the admin's kiosks -------------------------------------------------------------------


def _admin() -> Member:
    me = current_member()
    if not me.is_admin:
        abort(403)
    return me


@bp.route("/admin/kiosks", methods=["GET", "POST"])
@login_required
def admin_kiosks() -> Any:
    me = _admin()
    form = PlaceForm()
    status = 200
    if form.validate_on_submit():
        ok, made = submit(form, lambda: devices.register_device(me, form.place.data or ""))
        if ok and made is not None:
            # Shown once, in the next page only: only its hash is stored.
            link = url_for("kiosk.enrol_page", token=made[1], _external=True)
            session["kiosk_enrol_link"] = link
            return redirect(url_for("places.admin_kiosks"), 303)
        status = 422
    elif request.method == "POST":
        status = 422
    response = current_app.make_response(
        (
            render(
                "admin/kiosks.html",
                form=form,
                devices=devices.devices_of(me),
                enrol_link=session.pop("kiosk_enrol_link", None),
                button=EmptyForm(),
                pin_form=MemberNoForm(formdata=None),
                printed_form=PlaceForm(formdata=None, prefix="printed"),
                printed_codes=devices.printed_codes_of(me),
            ),
            status,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/admin/kiosks/<int:device_id>/revoke")
@login_required
def revoke(device_id: int) -> Response:
    me = _admin()
    return one_button(
        lambda: devices.revoke(me, device_id),
        done=_("The kiosk has been revoked; it stopped working at once."),
        back_to=url_for("places.admin_kiosks"),
    )


@bp.post("/admin/kiosks/printed")
@login_required
def print_code() -> Response:
    """The printed code of a place (made on first use), then its A4 page."""
    me = _admin()
    form = PlaceForm(prefix="printed")
    if not form.validate_on_submit():
        flash(_("Enter the place (up to 200 characters)."), "error")
        return redirect(url_for("places.admin_kiosks"), 303)
    ok, printed = attempt(
        lambda: devices.print_place_code(me, form.place.data or ""),
        lambda error: flash(str(error.message), "error"),
    )
    if not ok or printed is None:
        return redirect(url_for("places.admin_kiosks"), 303)
    return redirect(url_for("places.printed_page", printed_id=printed.id), 303)


@bp.get("/admin/kiosks/printed/<int:printed_id>")
@login_required
def printed_page(printed_id: int) -> Any:
    """An A4 page with the place's QR code, for a post without a screen."""
    me = _admin()
    try:
        printed = devices.printed_code_of(me, printed_id)
    except DomainError:
        abort(403)
    url = url_for("places.at_place", code=devices.printed_code(printed), _external=True)
    response = current_app.make_response(
        render(
            "kiosk/printed.html",
            printed=printed,
            qr=cards.qr_svg(url, scale=10, fluid=True),
            button=EmptyForm(),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/admin/kiosks/printed/<int:printed_id>/reissue")
@login_required
def reissue_printed(printed_id: int) -> Response:
    me = _admin()
    return one_button(
        lambda: devices.reissue_printed_code(me, printed_id),
        done=_("A new code was made: print it and replace the sheet; the old one no longer works."),
        back_to=url_for("places.printed_page", printed_id=printed_id),
    )


@bp.post("/admin/kiosks/pin-reset")
@login_required
def pin_reset() -> Response:
    me = _admin()
    form = MemberNoForm()
    if not form.validate_on_submit():
        flash(_("Enter a member number."), "error")
        return redirect(url_for("places.admin_kiosks"), 303)
    member = db.session.scalar(
        select(Member).where(
            Member.member_no == (form.member_no.data or "").strip(),
            Member.community_id == me.community_id,
        )
    )
    if member is None:
        flash(_("No member has that member number."), "error")
        return redirect(url_for("places.admin_kiosks"), 303)
    ok, _r = attempt(
        lambda: cards.reset_pin(me, member), lambda error: flash(str(error.message), "error")
    )
    if ok:
        flash(_("The PIN was reset; the member can set a new one on their phone."), "success")
    return redirect(url_for("places.admin_kiosks"), 303)

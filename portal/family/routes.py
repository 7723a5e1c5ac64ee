"""Family links and gifts of hours to family."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button, submit
from portal.auth_session import current_member
from portal.family.forms import GiftForm, LinkForm
from portal.forms import EmptyForm, choices
from portal.htmx import render
from portal.services import family, idempotency, ledger

bp = Blueprint("family", __name__)


def _page(gift_form: GiftForm, link_form: LinkForm) -> str:
    me = current_member()
    relatives = family.relatives(me)
    gift_form.to.choices = choices([(0, _("Choose…")), *((r.id, r.name) for r in relatives)])
    return render(
        "family/gift.html",
        gift_form=gift_form,
        link_form=link_form,
        links=family.links_of(me),
        relatives=relatives,
        balance=ledger.balance_of(me),
        gifted=family.gifted_this_year(me),
        cap=me.community.gift_yearly_cap_minutes,
        button=EmptyForm(),
    )


@bp.route("/gift", methods=["GET", "POST"])
@login_required
def gift() -> Response | tuple[str, int] | str:
    form = GiftForm()
    if request.method == "GET":
        return _page(form, LinkForm())
    me = current_member()
    if form.validate_on_submit():

        def give() -> None:
            if idempotency.claim(form.once.data, me) is None:
                family.gift(me, form.to.data or None, form.parsed_minutes, key=form.once.data)
                idempotency.remember_result(form.once.data, url_for("family.gift"))

        ok, _result = submit(form, give)
        if ok:
            flash(_("Sent. Thank you for caring for your family."), "success")
            return redirect(url_for("family.gift"), 303)
    return _page(form, LinkForm()), 422


@bp.post("/family/link")
@login_required
def propose() -> Response | tuple[str, int]:
    form = LinkForm()
    if form.validate_on_submit():
        ok, _link = submit(form, lambda: family.propose(current_member(), form.phone.data or ""))
        if ok:
            flash(_("Sent. Your relative accepts it on their Gift page."), "success")
            return redirect(url_for("family.gift"), 303)
    return _page(GiftForm(), form), 422


@bp.post("/family/<int:link_id>/<any(accept, decline):decision>")
@login_required
def decide(link_id: int, decision: str) -> Response:
    return one_button(
        lambda: family.decide(current_member(), link_id, accept=decision == "accept"),
        done=_("Linked as family.") if decision == "accept" else _("Declined."),
        back_to=url_for("family.gift"),
    )

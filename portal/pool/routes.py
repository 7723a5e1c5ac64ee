"""/pool: the community's public-welfare pool (公益池) — whom it serves (named by its admins)
and its statement, for the community's admins and coordinators."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button, submit
from portal.auth_session import current_member
from portal.forms import EmptyForm, choices
from portal.htmx import render
from portal.i18n import CARE_CATEGORY_LABELS
from portal.inputs import query_id
from portal.pool.forms import CategoryForm, MemberForm
from portal.services import pool

bp = Blueprint("pool", __name__, url_prefix="/pool")


def _page(category_form: CategoryForm | None = None, member_form: MemberForm | None = None) -> str:
    me = current_member()
    if not pool.may_see(me, me.community_id):
        abort(403)
    category_form = category_form or CategoryForm()
    category_form.category.choices = choices(list(CARE_CATEGORY_LABELS.items()))
    lines = pool.statement(me.community_id, before=query_id("before"))
    return render(
        "pool/index.html",
        named=pool.named(me.community_id),
        balance=pool.balance(me.community_id),
        lines=lines,
        may_manage=pool.may_manage(me, me.community_id),
        category_form=category_form,
        member_form=member_form or MemberForm(),
        button=EmptyForm(),
    )


@bp.get("")
@login_required
def index() -> str:
    return _page()


@bp.post("/categories")
@login_required
def name_category() -> Response | tuple[str, int]:
    me = current_member()
    if not pool.may_manage(me, me.community_id):
        abort(403)
    form = CategoryForm()
    if not form.validate_on_submit():
        abort(400)
    ok, _line = submit(form, lambda: pool.name_category(me, form.category.data))
    if ok:
        return redirect(url_for("pool.index"), 303)
    return _page(category_form=form), 422


@bp.post("/members")
@login_required
def name_member() -> Response | tuple[str, int]:
    me = current_member()
    if not pool.may_manage(me, me.community_id):
        abort(403)
    form = MemberForm()
    if not form.validate_on_submit():
        abort(400)
    ok, _line = submit(form, lambda: pool.name_member(me, form.member.data or ""))
    if ok:
        return redirect(url_for("pool.index"), 303)
    return _page(member_form=form), 422


@bp.post("/<int:line_id>/remove")
@login_required
def remove(line_id: int) -> Response:
    me = current_member()
    return one_button(lambda: pool.unname(me, line_id), done=None, back_to=url_for("pool.index"))

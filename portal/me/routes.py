"""The member's own pages: dashboard, statement (and its CSV), settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm

from portal.actions import attempt, flash_refusal, submit
from portal.auth.forms import ElderModeForm, LanguageForm, PasswordForm
from portal.auth_session import current_member
from portal.forms import EmptyForm
from portal.htmx import render
from portal.i18n import ENTRY_KIND_LABELS
from portal.inputs import query_id
from portal.me.forms import DonateExcessForm, SharePhoneForm
from portal.me.passbook import passbook_view
from portal.me.statement_rows import statement_rows
from portal.services import family, members, stars, statement, teams
from portal.services import hours as hour_service
from portal.services import requests as request_service
from portal.templating import TopBar, labels

bp = Blueprint("me", __name__, url_prefix="/me")


def _cursor() -> int | None:
    return query_id("before")


@bp.get("")
@login_required
def dashboard() -> str:
    me = current_member()
    lines, _next = statement.page(me, before=None, size=5)
    # Ids only: `family.relatives` loads each relative, one statement each.
    relative_ids = family.relative_ids({me.id})
    # Each person's first screen leads with what they do most: a coordinator's queue, a
    # volunteer's logging and tasks, a resident's call for help and what to confirm.
    # The figures, the role and the top bar's in one statement (eight lookups used to be
    # eight statements).
    (
        balance,
        unread,
        coordinates,
        called,
        grid_role,
        pending,
        reserved,
        earned,
        in_a_team,
        queue_count,
    ) = members.top_bar_figures(
        me.id,
        hour_service.pending_minutes_select,
        request_service.reserved_minutes_select,
        stars.earned_select,
        teams.in_a_team_select,
        hour_service.queue_count_select,
    )
    return render(
        "me/dashboard.html",
        top=TopBar(me.id, (balance, unread, coordinates, called, grid_role)),
        role="coordinator" if coordinates else ("volunteer" if in_a_team else "resident"),
        queue_count=queue_count,
        tasks=request_service.open_tasks(me) if in_a_team else [],
        requests_waiting=request_service.awaiting_me(me, relative_ids),
        balance=balance,
        stars=stars.from_earned(me, earned),
        pending=pending,
        reserved=reserved,
        to_confirm=hour_service.to_confirm(me, relative_ids),
        lines=lines,
        button=EmptyForm(),
    )


@bp.get("/statement")
@login_required
def statement_page() -> str:
    lines, next_cursor = statement.page(
        current_member(), before=_cursor(), size=current_app.config["PAGE_SIZE"]
    )
    return render(
        "me/statement.html",
        "rows",
        rows=statement_rows(lines, labels("entry_kind_labels"), str(get_locale() or "zh_CN")),
        next_cursor=next_cursor,
        first_page=_cursor() is None,
    )


@bp.get("/statement.csv")
@login_required
def statement_csv() -> Response:
    member = current_member()
    locale = str(get_locale())

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # A BOM first, so Excel reads the Chinese text as UTF-8.
        yield "\ufeff"
        # The header stays stable for spreadsheets that read it; the cells are words.
        writer.writerow(["date", "kind", "description", "minutes", "balance_minutes"])
        for line in statement.all_lines(member):
            label = str(ENTRY_KIND_LABELS.get(line.kind, line.kind))
            writer.writerow(
                [
                    line.created_at.date().isoformat(),
                    label,
                    line.description(label, locale),
                    line.minutes,
                    line.balance_after,
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    # The rows are written while the response streams: keep the request (its language).
    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="statement.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings() -> Response | tuple[str, int] | str:
    password_form = PasswordForm()
    if password_form.validate_on_submit():
        ok, _result = submit(
            password_form,
            lambda: members.change_password(
                current_member(),
                password_form.current_password.data or "",
                password_form.new_password.data or "",
            ),
        )
        if ok:
            # The version changed: sign this browser in again with the new one.
            login_user(current_member())
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("me.settings"), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render(
            "me/settings.html",
            password_form=password_form,
            language_form=LanguageForm(locale=current_user.locale),
            elder_form=ElderModeForm(elder="1" if current_user.elder_mode else "0"),
            phone_form=SharePhoneForm(share="1" if current_user.share_phone else "0"),
            donate_form=DonateExcessForm(donate="1" if current_user.donate_excess else "0"),
            storage_cap=current_user.community.storage_cap_minutes,
        ),
        status,
    )


def _save_choice(form: FlaskForm, field: str, preference: str) -> Response:
    """A yes/no choice of the settings page: the form's `field` ("1" or "0") becomes the
    member's `preference`."""
    if not form.validate_on_submit():
        abort(400)
    chosen = form[field].data == "1"
    ok, _result = attempt(
        lambda: members.set_preferences(current_member(), **{preference: chosen}),
        flash_refusal,
    )
    if ok:
        flash(_("Saved."), "success")
    return redirect(url_for("me.settings"), 303)


@bp.post("/settings/phone")
@login_required
def share_phone() -> Response:
    return _save_choice(SharePhoneForm(), "share", "share_phone")


@bp.post("/settings/donate")
@login_required
def donate_excess() -> Response:
    return _save_choice(DonateExcessForm(), "donate", "donate_excess")


@bp.get("/statement/passbook")
@login_required
def passbook() -> str:
    """The statement as large-print A4 passbook pages (the browser prints them)."""
    return passbook_view(current_member(), _cursor())

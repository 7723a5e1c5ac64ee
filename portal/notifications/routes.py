"""The member's notifications: the list, and marking them read."""

from __future__ import annotations

import json

from flask import Blueprint, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from portal.actions import one_button
from portal.auth_session import current_member
from portal.htmx import render
from portal.i18n import notification_text
from portal.inputs import query_id
from portal.models import Notification
from portal.services import notifications

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def _href(note: Notification, params: dict) -> str:
    """A message's link: an endpoint built here, or (older messages) a stored path."""
    if not note.link or note.link.startswith("/"):
        return note.link
    return url_for(note.link, **params.get(notifications.LINK_ARGS, {}))


@bp.get("")
@login_required
def index() -> str:
    rows, next_cursor = notifications.latest(current_member(), before=query_id("before"), size=30)
    items = []
    for note in rows:
        params = json.loads(note.params)
        items.append((note, notification_text(note.kind, params), _href(note, params)))
    return render("notifications/index.html", items=items, next_cursor=next_cursor)


@bp.post("/read")
@login_required
def mark_read() -> Response:
    return one_button(
        lambda: notifications.mark_all_read(current_member()),
        done=None,
        back_to=url_for("notifications.index"),
    )

"""The passbook print view, shared by the member's own page and a coordinator's print-out."""

from __future__ import annotations

from flask import url_for

from portal.clock import today_local
from portal.htmx import render
from portal.models import Member
from portal.services import cards, passbook


def passbook_view(member: Member, before: int | None) -> str:
    pages, older = passbook.pages(member, printed_on=today_local(), before=before)
    return render(
        "me/passbook.html",
        member=member,
        pages=[
            (page, cards.qr_svg(url_for("main.verify", token=page.token, _external=True), 3))
            for page in pages
        ],
        older=older,
        before=before,
        printed_on=today_local(),
    )

"""The passbook (存折): printed pages whose QR code proves they are genuine."""

from __future__ import annotations

import re

from flask import Flask
from itsdangerous import URLSafeSerializer

from portal.clock import today_local
from portal.extensions import db
from portal.services import hours, passbook
from tests.support import World, log_hours


def _approved(world: World, *minutes: int) -> None:
    for n, m in enumerate(minutes):
        log = log_hours(world.volunteer, world.team, world.service, minutes=m, days_ago=1 + n % 20)
        hours.approve_log(world.coordinator, log.id)
    db.session.commit()


def _verify_links(html: str) -> list[str]:
    return re.findall(r'href="(/verify/[^"]+)"', html)


def test_a_printed_page_verifies_as_genuine_with_its_balance(world: World, login) -> None:
    _approved(world, 60, 30, 90)
    client = login(world.volunteer)
    page = client.get("/me/statement/passbook")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert world.volunteer.name in html and world.volunteer.member_no in html
    assert "<svg" in html  # the QR code, drawn inline
    [link] = _verify_links(html)
    check = login(world.admin).get(link)  # anyone may check, logged in or not
    visitor = Flask.test_client(client.application).get(link)
    for response in (check, visitor):
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "verify-ok" in text and "3 小时" in text  # 3 h: the balance after the page
        assert world.volunteer.name not in text  # a masked name only
        assert world.volunteer.masked_name in text


def test_an_altered_token_is_not_genuine(world: World, login, app: Flask) -> None:
    _approved(world, 60)
    html = login(world.volunteer).get("/me/statement/passbook").get_data(as_text=True)
    [link] = _verify_links(html)
    token = link.rsplit("/", 1)[1]
    tampered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    client = app.test_client()
    refused = client.get(f"/verify/{tampered}")
    assert refused.status_code == 404
    assert "verify-bad" in refused.get_data(as_text=True)
    # A page claiming a higher balance, signed with a guessed key, is refused too.
    member_id, first, last, _balance, printed, digest = URLSafeSerializer(
        "test-only-secret", salt="passbook"
    ).loads(token)
    forged = URLSafeSerializer("guessed", salt="passbook").dumps(
        [member_id, first, last, 6000, printed, digest]
    )
    assert client.get(f"/verify/{forged}").status_code == 404
    assert client.get("/verify/not-a-token").status_code == 404


def test_a_page_that_no_longer_matches_the_books_is_refused(world: World, app: Flask) -> None:
    """Even correctly signed: a balance the books never showed is not genuine."""
    _approved(world, 60)
    with app.test_request_context():
        [page], _older = passbook.pages(world.volunteer, printed_on=today_local())
        assert passbook.verify(page.token) is not None
        member_id, first, last, _balance, printed, digest = passbook._signer().loads(page.token)
        wrong = passbook._signer().dumps([member_id, first, last, 61, printed, digest])
        assert passbook.verify(wrong) is None


def test_a_long_history_prints_as_several_pages_each_verifiable(world: World, login) -> None:
    _approved(world, *([30] * (passbook.LINES_PER_PAGE + 3)))
    client = login(world.volunteer)
    html = client.get("/me/statement/passbook").get_data(as_text=True)
    links = _verify_links(html)
    assert len(links) == 2
    assert html.count('class="passbook-page"') == 2
    for link in links:
        assert client.get(link).status_code == 200


def test_a_coordinator_or_admin_prints_for_a_member_without_a_phone(world: World, login) -> None:
    _approved(world, 60)
    path = f"/members/{world.volunteer.id}/passbook"
    assert login(world.coordinator).get(path).status_code == 200
    assert login(world.admin).get(path).status_code == 200
    # Not a coordinator of the member's team? (other_coordinator's team has them: allowed.)
    assert login(world.volunteer2).get(path).status_code == 403
    assert login(world.other_admin).get(path).status_code == 403
    assert login(world.resident).get(path).status_code == 403

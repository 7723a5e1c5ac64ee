"""Forgot password without SMS (issue 9): someone the member trusts gives a one-time code."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Member, PasswordResetCode
from portal.services import family, grids, members
from portal.services import password_reset as reset
from portal.services.errors import Forbidden
from tests.support import TEST_PASSWORD, World, make_member

NEW_PASSWORD = "new-garden-2026"


def _link(a: Member, b: Member) -> None:
    link = family.propose(a, b.phone)
    family.decide(b, link.id, accept=True)
    db.session.commit()


@pytest.fixture
def daughter(world: World) -> Member:
    """李奶奶's daughter, linked to her as family."""
    daughter = make_member(world.community, "李女儿")
    _link(daughter, world.resident)
    return daughter


def _issue(actor: Member, member: Member) -> str:
    issued = reset.issue_reset_code(actor, member.id)
    db.session.commit()
    return issued.code


# --- who may give a code ---------------------------------------------------------------------


def test_who_may_give_a_member_a_code(world: World, daughter: Member) -> None:
    """Her daughter, a coordinator of a team she is in, and her community's admin; never
    herself, a stranger, another team's coordinator or another community's admin."""
    volunteer = world.volunteer  # in 助老队 (钱协调) and 巡逻队 (吴协调)
    assert reset.may_issue_reset(world.coordinator, volunteer)
    assert reset.may_issue_reset(world.other_coordinator, volunteer)
    assert reset.may_issue_reset(world.admin, volunteer)
    assert not reset.may_issue_reset(volunteer, volunteer)
    assert not reset.may_issue_reset(world.volunteer2, volunteer)
    assert not reset.may_issue_reset(world.other_admin, volunteer)
    # 李奶奶 is in no team: her daughter and the admin may, a coordinator may not.
    assert reset.may_issue_reset(daughter, world.resident)
    assert reset.may_issue_reset(world.admin, world.resident)
    assert not reset.may_issue_reset(world.coordinator, world.resident)
    assert not reset.may_issue_reset(world.resident, world.resident)
    assert not reset.may_issue_reset(world.admin, world.admin)
    with pytest.raises(Forbidden):
        reset.issue_reset_code(world.resident, world.resident.id)
    with pytest.raises(Forbidden):
        reset.issue_reset_code(world.coordinator, world.resident.id)


def test_the_grid_worker_of_her_home_grid_gives_a_code(world: World) -> None:
    """李奶奶 lives in 东区网格's micro-grid: its grid worker may give her a code (a grid
    worker knows the elders of the grid); the worker of another grid may not."""
    east = grids.create_grid(world.admin, grids.GridFields("东区网格", "", "1号楼", None))
    micro = grids.create_grid(world.admin, grids.GridFields("东一微网格", "", "1号楼", east.id))
    west = grids.create_grid(world.admin, grids.GridFields("西区网格", "", "9号楼", None))
    worker = make_member(world.community, "吴网格")
    other_worker = make_member(world.community, "郑网格")
    grids.appoint(world.admin, east.id, worker.id, "grid_worker", "")
    grids.appoint(world.admin, west.id, other_worker.id, "grid_worker", "")
    world.resident.grid_id = micro.id
    db.session.commit()
    assert reset.may_issue_reset(worker, world.resident)
    assert not reset.may_issue_reset(other_worker, world.resident)
    assert not reset.may_issue_reset(worker, world.volunteer)  # no home in the grid
    assert len(_issue(worker, world.resident)) == 8


def test_a_code_is_8_digits_hashed_audited_and_works_once(world: World, daughter: Member) -> None:
    code = _issue(daughter, world.resident)
    assert re.fullmatch(r"\d{8}", code)
    row = db.session.scalars(select(PasswordResetCode)).one()
    assert code not in row.code_hash and row.issued_by_id == daughter.id
    assert (row.expires_at - row.issued_at).total_seconds() == 15 * 60
    version = world.resident.session_version
    member = reset.reset_password(world.resident.phone, code[:4] + " " + code[4:], NEW_PASSWORD)
    db.session.commit()
    assert member is not None and member.id == world.resident.id
    assert members.authenticate(world.resident.phone, NEW_PASSWORD) is not None
    assert world.resident.session_version == version + 1
    # Used: the same code again does nothing.
    assert reset.reset_password(world.resident.phone, code, "another-pass-1") is None
    actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["member.reset_code_issue", "member.password_reset"]


def test_expired_wrong_replaced_and_guessed_codes_fail(
    world: World, daughter: Member, clock
) -> None:  # type: ignore[no-untyped-def]
    phone = world.resident.phone
    old = _issue(daughter, world.resident)
    code = _issue(world.admin, world.resident)  # a new code replaces the last
    assert reset.reset_password(phone, old, NEW_PASSWORD) is None
    assert reset.reset_password(world.volunteer.phone, code, NEW_PASSWORD) is None  # not theirs
    clock.move(minutes=16)
    assert reset.reset_password(phone, code, NEW_PASSWORD) is None  # expired
    clock.move(minutes=-16)
    # Five wrong guesses spend the code: the right one no longer works.
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(reset.MAX_TRIES):
        assert reset.reset_password(phone, wrong, NEW_PASSWORD) is None
    db.session.commit()
    assert reset.reset_password(phone, code, NEW_PASSWORD) is None
    assert members.authenticate(phone, TEST_PASSWORD) is not None


# --- through the pages -----------------------------------------------------------------------


def _shown_code(client: FlaskClient, member: Member) -> str:
    issued = client.post(f"/members/{member.id}/reset-code")
    assert issued.status_code == 303
    page = client.get(issued.headers["Location"])
    assert page.headers["Cache-Control"] == "no-store"
    match = re.search(r'id="reset-code">(\d{4}) (\d{4})<', page.get_data(as_text=True))
    assert match, "the code is shown on the issuer's screen"
    # Shown once: a reload no longer has it.
    assert 'id="reset-code"' not in client.get(issued.headers["Location"]).get_data(as_text=True)
    return match.group(1) + match.group(2)


def test_a_daughter_gives_a_code_and_her_mother_resets_her_password(
    world: World, daughter: Member, login, app: Flask
) -> None:  # type: ignore[no-untyped-def]
    mother_phone = login(world.resident)  # her old session, on her own phone
    assert mother_phone.get("/me").status_code == 200
    helper = login(daughter)
    gift = helper.get("/gift").get_data(as_text=True)
    assert f"/members/{world.resident.id}/reset-code" in gift
    code = _shown_code(helper, world.resident)

    visitor = app.test_client()
    login_page = visitor.get("/login").get_data(as_text=True)
    assert "忘记密码？" in login_page and "/password/forgot" in login_page
    form = {"phone": world.resident.phone, "code": code, "new_password": NEW_PASSWORD}
    done = visitor.post("/password/forgot", data=form)
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert members.authenticate(world.resident.phone, NEW_PASSWORD) is not None
    assert mother_phone.get("/me").status_code == 302  # her old session ended
    again = visitor.post("/password/forgot", data=form)
    assert again.status_code == 422


def test_every_failure_says_the_same_and_reveals_nothing(
    world: World, daughter: Member, login, app: Flask
) -> None:  # type: ignore[no-untyped-def]
    code = _shown_code(login(daughter), world.resident)
    visitor = app.test_client()
    answers = []
    for phone, typed in [
        (world.resident.phone, "00000000"),  # wrong
        ("13900000000", code),  # nobody has that phone
        (world.volunteer.phone, code),  # somebody else, who has no code
        (world.resident.phone, "abc"),  # not a code at all
    ]:
        response = visitor.post(
            "/password/forgot",
            data={"phone": phone, "code": typed, "new_password": NEW_PASSWORD},
        )
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        answers.append(re.search(r'id="code-error">([^<]*)<', html).group(1))  # type: ignore[union-attr]
    assert len(set(answers)) == 1 and "这个重置码不能用" in answers[0]
    short = visitor.post(
        "/password/forgot",
        data={"phone": world.resident.phone, "code": code, "new_password": "short"},
    )
    assert short.status_code == 422 and "密码至少 8 位" in short.get_data(as_text=True)
    # The short password cost no try: the code still works.
    ok = visitor.post(
        "/password/forgot",
        data={"phone": world.resident.phone, "code": code, "new_password": NEW_PASSWORD},
    )
    assert ok.status_code == 303


def test_nobody_gives_themselves_a_code_and_strangers_are_refused(world: World, login) -> None:  # type: ignore[no-untyped-def]
    me = login(world.volunteer)
    assert me.get(f"/members/{world.volunteer.id}/reset-code").status_code == 403
    assert me.post(f"/members/{world.volunteer.id}/reset-code").status_code == 403
    stranger = login(world.volunteer2)
    assert stranger.post(f"/members/{world.resident.id}/reset-code").status_code == 403
    assert db.session.scalar(select(PasswordResetCode.id)) is None
    assert (
        login(world.coordinator)
        .get(f"/teams/{world.team.id}")
        .get_data(as_text=True)
        .count("/reset-code")
        >= 2
    )


def test_wrong_codes_are_rate_limited_per_phone(
    world: World, daughter: Member, database_url: str, make_app
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "PASSWORD_HASH": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        }
    )
    client = app.test_client()
    wrong = {"phone": world.resident.phone, "code": "12345678", "new_password": NEW_PASSWORD}
    codes = [client.post("/password/forgot", data=wrong).status_code for _ in range(6)]
    assert codes == [422] * 5 + [429]


def test_the_admin_finds_a_member_by_card_number(world: World, login) -> None:  # type: ignore[no-untyped-def]
    admin = login(world.admin)
    assert "/members/reset-code" in admin.get("/admin").get_data(as_text=True)
    found = admin.get(f"/members/reset-code?member_no={world.resident.member_no}")
    assert found.status_code == 303
    assert found.headers["Location"].endswith(f"/members/{world.resident.id}/reset-code")
    missing = admin.get("/members/reset-code?member_no=000000")
    assert missing.status_code == 422 and "没有这个会员号" in missing.get_data(as_text=True)
    # Finding is not permission: the next page still checks who may give a code.
    other = login(world.other_admin)
    assert other.get(f"/members/reset-code?member_no={world.resident.member_no}").status_code == 422
    assert admin.post(f"/members/{world.resident.id}/reset-code").status_code == 303

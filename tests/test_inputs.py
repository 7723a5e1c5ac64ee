"""No input gives a 500: ids, cursors and numbers too big or in odd digits, files and control
characters where text belongs, off-site `next` targets, and a database refusal at commit."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.forms import safe_next
from portal.models import FamilyLink, FormKey, HourLog, Member
from tests.support import TEST_PASSWORD, World, days_ago, form_key, make_community

HUGE = "99999999999999999999"
TOO_BIG_FOR_POSTGRES = "2147483648"  # 2^31: INTEGER ids on PostgreSQL stop one below


def _logs() -> int:
    return db.session.scalar(select(func.count(HourLog.id)))


@pytest.mark.parametrize(
    "path",
    [
        f"/teams/{HUGE}",
        f"/teams/{TOO_BIG_FOR_POSTGRES}",
        f"/activities/{HUGE}",
        f"/requests/{TOO_BIG_FOR_POSTGRES}",
        f"/admin/services/{HUGE}",
        f"/admin/teams/{TOO_BIG_FOR_POSTGRES}",
    ],
)
def test_an_id_too_large_for_the_database_is_not_found(
    world: World, login: Callable, path: str
) -> None:
    assert login(world.admin).get(path).status_code == 404


def test_a_post_to_an_id_too_large_is_not_found(world: World, login: Callable) -> None:
    client = login(world.coordinator)
    assert client.post(f"/approvals/{HUGE}/approve", data={"once": "0" * 32}).status_code == 404
    assert client.post(f"/requests/{TOO_BIG_FOR_POSTGRES}/take").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "/me/statement?before=" + TOO_BIG_FOR_POSTGRES,
        "/me/statement?before=" + HUGE,
        "/me/statement?before=²",
        "/me/statement?before=" + "9" * 5000,
        "/hours?before=²",
        "/hours?before=" + TOO_BIG_FOR_POSTGRES,
        "/notifications?before=³",
        "/notifications?before=" + TOO_BIG_FOR_POSTGRES,
        "/approvals?after=²",
        "/approvals?after=" + TOO_BIG_FOR_POSTGRES,
    ],
)
def test_an_odd_cursor_shows_the_first_page(world: World, login: Callable, query: str) -> None:
    assert login(world.coordinator).get(query).status_code == 200


def test_parse_int_takes_only_plain_digits_within_bounds() -> None:
    from portal.inputs import parse_int

    assert parse_int("90") == 90
    assert parse_int(" ９０ ") == 90  # full-width, as Chinese keyboards type
    for bad in ["²", "٣", "1E+3", "-5", "+5", "1.5", "", None, "9" * 5000, HUGE, "2147483648"]:
        assert parse_int(bad) is None, bad
    assert parse_int("2147483647") == 2**31 - 1


def test_a_community_too_large_is_asked_for_again(client: FlaskClient, app_ctx: Flask) -> None:
    make_community("幸福里")
    db.session.commit()
    response = client.post(
        "/register",
        data={
            "name": "王阿姨",
            "phone": "13912345678",
            "password": "long-enough-pw",
            "community": HUGE,
            "birth_year": "1956",
        },
    )
    assert response.status_code == 422
    assert "请选择" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Member.id))) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("minutes", "²"),
        ("minutes", "9" * 5000),
        ("minutes", HUGE),
        ("hours", "1E+999999"),
        ("hours", "9" * 5000),
        ("hours", "NaN"),
        ("team", HUGE),
        ("service", "²"),
    ],
)
def test_odd_numbers_in_a_log_get_a_message(
    world: World, login: Callable, field: str, value: str
) -> None:
    client = login(world.volunteer)
    data = {
        "once": form_key(client.get("/hours/new").get_data(as_text=True)),
        "date": days_ago(1),
        "minutes": "60",
        "team": str(world.team.id),
        "service": str(world.service.id),
        field: value,
    }
    if field == "hours":
        data["minutes"] = ""
    response = client.post("/hours/new", data=data)
    assert response.status_code == 422
    assert _logs() == 0


def test_full_width_minutes_are_read_as_digits(world: World, login: Callable) -> None:
    client = login(world.volunteer)
    response = client.post(
        "/hours/new",
        data={
            "once": form_key(client.get("/hours/new").get_data(as_text=True)),
            "date": days_ago(1),
            "minutes": "６０",
            "team": str(world.team.id),
            "service": str(world.service.id),
        },
    )
    assert response.status_code == 303
    assert db.session.scalar(select(HourLog.minutes)) == 60


def test_a_file_in_a_text_field_is_refused(world: World, login: Callable) -> None:
    client = login(world.volunteer)
    response = client.post(
        "/family/link",
        data={"phone": (io.BytesIO(world.resident.phone.encode()), "phone.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "文件" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(FamilyLink.id))) == 0


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\x1b[31m", "\x7f"])
def test_control_characters_in_text_are_refused(world: World, login: Callable, bad: str) -> None:
    client = login(world.volunteer)
    response = client.post(
        "/hours/new",
        data={
            "once": form_key(client.get("/hours/new").get_data(as_text=True)),
            "date": days_ago(1),
            "minutes": "60",
            "team": str(world.team.id),
            "service": str(world.service.id),
            "note": f"陪伴{bad}聊天",
        },
    )
    assert response.status_code == 400
    assert "控制字符" in response.get_data(as_text=True)
    assert _logs() == 0


def test_newlines_and_tabs_in_a_note_are_kept(world: World, login: Callable) -> None:
    client = login(world.volunteer)
    response = client.post(
        "/hours/new",
        data={
            "once": form_key(client.get("/hours/new").get_data(as_text=True)),
            "date": days_ago(1),
            "minutes": "60",
            "team": str(world.team.id),
            "service": str(world.service.id),
            "note": "第一行\r\n第二行\t完",
        },
    )
    assert response.status_code == 303
    assert db.session.scalar(select(HourLog.note)) == "第一行\r\n第二行\t完"


def test_a_nul_byte_at_registration_is_refused(client: FlaskClient, app_ctx: Flask) -> None:
    community = make_community("幸福里")
    db.session.commit()
    response = client.post(
        "/register",
        data={
            "name": "王\x00阿姨",
            "phone": "13912345678",
            "password": "long-enough-pw",
            "community": str(community.id),
            "birth_year": "1956",
        },
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Member.id))) == 0


OFF_SITE = [
    "//evil.example/x",
    "/\\evil.example/x",
    "\\\\evil.example",
    "/\t/evil.example/x",
    "/\n/x",
    "/\r/evil.example",
    " //evil.example",
    "/\x0b/evil.example",
    "/\u3000/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "",
    None,
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_safe_next_refuses_every_off_site_form(target: str | None) -> None:
    assert safe_next(target, "/me") == "/me"


@pytest.mark.parametrize("target", ["/me", "/requests/5?view=mine", "/teams/3#join"])
def test_safe_next_keeps_local_paths(target: str) -> None:
    assert safe_next(target, "/me") == target


@pytest.mark.parametrize("raw_next", ["/%0A/x", "/%09/evil.example/x", "/%0D/evil.example"])
def test_login_never_redirects_off_site(client: FlaskClient, world: World, raw_next: str) -> None:
    response = client.post(
        f"/login?next={raw_next}",
        data={"phone": world.resident.phone, "password": TEST_PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/me"


def test_a_constraint_broken_at_commit_is_a_refusal(
    world: World, login: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IntegrityError raised by the database (here: a duplicate form key slipped in by the
    service) is shown as a message on the form, and nothing is saved."""
    from portal.services import hours as hour_service

    volunteer_id = world.volunteer.id
    db.session.add(FormKey(key="f" * 32, member_id=volunteer_id))
    db.session.commit()
    real = hour_service.log_hours

    def clashing(*args, **kwargs):  # type: ignore[no-untyped-def]
        log = real(*args, **kwargs)
        db.session.add(FormKey(key="f" * 32, member_id=volunteer_id))
        return log

    monkeypatch.setattr(hour_service, "log_hours", clashing)
    client = login(world.volunteer)
    response = client.post(
        "/hours/new",
        data={
            "once": form_key(client.get("/hours/new").get_data(as_text=True)),
            "date": days_ago(1),
            "minutes": "60",
            "team": str(world.team.id),
            "service": str(world.service.id),
        },
    )
    assert response.status_code == 422
    assert "没能保存" in response.get_data(as_text=True)
    assert _logs() == 0


def test_a_value_too_long_for_its_column_is_a_refusal(
    world: World, login: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a string longer than its column is a DataError (SQLite stores it): either
    way the member sees a message or a saved page, never a 500."""
    from portal.services import family

    resident_id = world.resident.id

    def too_long(member, phone):  # type: ignore[no-untyped-def]
        link = FamilyLink(proposer_id=member.id, relative_id=resident_id)
        db.session.add(link)
        db.session.flush()
        member.phone = "1" * 500  # String(11)
        return link

    monkeypatch.setattr(family, "propose", too_long)
    response = login(world.volunteer).post("/family/link", data={"phone": "13900000000"})
    assert response.status_code in (303, 422)
    if db.engine.dialect.name == "postgresql":
        assert response.status_code == 422
        assert db.session.scalar(select(func.count(FamilyLink.id))) == 0

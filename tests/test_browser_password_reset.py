"""Forgot password in the browser (issue 9): a daughter gives her mother a code on her own
phone; the mother sets a new password; her old session on another phone is over."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from portal.extensions import db
from portal.services import family
from tests.browser_fixtures import NewPage, logged_in
from tests.support import build_world, make_member

pytestmark = pytest.mark.browser


def test_a_relative_gives_a_code_and_the_mother_resets_her_password(
    new_page: NewPage, app_ctx: Flask
) -> None:
    world = build_world()
    mother = world.resident
    daughter = make_member(world.community, "李女儿")
    link = family.propose(daughter, mother.phone)
    family.decide(mother, link.id, accept=True)
    db.session.commit()

    old_phone = logged_in(new_page, mother, "reset-old-session")  # still logged in somewhere

    helper = logged_in(new_page, daughter, "reset-daughter")
    helper.goto("/gift")
    helper.page.get_by_role("link", name=re.compile("TA忘记密码")).click()
    expect(helper.page.get_by_role("heading", level=1)).to_contain_text("李奶奶")
    helper.page.get_by_role("button", name="生成重置码").click()
    code = helper.page.locator("#reset-code").inner_text()
    assert re.fullmatch(r"\d{4} \d{4}", code)
    helper.check("reset-code-shown")

    p = new_page("reset-mother")
    p.goto("/login")
    p.page.get_by_role("link", name="忘记密码？").click()
    expect(p.page.get_by_role("heading", level=1)).to_have_text("忘记密码")
    p.check("forgot-password")
    p.page.get_by_label("手机号").fill(mother.phone)
    p.page.get_by_label("重置码").fill(code)
    p.page.get_by_label("新密码").fill("garden-path-75")
    p.page.get_by_role("button", name="设置新密码").click()
    expect(p.page.locator(".flashes")).to_contain_text("密码已更改")
    p.page.get_by_label("手机号").fill(mother.phone)
    p.page.get_by_label("密码", exact=True).fill("garden-path-75")
    p.page.locator("main").get_by_role("button", name="登录").click()
    expect(p.page).to_have_url(re.compile(r"/me$"))

    # The phone she was logged in on before is logged out.
    old_phone.page.goto(old_phone.live.url + "/me")
    expect(old_phone.page).to_have_url(re.compile(r"/login"))

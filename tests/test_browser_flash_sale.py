"""In Chromium: a timed sale's confirmation page counts down and enables the button at the opening, without a
reload; the reward's own page counts down too."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.test_browser_flows import PHONE, _login, scalar
from volunteer.db import utcnow
from volunteer.models import Voucher

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]


def test_the_button_opens_at_the_instant_without_a_reload(live_server, browser_factory, make_volunteer,
                                                          make_reward):
    volunteer = make_volunteer(points=300)
    reward = make_reward(cost=100, stock=100, per_volunteer_limit=1, title="西湖游船票",
                         on_sale_from=utcnow() + timedelta(seconds=12))  # time for two pages on a busy machine
    reward_id = reward.id
    base = live_server.url
    phone = browser_factory().new_context(**PHONE).new_page()
    _login(phone, base, volunteer)
    loads = []
    phone.on("request", lambda r: loads.append(r.url) if r.resource_type == "document" else None)
    phone.goto(base + f"/volunteer/rewards/{reward_id}")
    expect(phone.locator("[data-countdown-text]")).to_have_text(re.compile(r"距开售还有 00:00:(0[1-9]|1[0-2])"))
    phone.click("[data-redeem]")  # to the confirmation, before the opening
    button = phone.locator("[data-confirm-redeem]")
    expect(button).to_be_disabled()
    expect(phone.locator("[data-countdown-text]")).to_have_text(re.compile(r"距开售还有 00:00:(0[1-9]|1[0-2])"))
    expect(button).to_be_enabled(timeout=20_000)
    expect(phone.locator("[data-countdown-text]")).to_have_text("现已开售！")
    assert loads == [base + f"/volunteer/rewards/{reward_id}",
                     base + f"/volunteer/rewards/{reward_id}/redeem"]  # the page was not reloaded
    button.click()
    phone.wait_for_selector("[data-code]")
    assert "兑换成功" in phone.inner_text(".flash")
    assert scalar(select(func.count(Voucher.id))) == 1

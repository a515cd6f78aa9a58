"""In Chromium at phone widths: the coordinator's and the admin's menu is one row that scrolls sideways, not a heap
of ragged lines; every item can be reached and tapped, the page itself never scrolls sideways, and the page being
shown is marked (and, with scripts on, scrolled into sight)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
#: the narrow end of phones in use (360) and a common one (390), in Chinese and in English (longer labels)
PHONES = [(360, "zh-CN"), (390, "en-US")]

MEASURE = """() => {
    const nav = document.querySelector("header nav.nav");
    const items = [...nav.children].map(el => el.getBoundingClientRect())
        .map(r => ({top: Math.round(r.top), bottom: Math.round(r.bottom), height: r.height, width: r.width}));
    const box = nav.getBoundingClientRect();
    return {items, left: box.left, right: box.right, height: box.height, scrollWidth: nav.scrollWidth,
            clientWidth: nav.clientWidth, pageWidth: document.documentElement.scrollWidth,
            viewport: window.innerWidth};
}"""


def sign_in(page, base: str, mobile: str) -> None:
    page.goto(base + "/login")
    page.fill("#f-mobile", mobile)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")


def fully_visible(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.evaluate("window.innerWidth")
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5


@pytest.mark.parametrize(("width", "locale"), PHONES)
@pytest.mark.parametrize("role", ["coordinator", "admin"])
@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_the_staff_menu_is_one_row_on_a_phone(live_server, browser_factory, make_coordinator, make_admin, role,
                                              width, locale, script):
    user = make_coordinator() if role == "coordinator" else make_admin()
    mobile, base = user.mobile, live_server.url
    context = browser_factory().new_context(viewport={"width": width, "height": 800}, locale=locale,
                                            is_mobile=True, has_touch=True, java_script_enabled=script)
    page = context.new_page()
    sign_in(page, base, mobile)
    page.goto(base + "/coordinator/shifts")
    found = page.evaluate(MEASURE)
    assert len(found["items"]) >= 6, found
    # one row: every item shares the first one's line (the old menu wrapped into four to six ragged lines)
    assert {item["top"] for item in found["items"]} == {found["items"][0]["top"]}, found
    assert found["height"] < 70, found
    # inside the screen, and the page itself does not scroll sideways: the row scrolls within itself
    assert found["left"] >= 0 and found["right"] <= found["viewport"] + 0.5, found
    assert found["pageWidth"] <= found["viewport"], found
    if role == "admin":
        assert found["scrollWidth"] > found["clientWidth"], found  # thirteen items: more than a phone's width
    # a finger's target, both ways: a two-character item ("首页") was 36 px wide
    assert all(item["height"] >= 44 and item["width"] >= 44 for item in found["items"]), found
    # the last item (the text-size switch) can be scrolled to and then sits wholly on the screen
    last = page.locator("header nav.nav > :last-child")
    last.scroll_into_view_if_needed()
    assert fully_visible(page, last)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # the page being shown is marked
    current = page.locator("header nav.nav a[aria-current=page]")
    assert current.count() == 1 and current.get_attribute("href") == "/coordinator/shifts"
    context.close()


def test_the_current_page_far_along_the_row_is_scrolled_into_sight(live_server, browser_factory, make_admin):
    mobile, base = make_admin().mobile, live_server.url
    page = browser_factory().new_context(viewport={"width": 360, "height": 800}, locale="zh-CN", is_mobile=True,
                                         has_touch=True).new_page()
    sign_in(page, base, mobile)
    page.goto(base + "/admin/import")
    current = page.locator("header nav.nav a[aria-current=page]")
    assert current.get_attribute("href") == "/admin/import"
    page.wait_for_function("document.querySelector('header nav.nav').scrollLeft > 0")
    assert fully_visible(page, current)
    # a page under a menu item (a new shift is under "Shifts") marks that item as its section
    page.goto(base + "/coordinator/shifts/new")
    assert page.locator("header nav.nav a[aria-current=page]").count() == 0
    assert page.locator("header nav.nav a[aria-current=true]").get_attribute("href") == "/coordinator/shifts"

"""In Chromium on a 360 px phone, in Chinese and in English: no page scrolls sideways (a wide table scrolls in its
own box, the roster and the approvals become a list of cards), no word, name or date is broken into a column of
single characters, and what a finger taps (menu items, lone links, small buttons, checkboxes, a reward's card) is
large enough."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from volunteer.demo import DEMO_PASSWORD
from volunteer.extensions import db
from volunteer.models import Shift, User
from volunteer.services import attendance, shifts

pytestmark = [pytest.mark.browser, pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
LOCALES = ["zh-CN", "en-US"]
WIDTH = 360
#: a long name, as some volunteers have (a four-character surname and given name, with a separator dot)
LONG_NAME = "欧阳·买买提艾力克斯江"

#: What, on the page shown, breaks badly. A text wrapped onto several lines whose widest line is under ~2
#: characters is a column of single characters; a date (2026-11-23) or a time (08:30) split over lines is unreadable.
#: Hidden text and the scrolling staff menu are left out.
BROKEN = r"""() => {
    const bad = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const lines = range => new Set([...range.getClientRects()].filter(r => r.width > 0)
        .map(r => Math.round(r.top))).size;
    for (let node; (node = walker.nextNode());) {
        const el = node.parentElement, text = node.textContent;
        if (!text.trim() || !el.getClientRects().length || el.closest("nav.nav, .tabbar, script, style")) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        const size = parseFloat(getComputedStyle(el).fontSize);
        if (text.trim().length >= 2 && lines(range) >= 2 && Math.max(...rects.map(r => r.width)) < 2.2 * size)
            bad.push({column: text.trim().slice(0, 40), lines: lines(range)});
        for (const m of text.matchAll(/\d{4}-\d{2}-\d{2}|\d{2}:\d{2}/g)) {
            const part = document.createRange();
            part.setStart(node, m.index);
            part.setEnd(node, m.index + m[0].length);
            if (lines(part) > 1) bad.push({date: m[0], lines: lines(part)});
        }
    }
    return bad;
}"""
PAGE_WIDTH = "() => ({page: document.documentElement.scrollWidth, viewport: window.innerWidth})"


@pytest.fixture
def locale() -> str:
    """The browser's language where a test does not choose one."""
    return "zh-CN"


@pytest.fixture
def world(app, runner, locale):
    """The demo data with a volunteer of a long name on today's shift, a record waiting for approval, and the
    demo volunteer signed up for a shift to come (so there is a sign-up to cancel); everyone's language is the
    test's (a user's own choice wins over the browser's)."""
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    for user in db.session.scalars(select(User)):
        user.locale = "en" if locale.startswith("en") else "zh_CN"
    coordinator = db.session.scalar(select(User).where(User.mobile == "13800000002"))
    long_named = db.session.scalar(select(User).where(User.mobile == "13800000006"))
    long_named.name = LONG_NAME
    today = db.session.scalar(select(Shift).where(Shift.title == "断桥周边治安巡逻"))
    attendance.record_manual(coordinator, today.id, db.session.scalar(
        select(User.id).where(User.mobile == "13800000005")))
    coming = db.session.scalar(select(Shift.id).where(Shift.title == "北山街文明劝导"))
    volunteer = db.session.scalar(select(User).where(User.mobile == "13800000004"))
    shifts.sign_up(volunteer, coming)
    db.session.commit()
    return {"shift_id": today.id}


def phone(browser_factory, locale: str):
    context = browser_factory().new_context(viewport={"width": WIDTH, "height": 780}, locale=locale,
                                            is_mobile=True, has_touch=True)
    return context.new_page()


def sign_in(page, base: str, mobile: str) -> None:
    page.goto(base + "/login")
    page.fill("#f-mobile", mobile)
    page.fill("#f-password", DEMO_PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")
    asked = page.evaluate("navigator.language")
    assert page.locator("html").get_attribute("lang").startswith(asked[:2]), asked  # the page is in that language


def check_layout(page, url: str) -> None:
    """The page at url fits the phone's width and breaks no text into a column."""
    page.goto(url)
    widths = page.evaluate(PAGE_WIDTH)
    assert widths["page"] <= widths["viewport"], (url, widths)
    assert page.evaluate(BROKEN) == [], url


def box(page, selector: str, nth: int = 0) -> dict:
    locator = page.locator(selector)
    assert locator.count() > nth, selector
    found = locator.nth(nth).bounding_box()
    assert found is not None, selector
    return found


def assert_tappable(page, selector: str, least: float = 44) -> None:
    """Every element matching selector is at least least × least px."""
    locator = page.locator(selector)
    assert locator.count() > 0, selector
    for i in range(locator.count()):
        found = locator.nth(i).bounding_box()
        assert found["width"] >= least and found["height"] >= least, (selector, i, found)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_volunteers_pages_fit_a_phone(live_server, browser_factory, world, locale):
    page, base = phone(browser_factory, locale), live_server.url
    sign_in(page, base, "13800000004")
    for path in ("/reports/mine", "/volunteer/points", "/volunteer/history", "/volunteer/rewards", "/volunteer/me",
                 "/volunteer/shifts", "/reports/mine/map", "/home"):
        check_layout(page, base + path)
    page.goto(base + "/reports/mine")
    # the closed report's title is one or two lines across the row, not "第/3/号/·/邻/里/纠/纷"
    for title in page.locator("ul.menu-list li b").all():
        line = float(title.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)"))
        assert title.bounding_box()["height"] < 2.5 * line, title.inner_text()
    assert box(page, "a.tap")["height"] >= 44  # "Show on a map"
    assert box(page, "header .brand")["height"] >= 44
    page.goto(base + "/reports/mine/map")
    assert box(page, "a.tap")["height"] >= 44  # "Back to the list"
    page.goto(base + "/volunteer/shifts")
    assert_tappable(page, "form[action$='/cancel'] button")
    # a reward's card is one link: a tap anywhere on it (here: its lower part, below the title) opens the reward
    page.goto(base + "/volunteer/rewards")
    card = page.locator("article.card").first
    assert card.locator("a, button, input").count() == 1
    hit = card.evaluate("""el => { el.scrollIntoView({block: "start"}); const r = el.getBoundingClientRect();
        const a = document.elementFromPoint(r.left + r.width / 2, r.bottom - 12);
        return a && a.closest("a") ? a.closest("a").getAttribute("href") : null; }""")
    assert hit == card.locator("a").get_attribute("href")
    lower = card.bounding_box()  # scrolled to the top above
    page.mouse.click(lower["x"] + lower["width"] / 2, lower["y"] + lower["height"] - 12)
    page.wait_for_url("**/volunteer/rewards/*")


@pytest.mark.parametrize("locale", LOCALES)
def test_the_coordinators_pages_fit_a_phone(live_server, browser_factory, world, locale):
    page, base = phone(browser_factory, locale), live_server.url
    sign_in(page, base, "13800000002")
    roster = f"/coordinator/shifts/{world['shift_id']}"
    for path in ("/coordinator/shifts", roster, "/coordinator/approvals", "/reports/speed", "/reports/queue",
                 "/reports/map", "/home"):
        check_layout(page, base + path)
    # the roster: each volunteer a card; the name on one line, the time inputs inside the card
    page.goto(base + roster)
    card = box(page, "main section.card", 1)
    name = page.get_by_text(LONG_NAME, exact=True)
    line = float(name.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)"))
    assert name.bounding_box()["height"] < 1.5 * line
    inputs = page.locator("input[type=datetime-local]")
    assert inputs.count() >= 2
    for i in range(inputs.count()):
        found = inputs.nth(i).bounding_box()
        assert found["x"] >= card["x"] and found["x"] + found["width"] <= card["x"] + card["width"], found
        assert found["width"] >= card["width"] * 0.75, found  # as wide as the card, not squeezed into a column
    # the approvals: the reject button is one line and the reason box is wide enough to type in
    page.goto(base + "/coordinator/approvals")
    reject = box(page, "form[action$='/reject'] button")
    assert reject["height"] < 70, reject
    assert box(page, "input[name=reason]")["width"] >= 200
    # the report speed table scrolls inside its box, not the page
    page.goto(base + "/reports/speed")
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
    # the staff menu's items and a lone link are a finger's size
    assert_tappable(page, "header nav.nav > a")
    assert box(page, "header .brand")["height"] >= 44
    page.goto(base + "/reports/queue")
    assert box(page, "a.tap")["height"] >= 44  # "Show on a map"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_merchants_pages_fit_a_phone(live_server, browser_factory, world, locale):
    page, base = phone(browser_factory, locale), live_server.url
    sign_in(page, base, "13800000003")
    for path in ("/merchant/rewards", "/merchant/history", "/merchant/settlement", "/home"):
        check_layout(page, base + path)
    page.goto(base + "/merchant/rewards")
    assert_tappable(page, "form[action*='restock'] button")
    assert_tappable(page, "input[type=checkbox]", least=24)
    assert_tappable(page, "header nav.nav > a")


def test_wide_screens_keep_the_tables(live_server, browser_factory, world):
    """On a desktop the roster and the approvals are still tables with their heading row."""
    page = browser_factory().new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    sign_in(page, live_server.url, "13800000002")
    for path in (f"/coordinator/shifts/{world['shift_id']}", "/coordinator/approvals"):
        page.goto(live_server.url + path)
        assert page.locator("table thead").first.is_visible()
        assert page.locator("table tbody tr").first.evaluate("el => getComputedStyle(el).display") == "table-row"

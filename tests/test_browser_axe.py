"""In Chromium at phone size, in Chinese: axe-core finds no accessibility problem on any page of any role.

axe-core comes from npm (tests/package.json, installed by `make test`). It is evaluated through Playwright's
DevTools connection, which the page's Content-Security-Policy (script-src 'self') does not govern, so the pages
are checked exactly as they are served: no test-only route, no policy switched off.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.facekit import obama_enrolment
from volunteer.config import running_in_ci
from volunteer.demo import DEMO_PASSWORD
from volunteer.extensions import db
from volunteer.models import Reward, RewardStatus, Role, Shift, User
from volunteer.services import attendance, certificates, face_id, ledger, rewards

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("photos"),
              pytest.mark.app_config(WTF_CSRF_ENABLED=True)]
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}
ROLES = [Role.VOLUNTEER, Role.COORDINATOR, Role.MERCHANT, Role.ADMIN]


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's source, or a skip (a failure in CI) when `npm ci` has not run."""
    if not AXE.exists():
        message = f"{AXE} is missing: run `make axe` (npm ci in tests/)"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def axe_violations(page, axe_source: str) -> list[dict]:
    """Run every axe rule that applies by default (WCAG 2.x A and AA, and axe's best practices) on the page."""
    page.evaluate(axe_source)
    return page.evaluate("""axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(" "), summary: n.failureSummary}))})))""")


@pytest.fixture
def world(app, runner):
    """The demo data plus one of everything a page can show: a voucher (redeemed a minute ago, so the
    confirmation page warns), a record waiting for approval, enrolled face data, a certificate."""
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    people = {role: db.session.scalar(select(User).where(User.role == role).order_by(User.id)) for role in ROLES}
    volunteer = people[Role.VOLUNTEER]
    second = db.session.scalar(select(User).where(User.mobile == "13800000005"))
    # a reward of the demo till's own merchant (the demo has several sponsors; another's voucher is a 404 there)
    reward = db.session.scalar(select(Reward).where(Reward.merchant_id == people[Role.MERCHANT].merchant_id,
                                                   Reward.status == RewardStatus.ACTIVE).order_by(Reward.points_cost))
    ledger.credit(volunteer.id, reward.points_cost, "adjustment", "axe-world:points", note="axe")
    db.session.commit()
    voucher = rewards.redeem_reward(volunteer.id, reward.id, "axe-world")
    today = db.session.scalar(select(Shift).where(Shift.title == "断桥周边治安巡逻"))
    attendance.record_manual(people[Role.COORDINATOR], today.id, second.id)
    face_id.give_consent(volunteer.id)
    face_id.enrol(volunteer.id, obama_enrolment())
    certificate, _ = certificates.issue_certificate(volunteer)
    db.session.commit()
    ints = {"reward_id": reward.id, "voucher_id": voucher.id, "shift_id": today.id, "user_id": second.id,
            "attendance_id": 1, "request_id": 1, "report_id": 1}
    codes = {"merchant.voucher": voucher.code, "main.verify_certificate": certificate.code}
    codes["open311.service_definition"] = "safety.open_manhole"  # JSON, skipped by check_pages; the URL needs it
    ints.setdefault("photo_id", 1)  # report photos and Open311 media: not HTML, skipped, but the URL needs one
    ints.setdefault("report_id", 1)  # Open311 requests/<id>.json is public (JSON, skipped)
    mobiles = {role: user.mobile for role, user in people.items()}
    db.session.commit()  # plain values only from here: the live server must not wait for this thread's lock
    return {"mobiles": mobiles, "ints": ints, "codes": codes}


def pages_of(app, role: Role | None, world: dict) -> list[str]:
    """Every page (GET) this role may open, and every page for anybody, with the demo world's ids filled in;
    role None: the pages for anybody only."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "main.healthz", "admin.export",
                                                          "reports.photo", "reports.nearby_reports",
                                                          "coordinator.check_in_photo"):  # no page
            continue
        allowed = getattr(app.view_functions[rule.endpoint], "allowed_roles", None)
        if allowed is not None and role not in allowed:
            continue
        values = {}
        for name in rule.arguments:
            if name == "code":
                values[name] = world["codes"][rule.endpoint]
            else:
                values[name] = world["ints"][name]  # a new kind of page: give the world one of it
        with app.test_request_context():
            from flask import url_for

            paths.append(url_for(rule.endpoint, **values))
    return sorted(set(paths))


def check_pages(context, base: str, paths: list[str], axe_source: str, found: dict, large: bool = False) -> None:
    page = context.new_page()
    for path in paths:
        head = context.request.get(base + path, max_redirects=0)
        if head.status in (301, 302, 303) or "text/html" not in head.headers.get("content-type", ""):
            continue  # a PDF or CSV download, or a redirect to a page of the list
        response = page.goto(base + path)
        assert response.status == (404 if path == "/no-such-page" else 200), path  # checking an error page proves little
        assert page.locator("html.large-text").count() == (1 if large else 0), path
        problems = axe_violations(page, axe_source)
        if problems:
            found[path + (" (larger text)" if large else "")] = problems
    page.close()


def login(context, base: str, mobile: str) -> None:
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#f-mobile", mobile)
    page.fill("#f-password", DEMO_PASSWORD)
    page.click("button[type=submit].btn-wide")
    page.wait_for_url(base + "/home")
    page.close()


def test_no_page_of_any_role_has_an_accessibility_violation(app, world, live_server, browser_factory, axe_source):
    browser = browser_factory()
    base = live_server.url
    found: dict = {}
    visited = 0

    anonymous = browser.new_context(**PHONE)
    public = pages_of(app, None, world) + ["/login", "/register", "/no-such-page"]
    check_pages(anonymous, base, public, axe_source, found)
    visited += len(public)
    anonymous.close()

    for role in ROLES:
        context = browser.new_context(**PHONE)
        login(context, base, world["mobiles"][role])
        paths = pages_of(app, role, world)
        assert paths, role
        check_pages(context, base, paths, axe_source, found)
        visited += len(paths)
        if role == Role.VOLUNTEER:  # and again in larger text, the setting for older eyes
            page = context.new_page()
            page.goto(base + "/volunteer/me")
            page.get_by_role("button", name="大字显示：关").click()
            page.get_by_role("button", name="大字显示：开").wait_for()
            page.close()
            check_pages(context, base, paths, axe_source, found, large=True)
        context.close()

    assert visited > 50  # every page of every role, not a handful
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)

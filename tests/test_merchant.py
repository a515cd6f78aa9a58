"""The merchant's till: messages, exactly-once redemption under a race, IDOR, guessing, history, settlement CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.concurrency import race
from tests.conftest import both_databases
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import format_local
from volunteer.models import RestockRequest, Reward, RewardStatus, User, Voucher, VoucherStatus
from volunteer.services import merchants, rewards

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")


@pytest.fixture
def issued(app, make_volunteer, make_staff, make_reward):
    staff = make_staff()
    volunteer = make_volunteer("张建华", points=500)
    volunteer.mobile = "13812345678"
    db.session.commit()
    reward = make_reward(merchant=staff.merchant, cost=100, stock=5, title="灵隐门票")
    voucher = rewards.redeem_reward(volunteer.id, reward.id, "k1")
    return staff, volunteer, reward, voucher


def test_masking():
    assert merchants.mask_name("张建华") == "张*华"
    assert merchants.mask_name("李强") == "李*"
    assert merchants.mask_name("欧阳小明") == "欧**明"
    assert merchants.mask_mobile("13812345678") == "138****5678"


def test_honour_once_then_already_redeemed_names_time_and_staff(issued):
    staff, _, _, voucher = issued
    done = merchants.honour_voucher(staff, voucher.code.lower())
    assert done.status == VoucherStatus.REDEEMED and done.redeemed_by_id == staff.id
    with pytest.raises(merchants.AlreadyRedeemedError) as info:
        merchants.honour_voucher(staff, rewards.format_code(voucher.code))
    assert info.value.text.startswith("Already redeemed at ") and info.value.text.endswith(f"by {staff.name}.")


def test_expired_voucher(issued):
    staff, _, _, voucher = issued
    db.session.execute(update(Voucher).where(Voucher.id == voucher.id)
                       .values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    with pytest.raises(merchants.VoucherExpiredError) as info:
        merchants.honour_voucher(staff, voucher.code)
    assert "expired on" in info.value.text
    assert db.session.get(Voucher, voucher.id).status == VoucherStatus.ISSUED


def test_cancelled_voucher(issued):
    staff, volunteer, _, voucher = issued
    rewards.cancel_voucher(volunteer.id, voucher.id)
    with pytest.raises(merchants.VoucherCancelledError) as info:
        merchants.honour_voucher(staff, voucher.code)
    assert info.value.text == "This voucher was cancelled by the volunteer and cannot be used."


@pytest.mark.parametrize("typed", ["", "nonsense", "0" * 20, "ABCD-EFGH"])
def test_unknown_codes(issued, typed):
    staff = issued[0]
    with pytest.raises(merchants.UnknownVoucherError) as info:
        merchants.honour_voucher(staff, typed)
    assert info.value.text == "No voucher of yours has this code. Check the code and try again."


def test_another_merchants_voucher_looks_exactly_like_an_unknown_code(issued, make_staff):
    _, _, _, voucher = issued
    other = make_staff(name="别家收银员")
    with pytest.raises(merchants.UnknownVoucherError) as theirs:
        merchants.honour_voucher(other, voucher.code)
    with pytest.raises(merchants.UnknownVoucherError) as unknown:
        merchants.honour_voucher(other, "Z" * 20)
    assert theirs.value.text == unknown.value.text and theirs.value.status_code == unknown.value.status_code
    assert db.session.get(Voucher, voucher.id).status == VoucherStatus.ISSUED


def test_another_merchants_voucher_page_reveals_nothing(client, login, issued, make_staff):
    _, _, _, voucher = issued
    login(make_staff(name="别家收银员"))
    client.post("/language/en")
    theirs = client.get(f"/merchant/v/{voucher.code}")
    unknown = client.get("/merchant/v/ZZZZZZZZZZZZZZZZZZZZ")
    assert theirs.status_code == unknown.status_code == 404
    strip = lambda body: body.replace(voucher.code, "").replace("ZZZZZZZZZZZZZZZZZZZZ", "")  # noqa: E731
    assert strip(theirs.get_data(as_text=True)) == strip(unknown.get_data(as_text=True))
    assert client.post(f"/merchant/v/{voucher.code}/redeem").status_code == 404


def test_the_till_page_shows_masked_volunteer_and_one_button(client, login, issued):
    staff, _, _, voucher = issued
    login(staff)
    body = client.get(f"/merchant/v/{voucher.code}").get_data(as_text=True)
    assert "张*华" in body and "138****5678" in body and "张建华" not in body and "13812345678" not in body
    assert body.count("data-redeem") == 1
    response = client.post(f"/merchant/v/{voucher.code}/redeem", follow_redirects=True)
    assert "灵隐门票" in response.get_data(as_text=True)
    assert db.session.get(Voucher, voucher.id).status == VoucherStatus.REDEEMED


@pytest.mark.app_config(VOUCHER_LOOKUP_LIMIT="3 per 10 minutes")
def test_guessing_codes_is_rate_limited(client, login, make_staff):
    login(make_staff())
    client.post("/language/en")
    for n in range(3):
        assert client.post("/merchant/", data={"code": f"GUESS{n:015d}"}).status_code == 404
    blocked = client.post("/merchant/", data={"code": "GUESS999999999999999"})
    assert blocked.status_code == 429 and "Please try again in 10 minutes" in blocked.get_data(as_text=True)


@both_databases
def test_two_tills_confirming_at_once_redeem_once(app, make_volunteer, make_staff, make_reward):
    first = make_staff(name="一号收银台")
    second = User(name="二号收银台", mobile="13977776666", password_hash="x", role="merchant",
                  merchant_id=first.merchant_id)
    db.session.add(second)
    db.session.commit()
    volunteer = make_volunteer(points=100)
    voucher = rewards.redeem_reward(volunteer.id, make_reward(merchant=first.merchant, cost=100).id, "k")
    code, staff_ids = voucher.code, [first.id, second.id] * 5

    def till(i):
        return merchants.honour_voucher(db.session.get(User, staff_ids[i]), code).id

    results = race(app, till, len(staff_ids))
    assert sum(isinstance(r, int) for r in results) == 1
    assert all(isinstance(r, (int, merchants.AlreadyRedeemedError)) for r in results), results
    assert db.session.get(Voucher, voucher.id).status == VoucherStatus.REDEEMED


def test_history_and_settlement_csv(app, client, login, issued, make_volunteer):
    staff, volunteer, reward, voucher = issued
    second = rewards.redeem_reward(volunteer.id, reward.id, "k2")
    merchants.honour_voucher(staff, voucher.code)
    merchants.honour_voucher(staff, second.code)
    assert [v.id for v in merchants.history(staff)] == [second.id, voucher.id]
    today = utcnow().date()
    assert merchants.history(staff, start=today + timedelta(days=2)) == []
    month = format_local(voucher.created_at, "%Y-%m")  # the settlement month is the Hangzhou month
    login(staff)
    client.post("/language/zh_CN")
    response = client.get(f"/merchant/settlement.csv?month={month}")
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())  # Excel needs the BOM for Chinese text
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["月份", "奖品编号", "奖品", "已核销", "积分价值"]
    assert rows[1] == [month, str(reward.id), "灵隐门票", "2", "200"]
    assert rows[-1][3:] == ["2", "200"]
    page = client.get(f"/merchant/settlement?month={month}").get_data(as_text=True)
    assert "灵隐门票" in page and "200" in page


def test_merchant_proposes_a_reward_and_a_restock_for_an_admin(app, issued, make_admin):
    staff, _, reward, _ = issued
    proposal = rewards.save_reward(staff, staff.merchant_id, {
        "title": "素斋一份", "category": "goods", "points_cost": "50", "stock": "10", "validity_days": "30",
        "min_star": "0", "per_volunteer_limit": "", "limit_period_days": "30"})
    assert proposal.status == RewardStatus.PROPOSED
    request = merchants.request_restock(staff, reward.id, 20)
    admin = make_admin()
    proposals, restocks = merchants.pending_proposals()
    assert [p.id for p in proposals] == [proposal.id] and [r.id for r in restocks] == [request.id]
    merchants.decide_restock(admin, request.id, True)
    assert db.session.scalar(select(Reward.stock).where(Reward.id == reward.id)) == 24
    with pytest.raises(merchants.DomainError):
        merchants.decide_restock(admin, request.id, True)
    rewards.set_reward_status(admin, proposal.id, RewardStatus.ACTIVE)
    assert db.session.get(Reward, proposal.id).status == RewardStatus.ACTIVE
    assert db.session.get(RestockRequest, request.id).status == "approved"


def test_a_merchant_cannot_restock_another_merchants_reward(app, issued, make_staff):
    _, _, reward, _ = issued
    with pytest.raises(merchants.NotFoundError):
        merchants.request_restock(make_staff(name="别家"), reward.id, 5)


def test_the_second_till_is_told_once_who_redeemed_it(client, login, issued):
    staff, _, _, voucher = issued
    merchants.honour_voucher(staff, voucher.code)
    login(staff)
    client.post("/language/zh_CN")
    body = client.post(f"/merchant/v/{voucher.code}/redeem", follow_redirects=True).get_data(as_text=True)
    assert body.count("已于") == 1 and staff.name in body and "data-redeem" not in body

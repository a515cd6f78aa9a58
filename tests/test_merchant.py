"""The merchant's till: messages, exactly-once redemption under races (PostgreSQL), IDOR, guessing, merchant scoping
of proposals, history and settlement, settlement CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from tests.concurrency import kinds, race
from tests.conftest import postgres_only
from volunteer import forms
from volunteer.db import utcnow
from volunteer.errors import PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import RestockRequest, Reward, RewardStatus, User, Voucher, VoucherStatus
from volunteer.services import ledger, merchants, rewards

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")
HANGZHOU = ZoneInfo("Asia/Shanghai")
#: a quiet moment in the middle of March 2026, Hangzhou time (the month is what the settlement tests read)
MID_MARCH = datetime(2026, 3, 16, 10, 0, tzinfo=HANGZHOU)


def stock(reward: Reward) -> int | None:
    return db.session.scalar(select(Reward.stock).where(Reward.id == reward.id))


def balance(user_id: int) -> int:
    return db.session.scalar(select(User.points_balance).where(User.id == user_id))


@pytest.fixture
def mid_march(time_machine):
    """The clock stopped at MID_MARCH (list this fixture before the ones that make data)."""
    time_machine.move_to(MID_MARCH, tick=False)


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


@postgres_only
def test_two_tills_confirming_at_once_redeem_once(app, make_volunteer, make_staff, make_reward):
    """Ten presses of "redeem" on two tills at once: one redemption, nine "already redeemed".

    Catches the till's status change done as "read the voucher, check it is issued in Python, write redeemed"
    instead of the conditional UPDATE (``... WHERE status = 'issued'``): every press reads "issued" and succeeds.
    """
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
    assert Counter(kinds(results)) == {"int": 1, "AlreadyRedeemedError": 9}
    assert db.session.get(Voucher, voucher.id).status == VoucherStatus.REDEEMED
    assert balance(volunteer.id) == 0 and ledger.find_mismatches() == []


@postgres_only
def test_a_volunteer_cancelling_while_the_till_redeems_one_of_them_wins(app, make_volunteer, make_staff,
                                                                        make_reward):
    """Ten vouchers, each cancelled by its volunteer at the moment a till redeems it: per voucher exactly one wins.

    Redeemed: the volunteer is told it is used and gets nothing back. Cancelled: the till is told so, the points
    come back and the item returns to stock. Catches either side's status change done as "read the status, check
    it in Python, write" instead of a conditional UPDATE (``... WHERE status = 'issued'``): both succeed and a
    redeemed voucher is refunded.
    """
    staff = make_staff()
    reward = make_reward(merchant=staff.merchant, cost=100, stock=10)
    volunteers = [make_volunteer(f"志愿者{i}", points=100) for i in range(10)]
    plans = [(v.id, voucher.id, voucher.code) for v in volunteers
             for voucher in [rewards.redeem_reward(v.id, reward.id, uuid.uuid4().hex)]]
    staff_id = staff.id

    def act(i):
        user_id, voucher_id, code = plans[i // 2]
        if i % 2:
            return rewards.cancel_voucher(user_id, voucher_id).status
        return merchants.honour_voucher(db.session.get(User, staff_id), code).status

    results = race(app, act, 2 * len(plans))
    outcomes = []
    for n, (user_id, voucher_id, _) in enumerate(plans):
        till, owner = results[2 * n], results[2 * n + 1]
        status = db.session.get(Voucher, voucher_id).status
        if status == VoucherStatus.REDEEMED:
            assert till == VoucherStatus.REDEEMED and isinstance(owner, rewards.VoucherNotCancellableError), owner
            assert owner.text == "This voucher can no longer be cancelled: it is used."
            assert balance(user_id) == 0
        else:
            assert status == VoucherStatus.CANCELLED
            assert owner == VoucherStatus.CANCELLED and isinstance(till, merchants.VoucherCancelledError), till
            assert balance(user_id) == 100
        outcomes.append(status)
    assert stock(reward) == outcomes.count(VoucherStatus.CANCELLED)
    assert ledger.find_mismatches() == []


def test_history_and_settlement_csv(mid_march, client, login, issued, time_machine):
    staff, volunteer, reward, voucher = issued
    second = rewards.redeem_reward(volunteer.id, reward.id, "k2")
    merchants.honour_voucher(staff, voucher.code)
    time_machine.shift(timedelta(minutes=5))
    merchants.honour_voucher(staff, second.code)
    assert [v.id for v in merchants.history(staff)] == [second.id, voucher.id]
    assert merchants.history(staff, start=datetime(2026, 3, 18).date()).items == []
    login(staff)
    client.post("/language/zh_CN")
    response = client.get("/merchant/settlement.csv?month=2026-03")
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())  # Excel needs the BOM for Chinese text
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["月份", "奖品编号", "奖品", "已核销", "积分价值"]
    assert rows[1] == ["2026-03", str(reward.id), "灵隐门票", "2", "200"]
    assert rows[-1][3:] == ["2", "200"]
    page = client.get("/merchant/settlement?month=2026-03").get_data(as_text=True)
    assert "灵隐门票" in page and "200" in page


# --- merchant scoping: each test fails when the service's merchant filter is removed ---------------------------

@pytest.fixture
def two_merchants(mid_march, app, make_volunteer, make_staff, make_reward):
    """Two merchants, each with one reward redeemed at its own till in mid-March 2026 (Hangzhou time)."""
    ours, theirs = make_staff(name="我家收银员"), make_staff(name="别家收银员")
    buyer = make_volunteer("王小二", points=1000)
    made = {}
    for staff, title, cost in ((ours, "灵隐门票", 100), (theirs, "西溪湿地游船", 300)):
        reward = make_reward(merchant=staff.merchant, cost=cost, title=title)
        voucher = rewards.redeem_reward(buyer.id, reward.id, uuid.uuid4().hex)
        merchants.honour_voucher(staff, voucher.code)
        made[staff.id] = (reward, voucher)
    return ours, theirs, made


def test_a_merchant_cannot_propose_a_reward_under_another_merchant(app, issued, make_merchant):
    staff = issued[0]
    other = make_merchant("别家商户")
    before = db.session.scalar(select(func.count(Reward.id)))
    with pytest.raises(PermissionDeniedError):
        rewards.save_reward(staff, other.id, forms.parse(forms.RewardForm, {
            "title": "冒名奖品", "category": "goods", "points_cost": "50", "stock": "10", "validity_days": "30",
            "min_star": "0", "per_volunteer_limit": "", "limit_period_days": "30"}).details())
    assert db.session.scalar(select(func.count(Reward.id))) == before
    assert db.session.scalar(select(func.count(Reward.id)).where(Reward.merchant_id == other.id)) == 0


def test_merchant_history_shows_only_our_redemptions(app, client, login, two_merchants):
    ours, theirs, made = two_merchants
    assert [v.id for v in merchants.history(ours)] == [made[ours.id][1].id]
    assert [v.id for v in merchants.history(theirs)] == [made[theirs.id][1].id]
    assert merchants.history(ours, reward_id=made[theirs.id][0].id).items == []
    login(ours)
    page = client.get("/merchant/history").get_data(as_text=True)
    assert "灵隐门票" in page and "西溪湿地游船" not in page and "别家收银员" not in page


def test_the_monthly_settlement_counts_only_our_redemptions(app, client, login, two_merchants):
    ours, theirs, made = two_merchants
    reward = made[ours.id][0]
    assert merchants.settlement(ours, 2026, 3) == [merchants.SettlementRow(reward.id, "灵隐门票", 1, 100)]
    login(ours)
    client.post("/language/zh_CN")
    rows = list(csv.reader(io.StringIO(
        client.get("/merchant/settlement.csv?month=2026-03").get_data().decode("utf-8-sig"))))
    assert rows[1:] == [["2026-03", str(reward.id), "灵隐门票", "1", "100"], ["2026-03", "", "合计", "1", "100"]]
    page = client.get("/merchant/settlement?month=2026-03").get_data(as_text=True)
    assert "灵隐门票" in page and "西溪湿地游船" not in page


def test_merchant_proposes_a_reward_and_a_restock_for_an_admin(app, issued, make_admin):
    staff, _, reward, _ = issued
    proposal = rewards.save_reward(staff, staff.merchant_id, forms.parse(forms.RewardForm, {
        "title": "素斋一份", "category": "goods", "points_cost": "50", "stock": "10", "validity_days": "30",
        "min_star": "0", "per_volunteer_limit": "", "limit_period_days": "30"}).details())
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

"""Ledger, stars, redemption, vouchers and expiry (service level), and redemption races on PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from tests.concurrency import kinds, race
from tests.conftest import postgres_only, sqlite_only
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import AuditEvent, EntryKind, PointEntry, Reward, RewardStatus, User, Voucher, VoucherStatus
from volunteer.services import ledger, points, rewards, stars

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")


def key() -> str:
    return uuid.uuid4().hex


def balance(user: User) -> int:
    return db.session.scalar(select(User.points_balance).where(User.id == user.id))


def stock(reward: Reward) -> int | None:
    return db.session.scalar(select(Reward.stock).where(Reward.id == reward.id))


# --- ledger ------------------------------------------------------------------------------------------------

def test_credit_and_debit_keep_the_cache_equal_to_the_entries(app, make_volunteer):
    user = make_volunteer()
    ledger.credit(user.id, 50, EntryKind.SHIFT_AWARD, "attendance:1")
    ledger.debit(user.id, 20, EntryKind.REDEMPTION, "redeem:x")
    db.session.commit()
    assert balance(user) == 30
    assert db.session.scalar(select(func.sum(PointEntry.amount)).where(PointEntry.user_id == user.id)) == 30
    assert ledger.find_mismatches() == []


def test_debit_beyond_the_balance_says_how_many_more_and_changes_nothing(app, make_volunteer):
    user = make_volunteer(points=30)
    with pytest.raises(ledger.InsufficientPointsError) as info:
        ledger.debit(user.id, 100, EntryKind.REDEMPTION, "redeem:y")
    assert info.value.text == "Not enough points: you need 70 more."
    db.session.rollback()
    assert balance(user) == 30


def test_the_same_source_cannot_be_credited_twice(app, make_volunteer):
    user = make_volunteer()
    ledger.credit(user.id, 10, EntryKind.SHIFT_AWARD, "attendance:7")
    db.session.commit()
    with pytest.raises(IntegrityError):
        ledger.credit(user.id, 10, EntryKind.SHIFT_AWARD, "attendance:7")
    db.session.rollback()
    assert balance(user) == 10


def test_the_database_refuses_a_negative_balance(app, make_volunteer):
    user = make_volunteer(points=5)
    with pytest.raises(IntegrityError):
        db.session.execute(update(User).where(User.id == user.id).values(points_balance=-1))
        db.session.flush()
    db.session.rollback()


def test_ledger_audit_command_is_clean_then_finds_tampering(app, runner, make_volunteer):
    user = make_volunteer(points=40)
    result = runner.invoke(args=["ledger-audit"])
    assert result.exit_code == 0 and "every balance equals" in result.output
    db.session.execute(text("UPDATE users SET points_balance = 999 WHERE id = :id"), {"id": user.id})
    db.session.commit()
    result = runner.invoke(args=["ledger-audit"])
    assert result.exit_code == 1 and f"user {user.id}: cached points 999 but entries sum to 40" in result.output


def test_no_code_updates_or_deletes_ledger_entries():
    import pathlib
    import re

    package = pathlib.Path(__file__).resolve().parent.parent / "volunteer"
    pattern = re.compile(r"(update|delete)\((PointEntry|HourEntry)\)|session\.delete\(.*entry", re.I)
    offenders = [p.name for p in package.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


# --- stars --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hours, expected", [(0, 0), (99, 0), (100, 1), (299, 1), (300, 2), (600, 3), (1000, 4),
                                             (1500, 5), (9999, 5)])
def test_star_ladder(app, hours, expected):
    assert stars.star_level(hours * 60) == expected


def test_star_progress(app):
    progress = stars.progress(200 * 60)
    assert (progress.stars, progress.next_hours, progress.percent) == (1, 300, 50)
    assert stars.progress(2000 * 60).next_hours is None


@pytest.mark.app_config(STAR_THRESHOLDS="10,20,30,40,50")
def test_star_thresholds_are_configurable(app):
    assert stars.star_level(25 * 60) == 2


# --- redemption ---------------------------------------------------------------------------------------------

def test_redeeming_deducts_points_takes_stock_and_issues_a_voucher(app, make_volunteer, make_reward):
    user, reward = make_volunteer(points=250), make_reward(cost=100, stock=3)
    voucher = rewards.redeem_reward(user.id, reward.id, key())
    assert balance(user) == 150 and stock(reward) == 2
    assert voucher.status == VoucherStatus.ISSUED and voucher.points_cost == 100
    assert len(voucher.code) == 20 and set(voucher.code) <= set(rewards.CODE_ALPHABET)
    assert voucher.expires_at - utcnow() > timedelta(days=29)
    assert ledger.find_mismatches() == []


def test_a_double_click_issues_one_voucher(app, make_volunteer, make_reward):
    user, reward = make_volunteer(points=500), make_reward(cost=100)
    form_key = key()
    first = rewards.redeem_reward(user.id, reward.id, form_key)
    second = rewards.redeem_reward(user.id, reward.id, form_key)
    assert first.id == second.id and balance(user) == 400
    assert db.session.scalar(select(func.count(Voucher.id))) == 1


NOT_OFFERED = "This reward is not available: it has been withdrawn, or the link is wrong."


@pytest.mark.parametrize("setup, error, message", [
    (dict(cost=300), rewards.ledger.InsufficientPointsError, "Not enough points: you need 100 more."),
    (dict(stock=0), rewards.OutOfStockError, "Sorry, this reward is out of stock. Your points were not used."),
    (dict(min_star=2), rewards.StarTooLowError, "This reward needs 2 stars; you have 0."),
    (dict(status=RewardStatus.PROPOSED), rewards.RewardNotOfferedError, NOT_OFFERED),
    (dict(status=RewardStatus.RETIRED), rewards.RewardNotOfferedError, NOT_OFFERED),
    (dict(on_sale_from=datetime(2999, 1, 1, 2, tzinfo=UTC)), rewards.NotOpenYetError,
     "Not yet: this reward goes on sale at 2999-01-01 10:00. Please press again then."),
    (dict(on_sale_until=utcnow() - timedelta(days=1)), rewards.NotOnSaleError, "This reward is not on sale now."),
])
def test_each_refusal_names_its_reason_and_loses_nothing(app, make_volunteer, make_reward, setup, error, message):
    user = make_volunteer(points=200)
    reward = make_reward(**{"cost": 100, "stock": 5, **setup})
    before_stock = stock(reward)
    with pytest.raises(error) as info:
        rewards.redeem_reward(user.id, reward.id, key())
    assert info.value.text == message
    assert balance(user) == 200 and stock(reward) == before_stock
    assert db.session.scalar(select(func.count(Voucher.id))) == 0
    assert db.session.scalar(select(func.count(PointEntry.id)).where(PointEntry.amount < 0)) == 0


@pytest.mark.parametrize("status", [RewardStatus.RETIRED, RewardStatus.PROPOSED, None])
@pytest.mark.parametrize("locale, text", [("en", NOT_OFFERED), ("zh_CN", "这个奖品不可兑换：它已下架，或者链接有误。")])
def test_a_reward_the_volunteer_cannot_see_is_not_found_on_every_page(client, login, make_volunteer, make_reward,
                                                                     status, locale, text):
    """Retired, awaiting approval or no such id: the reward page, its confirmation and the redemption itself all
    answer 404 with the same clear message (not 409, not a redirect to a page that is itself missing)."""
    user = make_volunteer(points=500)
    reward_id = make_reward(cost=100, status=status).id if status else 999_999
    login(user).post(f"/language/{locale}")
    for response in (client.get(f"/volunteer/rewards/{reward_id}"),
                     client.get(f"/volunteer/rewards/{reward_id}/redeem"),
                     client.post(f"/volunteer/rewards/{reward_id}/redeem", data={"key": key(), "seen": "0"})):
        assert response.status_code == 404
        assert text in response.get_data(as_text=True)
    assert balance(user) == 500
    assert db.session.scalar(select(func.count(Voucher.id))) == 0


def test_a_retry_after_the_reward_was_retired_still_gets_its_voucher(app, make_volunteer, make_reward, make_admin):
    user, reward = make_volunteer(points=500), make_reward(cost=100)
    form_key = key()
    first = rewards.redeem(user.id, reward.id, form_key)
    rewards.set_reward_status(make_admin(), reward.id, RewardStatus.RETIRED)
    assert rewards.redeem(user.id, reward.id, form_key) == first
    with pytest.raises(rewards.RewardNotOfferedError):
        rewards.redeem(user.id, reward.id, key())
    assert balance(user) == 400


def test_the_per_volunteer_limit(app, make_volunteer, make_reward):
    user, reward = make_volunteer(points=1000), make_reward(cost=100, per_volunteer_limit=2, limit_period_days=30)
    rewards.redeem_reward(user.id, reward.id, key())
    rewards.redeem_reward(user.id, reward.id, key())
    with pytest.raises(rewards.LimitReachedError) as info:
        rewards.redeem_reward(user.id, reward.id, key())
    assert info.value.text == "You have reached the limit for this reward (2 per 30 days)."
    assert balance(user) == 800


def test_cancel_refunds_and_restocks_once(app, make_volunteer, make_reward):
    user, reward = make_volunteer(points=100), make_reward(cost=100, stock=1)
    voucher = rewards.redeem_reward(user.id, reward.id, key())
    rewards.cancel_voucher(user.id, voucher.id)
    assert balance(user) == 100 and stock(reward) == 1
    with pytest.raises(rewards.VoucherNotCancellableError) as info:
        rewards.cancel_voucher(user.id, voucher.id)
    assert "it is cancelled" in info.value.text
    assert balance(user) == 100 and stock(reward) == 1


def test_cancelling_someone_elses_voucher_is_not_found(app, make_volunteer, make_reward):
    owner, other = make_volunteer(points=100), make_volunteer("别人")
    voucher = rewards.redeem_reward(owner.id, make_reward(cost=100).id, key())
    with pytest.raises(rewards.NotFoundError):
        rewards.cancel_voucher(other.id, voucher.id)


@pytest.mark.parametrize("refund, expected_balance", [(True, 100), (False, 0)])
def test_expired_vouchers_refund_per_reward_setting(app, make_volunteer, make_reward, refund, expected_balance):
    user, reward = make_volunteer(points=100), make_reward(cost=100, stock=1, refund_on_expiry=refund)
    voucher = rewards.redeem_reward(user.id, reward.id, key())
    assert rewards.expire_vouchers(utcnow() + timedelta(days=31)) == 1
    db.session.refresh(voucher)
    assert voucher.status == VoucherStatus.EXPIRED and balance(user) == expected_balance and stock(reward) == 1
    assert rewards.expire_vouchers(utcnow() + timedelta(days=31)) == 0


def test_codes_are_normalised_as_people_type_them():
    code = "7K2M9QXR4TBW8NHC3VJD"
    typed = "7k2m 9qxr-4tbw 8nhc-3vjd"
    assert rewards.normalise_code(typed) == code
    assert rewards.format_code(code) == "7K2M-9QXR-4TBW-8NHC-3VJD"
    assert rewards.normalise_code("O0IL") == "0011"


def test_codes_are_unguessable():
    codes = {rewards.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert len(rewards.CODE_ALPHABET) ** rewards.CODE_LENGTH >= 2 ** 100


def test_catalog_lists_affordable_first(app, make_volunteer, make_reward):
    user = make_volunteer(points=150)
    make_reward(cost=100, title="便宜")
    make_reward(cost=50_000, title="贵")
    make_reward(cost=10, title="未上架", status=RewardStatus.PROPOSED)
    items = rewards.browse(user)
    assert [i.reward.title for i in items] == ["便宜", "贵"]
    assert items[0].affordable and not items[1].affordable and items[1].missing == 49_850


def test_six_categories_exist():
    assert [c.value for c in rewards.Category] == ["parking", "scenic", "health", "shopping", "loan", "goods"]


# --- adjustments and expiry ---------------------------------------------------------------------------------

def test_coordinator_adjustment_requires_a_reason_and_is_audited(app, make_volunteer, make_coordinator):
    user, coordinator = make_volunteer(points=10), make_coordinator()
    with pytest.raises(points.FieldErrors) as info:
        points.adjust_points(coordinator, user.id, 5, " ")
    assert "reason" in info.value.fields
    points.adjust_points(coordinator, user.id, -4, "重复登记")
    assert balance(user) == 6
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "points.adjust"))
    assert event.actor_id == coordinator.id and event.details == {"amount": -4, "reason": "重复登记"}


def test_a_coordinator_cannot_adjust_another_teams_volunteer(app, make_volunteer, make_coordinator, make_team):
    other_team = make_team("别的社区")
    outsider = make_volunteer(teams=[other_team], points=10)
    with pytest.raises(points.NotFoundError):
        points.adjust_points(make_coordinator(), outsider.id, 5, "test")
    assert balance(outsider) == 10


def _entry_at(user: User, amount: int, when: datetime, source: str) -> None:
    if amount > 0:
        entry = ledger.credit(user.id, amount, EntryKind.SHIFT_AWARD, source)
    else:
        entry = ledger.debit(user.id, -amount, EntryKind.REDEMPTION, source)
    entry.created_at = when
    db.session.commit()


@pytest.mark.app_config(POINTS_EXPIRE_AFTER_YEARS=2)
def test_points_expire_oldest_first_at_the_end_of_the_second_year(app, make_volunteer):
    user = make_volunteer()
    _entry_at(user, 100, datetime(2024, 3, 1, tzinfo=UTC), "a")
    _entry_at(user, 50, datetime(2025, 6, 1, tzinfo=UTC), "b")
    _entry_at(user, -30, datetime(2025, 7, 1, tzinfo=UTC), "c")  # spends 2024's points first
    notice = points.upcoming_expiry(user.id, date(2025, 12, 1))
    assert notice == points.ExpiryNotice(70, date(2025, 12, 31))
    assert points.expire_points(date(2025, 12, 31)) == 0  # 2024's points last until the end of 2025
    assert points.expire_points(date(2026, 1, 1)) == 70
    assert balance(user) == 50
    assert points.expire_points(date(2026, 1, 2)) == 0  # nothing twice
    assert ledger.find_mismatches() == []


@pytest.mark.app_config(POINTS_EXPIRE_AFTER_YEARS=2)
def test_a_reversal_takes_back_its_own_credit_and_shields_no_old_points(app, make_volunteer):
    """100 points from 2024; a 2025 credit of 15 taken back (a reopened report); a 2024 credit of 20 taken back
    in 2025 (an approval withdrawn). Neither reversal is spending: 2024 earned 100 that count, and all 100 expire."""
    user = make_volunteer()
    _entry_at(user, 100, datetime(2024, 3, 1, tzinfo=UTC), "a")
    _entry_at(user, 20, datetime(2024, 5, 1, tzinfo=UTC), "attendance:7")
    _entry_at(user, 15, datetime(2025, 6, 1, tzinfo=UTC), "report:3")
    for key, amount in (("attendance:7:reversal", 20), ("report:3:reversal", 15)):
        entry = ledger.debit(user.id, amount, EntryKind.REVERSAL, key)
        entry.created_at = datetime(2025, 7, 1, tzinfo=UTC)
        db.session.commit()
    assert points.upcoming_expiry(user.id, date(2025, 12, 1)) == points.ExpiryNotice(100, date(2025, 12, 31))
    assert points.expire_points(date(2026, 1, 1)) == 100
    assert balance(user) == 0 and ledger.find_mismatches() == []


def test_points_never_expire_by_default(app, make_volunteer):
    user = make_volunteer()
    _entry_at(user, 100, datetime(2015, 1, 1, tzinfo=UTC), "old")
    assert points.expire_points(date(2026, 11, 22)) == 0 and balance(user) == 100


# --- races: on PostgreSQL only (see tests.conftest.postgres_only) ---------------------------------------

@postgres_only
def test_racing_for_the_last_item_one_wins_and_nobody_loses_points(app, make_volunteer, make_reward):
    """24 volunteers, one item left: one voucher, 23 "out of stock", nobody loses points.

    Catches the stock taken by "read reward.stock, check it in Python, write stock - 1" instead of the
    conditional UPDATE (``... WHERE stock > 0``): every racer reads 1 and every racer gets a voucher.
    """
    racers = [make_volunteer(f"志愿者{i}", points=100) for i in range(24)]
    reward = make_reward(cost=100, stock=1)
    ids, reward_id = [u.id for u in racers], reward.id  # plain values: threads must not touch this session
    results = race(app, lambda i: rewards.redeem_reward(ids[i], reward_id, key()).id, len(ids))
    assert Counter(kinds(results)) == {"int": 1, "OutOfStockError": 23}
    assert stock(reward) == 0
    assert sorted(balance(u) for u in racers) == [0] + [100] * 23
    assert ledger.find_mismatches() == []


@postgres_only
def test_one_volunteer_racing_themselves_cannot_overspend(app, make_volunteer, make_reward):
    """300 points, twenty 100-point redemptions at once: three vouchers, seventeen "not enough points".

    Catches the balance debited by "read the balance, check it in Python, write balance - n" instead of the
    conditional UPDATE (``... WHERE points_balance >= n``): the racers read 300 and all of them spend it.
    """
    user, reward = make_volunteer(points=300), make_reward(cost=100, stock=None)
    user_id, reward_id = user.id, reward.id
    results = race(app, lambda i: rewards.redeem_reward(user_id, reward_id, key()).id, 20)
    assert Counter(kinds(results)) == {"int": 3, "InsufficientPointsError": 17}
    assert balance(user) == 0 and ledger.find_mismatches() == []
    assert db.session.scalar(select(func.count(Voucher.id))) == 3


@postgres_only
def test_twenty_redemptions_at_once_respect_a_limit_of_one_per_30_days(app, make_volunteer, make_reward):
    """One volunteer with points for ten, a reward limited to one per 30 days, twenty requests at once: one voucher.

    Catches the limit counted before the volunteer's balance row is locked ("count my vouchers, check in Python,
    then debit"): all twenty count zero before any of them commits. The count is safe only after the debit's
    row lock, which queues the volunteer's own requests.
    """
    user = make_volunteer(points=1000)
    reward = make_reward(cost=100, stock=50, per_volunteer_limit=1, limit_period_days=30)
    user_id, reward_id = user.id, reward.id
    results = race(app, lambda i: rewards.redeem_reward(user_id, reward_id, key()).id, 20)
    assert Counter(kinds(results)) == {"int": 1, "LimitReachedError": 19}
    assert db.session.scalar(select(func.count(Voucher.id))) == 1
    assert balance(user) == 900 and stock(reward) == 49
    assert ledger.find_mismatches() == []


@postgres_only
def test_the_same_form_submitted_twenty_times_at_once_issues_one_voucher(app, make_volunteer, make_reward):
    """Twenty copies of one form (one idempotency key) at once: every request gets the same voucher.

    Catches a "look the key up, then issue" check replacing the unique keys (ledger source key, voucher
    idempotency key): all twenty look before any commits. Also catches the losers' IntegrityError escaping:
    on PostgreSQL they wait for the winner's insert and must then answer with the winner's voucher.
    """
    user, reward = make_volunteer(points=1000), make_reward(cost=100)
    form_key, user_id, reward_id = key(), user.id, reward.id
    results = race(app, lambda i: rewards.redeem_reward(user_id, reward_id, form_key).id, 20)
    assert Counter(kinds(results)) == {"int": 20}
    assert len(set(results)) == 1
    assert balance(user) == 900 and ledger.find_mismatches() == []


@sqlite_only
def test_on_sqlite_concurrent_writers_queue_rather_than_fail_with_database_is_locked(app, make_volunteer,
                                                                                    make_reward):
    """Not a race test: proves the SQLite engine set-up in volunteer/db.py.

    BEGIN IMMEDIATE takes the write lock first, so twelve concurrent redemptions wait their turn (busy timeout)
    and all succeed. With SQLite's default deferred BEGIN, a transaction that has read cannot upgrade to a writer
    once another has written, and eleven of the twelve fail at once with "database is locked".
    """
    racers = [make_volunteer(f"志愿者{i}", points=100) for i in range(12)]
    reward = make_reward(cost=100, stock=12)
    ids, reward_id = [u.id for u in racers], reward.id
    results = race(app, lambda i: rewards.redeem_reward(ids[i], reward_id, key()).id, len(ids))
    assert Counter(kinds(results)) == {"int": 12}, [str(r) for r in results if not isinstance(r, int)]
    assert stock(reward) == 0 and [balance(u) for u in racers] == [0] * 12
    assert ledger.find_mismatches() == []

"""The catalog, redemption and vouchers. Public functions are use cases: each is one transaction."""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from volunteer import soldout
from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, NotFoundError, PermissionDeniedError
from volunteer.extensions import db
from volunteer.localtime import format_local
from volunteer.models import (
    Category,
    EntryKind,
    Merchant,
    Reward,
    RewardStatus,
    Role,
    User,
    Voucher,
    VoucherStatus,
)
from volunteer.services import audit, ledger, redemption, stars
from volunteer.services.ledger import InsufficientPointsError
from volunteer.services.accounts import require_admin

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
CODE_LENGTH = 20  # 100 bits

CATEGORY_LABELS = {
    Category.PARKING: _l("Monthly parking pass"),
    Category.SCENIC: _l("Scenic-spot tickets"),
    Category.HEALTH: _l("Health check-ups"),
    Category.SHOPPING: _l("Merchant discounts"),
    Category.LOAN: _l("Start-up loan rate discounts"),
    Category.GOODS: _l("Goods"),
}


class RewardNotOfferedError(NotFoundError):
    """A reward the volunteer cannot see (retired, awaiting approval, or no such id): to them it does not exist."""

    message = _l("This reward is not available: it has been withdrawn, or the link is wrong.")


class NotOnSaleError(DomainError):
    message = _l("This reward is not on sale now.")
    status_code = 409


class NotOpenYetError(NotOnSaleError):
    message = _l("Not yet: this reward goes on sale at %(time)s. Please press again then.")


class OutOfStockError(DomainError):
    message = _l("Sorry, this reward is out of stock. Your points were not used.")
    status_code = 409


class LimitReachedError(DomainError):
    message = _l("You have reached the limit for this reward (%(limit)d per %(days)d days).")
    status_code = 409


class StarTooLowError(DomainError):
    message = _l("This reward needs %(stars)d stars; you have %(have)d.")
    status_code = 409


class RepeatRedemptionError(DomainError):
    message = _l("You redeemed this reward a few minutes ago. Please confirm that you want another one.")
    status_code = 409


class VoucherNotCancellableError(DomainError):
    message = _l("This voucher can no longer be cancelled: it is %(status)s.")
    status_code = 409


def new_code() -> str:
    """An unguessable voucher code: 20 base-32 characters, 100 bits from the OS's random source (one draw)."""
    bits = secrets.randbits(5 * CODE_LENGTH)
    return "".join(CODE_ALPHABET[(bits >> (5 * i)) & 31] for i in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """Groups of four for reading aloud: ABCD-EFGH-…"""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalise_code(typed: str) -> str:
    """What a person typed, made comparable: any case, spaces and dashes ignored, O→0, I/L→1."""
    cleaned = "".join(ch for ch in (typed or "").upper() if ch.isalnum())
    return cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"}))


VOUCHER_STATUS_LABELS = {VoucherStatus.ISSUED: _l("ready to use"), VoucherStatus.REDEEMED: _l("used"),
                         VoucherStatus.CANCELLED: _l("cancelled"), VoucherStatus.EXPIRED: _l("expired")}

REWARD_STATUS_LABELS = {RewardStatus.PROPOSED: _l("waiting for approval"), RewardStatus.ACTIVE: _l("on sale"),
                        RewardStatus.RETIRED: _l("retired")}


def status_label(status: VoucherStatus) -> str:
    """A voucher status in the reader's language."""
    return str(VOUCHER_STATUS_LABELS[status])


# --- catalog -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CatalogItem:
    """A reward as one volunteer sees it."""

    reward: Reward
    affordable: bool
    missing: int
    star_ok: bool
    opens_at: str = ""  # a sale that has not opened yet: when it opens, in local time


def listed_clause(now: datetime):
    """Active rewards whose sale has not ended (it may open later)."""
    return (Reward.status == RewardStatus.ACTIVE, (Reward.on_sale_until.is_(None)) | (Reward.on_sale_until > now))


def browse(user: User, category: str | None = None) -> list[CatalogItem]:
    """Rewards on sale, what this volunteer can afford now first, then what they are saving for; sales that open
    later are listed too, with their time (so volunteers can be on the page when a flash sale opens)."""
    now = utcnow()
    query = select(Reward).where(*listed_clause(now)).order_by(Reward.points_cost, Reward.id)
    if category in {c.value for c in Category}:
        query = query.where(Reward.category == category)
    level = stars.star_level(user.service_minutes)
    items = [CatalogItem(r, user.points_balance >= r.points_cost, max(0, r.points_cost - user.points_balance),
                         level >= r.min_star,
                         opening_text(r.on_sale_from) if r.on_sale_from and r.on_sale_from > now else "")
             for r in db.session.scalars(query)]
    return sorted(items, key=lambda i: (not (i.affordable and i.star_ok), i.reward.points_cost))


def full_catalog() -> list[Reward]:
    """Every reward, any status, for the admin's catalog page."""
    return list(db.session.scalars(select(Reward).order_by(Reward.category, Reward.title)))


def get_reward(reward_id: int) -> Reward:
    """A reward or NotFoundError."""
    reward = db.session.get(Reward, reward_id)
    if reward is None:
        raise NotFoundError()
    return reward


def offered_reward(reward_id: int) -> Reward:
    """A reward as a volunteer may open it: active only; a proposal or a retired reward is "not found"."""
    reward = db.session.get(Reward, reward_id)
    if reward is None or reward.status != RewardStatus.ACTIVE:
        raise RewardNotOfferedError()
    return reward


# --- redemption --------------------------------------------------------------------------------------------

#: what a redeem form's one-time key may look like (it is stored in ``Voucher.idempotency_key``, 64 characters)
FORM_KEY_RE = re.compile(r"[A-Za-z0-9_.:-]{1,48}")  # "redeem:<id>:<key>" must fit the ledger's 80
#: a second redemption of the same reward within this time asks again ("you redeemed this 2 minutes ago"): Back
#: to the confirmation page and "confirm" again is more often a mistake than a wish for a second voucher
REPEAT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Quote:
    """What the confirmation page says before any point is spent."""

    reward: Reward
    balance: int
    balance_after: int
    star: int
    #: why it cannot be redeemed now (not enough points, too few stars, out of stock), or None
    problem: str | None
    #: the volunteer's latest voucher for this reward issued within REPEAT_WINDOW, or None
    recent: Voucher | None
    recent_minutes: int
    #: a timed sale that has not opened yet: when it opens, as shown (the page counts down to it), else ""
    opens_at: str = ""
    #: the problem is one that serving more shifts solves (too few points or stars): the page offers the shifts
    earn_more: bool = False


def recent_redemption(user_id: int, reward_id: int, now: datetime | None = None) -> Voucher | None:
    """The volunteer's newest voucher for this reward from the last REPEAT_WINDOW (a cancelled one does not count)."""
    since = (now or utcnow()) - REPEAT_WINDOW
    return db.session.scalar(select(Voucher).where(
        Voucher.user_id == user_id, Voucher.reward_id == reward_id, Voucher.created_at > since,
        Voucher.status.in_([VoucherStatus.ISSUED, VoucherStatus.REDEEMED])).order_by(Voucher.id.desc()).limit(1))


def _held(user_id: int, reward: Reward, now: datetime) -> int:
    """The volunteer's live vouchers for this reward in its limit period (for the page; the redemption counts again)."""
    return db.session.scalar(select(func.count(Voucher.id)).where(
        Voucher.user_id == user_id, Voucher.reward_id == reward.id,
        Voucher.created_at > now - timedelta(days=reward.limit_period_days),
        Voucher.status.in_([VoucherStatus.ISSUED, VoucherStatus.REDEEMED])))


def quote_redemption(user: User, reward_id: int) -> Quote:
    """Spend N points on this reward, M left: and whether something stands in the way (reads only)."""
    now = utcnow()
    reward = offered_reward(reward_id)
    star = stars.star_level(user.service_minutes)
    problem: DomainError | None = None
    opens_at = opening_text(reward.on_sale_from) if reward.on_sale_from and reward.on_sale_from > now else ""
    if reward.on_sale_until and reward.on_sale_until <= now:
        problem = NotOnSaleError()
    elif star < reward.min_star:
        problem = StarTooLowError(stars=reward.min_star, have=star)
    elif user.points_balance < reward.points_cost:
        problem = InsufficientPointsError(missing=reward.points_cost - user.points_balance)
    elif reward.per_volunteer_limit is not None and _held(user.id, reward, now) >= reward.per_volunteer_limit:
        # before the stock, as redeeming asks them: a restock would not help this volunteer
        problem = LimitReachedError(limit=reward.per_volunteer_limit, days=reward.limit_period_days)
    elif reward.stock is not None and reward.stock <= 0:
        problem = OutOfStockError()
    recent = recent_redemption(user.id, reward.id, now)
    minutes = int((now - recent.created_at).total_seconds() // 60) if recent else 0
    return Quote(reward, user.points_balance, user.points_balance - reward.points_cost, star,
                 problem.text if problem else None, recent, minutes, opens_at,
                 isinstance(problem, (StarTooLowError, InsufficientPointsError)))


def redeem(user_id: int, reward_id: int, idempotency_key: str, seen_voucher_id: int | None = None) -> int:
    """Deduct points, take one from stock and issue a voucher, all or nothing; the new voucher's id.

    The same idempotency key (from the form) returns the voucher already issued: a double click or a retried
    request issues one voucher (the ledger's and the voucher's unique keys catch the second one). The volunteer's
    row is locked first, so the limit count that follows cannot race with the volunteer's other requests (see
    ``redemption``: on PostgreSQL two round trips, the second carrying the commit). A reward the database found
    sold out moments ago is refused without touching its row (``soldout``): the crowd after a flash sale's last item.

    ``seen_voucher_id`` is the newest recent voucher for this reward that the confirmation page showed (0 for
    none): a newer one within REPEAT_WINDOW means the volunteer confirmed without knowing about it (Back, a second
    tab), and RepeatRedemptionError asks again. ``None`` skips that question.
    """
    key = (idempotency_key or "").strip()
    if not FORM_KEY_RE.fullmatch(key):  # the page's key is 32 hex digits; this refuses forged ones
        raise DomainError(_l("This form has expired. Please reload the page and try again."))
    if seen_voucher_id is not None:  # an id, or 0 for none: a forged negative one must not fail the statement's gate
        seen_voucher_id = max(0, seen_voucher_id)
    seen = soldout.look(reward_id)
    if seen.sold_out:
        existing = _voucher_for_key(user_id, key)  # the retry of a press that got the last one still gets it
        if existing is None:
            raise OutOfStockError()
        return existing
    try:
        voucher_id, stock_left = _issue(user_id, reward_id, key, seen, seen_voucher_id)  # committed with it
    except IntegrityError:
        db.session.rollback()  # this key was used before (or won a race in another request): return its voucher
        existing = _voucher_for_key(user_id, key)
        if existing is None:
            raise
        return existing
    except DomainError:
        db.session.rollback()
        existing = _voucher_for_key(user_id, key)  # a retry after success must not report "out of stock"
        if existing is not None:
            return existing
        raise
    if stock_left == 0:  # this commit sold the last one: the next presses need not ask the database
        soldout.remember(reward_id, seen)
    return voucher_id


def redeem_reward(user_id: int, reward_id: int, idempotency_key: str, seen_voucher_id: int | None = None) -> Voucher:
    """``redeem``, returning the voucher itself (one more query; the redeem page needs only the id)."""
    return db.session.get(Voucher, redeem(user_id, reward_id, idempotency_key, seen_voucher_id))


def _voucher_for_key(user_id: int, key: str) -> int | None:
    return db.session.scalar(select(Voucher.id).where(Voucher.user_id == user_id, Voucher.idempotency_key == key))


def opening_text(moment: datetime) -> str:
    """When a sale opens, in local time; seconds only when it does not open on the minute."""
    return format_local(moment, "%Y-%m-%d %H:%M" + (":%S" if moment.second else ""))


def _issue(user_id: int, reward_id: int, key: str, seen: soldout.Look,
           seen_voucher_id: int | None) -> tuple[int, int | None]:
    now = utcnow()
    terms = redemption.lock_terms(user_id, reward_id)
    if terms is None:
        raise RewardNotOfferedError()
    if terms.role != Role.VOLUNTEER:
        raise PermissionDeniedError()
    if terms.status != RewardStatus.ACTIVE:  # as ``offered_reward``: what the volunteer cannot see does not exist
        raise RewardNotOfferedError()
    if terms.on_sale_from and terms.on_sale_from > now:
        raise NotOpenYetError(time=opening_text(terms.on_sale_from))
    if terms.on_sale_until and terms.on_sale_until <= now:
        raise NotOnSaleError()
    have = stars.star_level(terms.service_minutes)
    if have < terms.min_star:
        raise StarTooLowError(stars=terms.min_star, have=have)
    if terms.points_balance < terms.points_cost:  # the row is locked: the balance cannot change before the debit
        raise ledger.InsufficientPointsError(missing=terms.points_cost - terms.points_balance)
    taken = redemption.take_and_commit(redemption.Order(
        user_id=user_id, reward_id=reward_id, cost=terms.points_cost, limit=terms.per_volunteer_limit,
        since=now - timedelta(days=terms.limit_period_days), stocked=terms.stock is not None,
        source_key=f"redeem:{user_id}:{key}", note=terms.title[:200], code=new_code(),
        expires_at=now + timedelta(days=terms.validity_days), key=key, now=now,
        seen_voucher=seen_voucher_id, repeat_since=now - REPEAT_WINDOW))
    if terms.per_volunteer_limit is not None and taken.held >= terms.per_volunteer_limit:
        raise LimitReachedError(limit=terms.per_volunteer_limit, days=terms.limit_period_days)
    if seen_voucher_id is not None and taken.recent > seen_voucher_id:  # after the lock: two tabs cannot both pass
        raise RepeatRedemptionError()
    if taken.voucher_id is None:  # the conditional stock UPDATE found a committed 0
        if terms.stock is not None:  # only a stocked reward's UPDATE can say so: never cache a guess
            soldout.remember(reward_id, seen)
        raise OutOfStockError()
    return taken.voucher_id, taken.stock_left


def _close_voucher(voucher: Voucher, to: VoucherStatus, refund: bool, note: str) -> bool:
    """Move an issued voucher to a closed state once (conditional UPDATE); refund and restock if asked."""
    closed = db.session.execute(
        update(Voucher).where(Voucher.id == voucher.id, Voucher.status == VoucherStatus.ISSUED)
        .values(status=to, closed_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if closed != 1:
        return False
    if refund:
        ledger.credit(voucher.user_id, voucher.points_cost, EntryKind.REFUND, f"voucher:{voucher.id}:refund",
                      note=note)
    soldout.forget_after_commit(db.session(), voucher.reward_id)
    db.session.execute(update(Reward).where(Reward.id == voucher.reward_id, Reward.stock.is_not(None))
                       .values(stock=Reward.stock + 1).execution_options(synchronize_session=False))
    db.session.refresh(voucher)
    return True


def cancel_voucher(user_id: int, voucher_id: int) -> Voucher:
    """The volunteer cancels an unused voucher: full refund and restock."""
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None or voucher.user_id != user_id:
        raise NotFoundError()
    if not _close_voucher(voucher, VoucherStatus.CANCELLED, refund=True, note="cancelled"):
        db.session.rollback()
        db.session.refresh(voucher)
        raise VoucherNotCancellableError(status=status_label(voucher.status))
    db.session.commit()
    return voucher


def expire_vouchers(now: datetime | None = None) -> int:
    """Close vouchers past their validity; refund them when their reward says so. Returns how many."""
    now = now or utcnow()
    due = db.session.scalars(select(Voucher).join(Reward).where(
        Voucher.status == VoucherStatus.ISSUED, Voucher.expires_at <= now)).all()
    count = 0
    for voucher in due:
        count += _close_voucher(voucher, VoucherStatus.EXPIRED, refund=voucher.reward.refund_on_expiry,
                                note="expired")
    db.session.commit()
    return count


def my_voucher(user_id: int, voucher_id: int) -> Voucher:
    """One of the volunteer's own vouchers; anybody else's is "not found"."""
    voucher = db.session.scalar(select(Voucher).options(joinedload(Voucher.reward).joinedload(Reward.merchant))
                                .where(Voucher.id == voucher_id, Voucher.user_id == user_id))
    if voucher is None:
        raise NotFoundError()
    return voucher


def my_vouchers(user_id: int) -> list[Voucher]:
    """A volunteer's vouchers, usable ones first."""
    order = (Voucher.status != VoucherStatus.ISSUED, Voucher.created_at.desc())
    return list(db.session.scalars(select(Voucher).where(Voucher.user_id == user_id)
                                   .options(joinedload(Voucher.reward).joinedload(Reward.merchant))
                                   .order_by(*order)))


# --- catalog administration -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RewardDetails:
    """What an admin sets on a reward, or a merchant proposes, already typed (see ``forms.RewardForm``)."""

    title: str
    category: Category
    points_cost: int
    validity_days: int
    min_star: int
    limit_period_days: int
    description: str = ""
    stock: int | None = None  # None: unlimited
    per_volunteer_limit: int | None = None  # None: no limit
    refund_on_expiry: bool = False
    on_sale_from: datetime | None = None  # a flash sale: the page counts down to it, the server refuses before


def save_reward(actor: User, merchant_id: int | None, details: RewardDetails, reward_id: int | None = None) -> Reward:
    """An admin creates or edits a reward (active at once); merchant staff propose one for approval."""
    values = dataclasses.asdict(details)
    if actor.role == Role.MERCHANT:
        if reward_id is not None or merchant_id != actor.merchant_id:
            raise PermissionDeniedError()
        values["status"] = RewardStatus.PROPOSED
        values["proposed_by_id"] = actor.id
    elif actor.role != Role.ADMIN:
        raise PermissionDeniedError()
    if merchant_id is None or db.session.get(Merchant, merchant_id) is None:
        raise FieldErrors({"merchant": _l("Choose a merchant.")})
    if reward_id is None:
        reward = Reward(merchant_id=merchant_id, **values)
        db.session.add(reward)
        before = None
    else:
        reward = get_reward(reward_id)
        before = {k: getattr(reward, k) for k in values}
        for name, value in values.items():
            setattr(reward, name, value)
    db.session.flush()
    soldout.forget_after_commit(db.session(), reward.id)  # the stock may have been raised
    action = "catalog.propose" if actor.role == Role.MERCHANT else ("catalog.edit" if before else "catalog.create")
    audit.record(actor.id, action, f"reward:{reward.id}", before=before, after=values)
    db.session.commit()
    return reward


def set_reward_status(actor: User, reward_id: int, status: RewardStatus) -> Reward:
    """An admin approves a proposal (active), retires a reward, or brings it back."""
    require_admin(actor)
    reward = get_reward(reward_id)
    before = reward.status
    reward.status = status
    soldout.forget_after_commit(db.session(), reward.id)
    audit.record(actor.id, "catalog.status", f"reward:{reward.id}", before=before, after=status)
    db.session.commit()
    return reward

"""The merchant's side: find and honour vouchers at the till, history, settlement, proposals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import force_locale, lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from volunteer import soldout
from volunteer.db import utcnow
from volunteer.errors import DomainError, FieldErrors, NotFoundError, PermissionDeniedError
from volunteer.extensions import db
from volunteer.localtime import format_local, local_day_bounds, month_bounds
from volunteer.models import RestockRequest, Reward, RewardStatus, Role, User, Voucher, VoucherStatus
from volunteer.services import audit, csvfile
from volunteer.services.paging import Page, paginate
from volunteer.services.accounts import require_admin
from volunteer.services.rewards import CODE_LENGTH, normalise_code


class UnknownVoucherError(DomainError):
    """Also what another merchant's voucher gets: nothing about it is revealed."""

    message = _l("No voucher of yours has this code. Check the code and try again.")
    status_code = 404


class AlreadyRedeemedError(DomainError):
    message = _l("Already redeemed at %(time)s by %(staff)s.")
    status_code = 409


class VoucherExpiredError(DomainError):
    message = _l("This voucher expired on %(date)s and cannot be used.")
    status_code = 409


class VoucherCancelledError(DomainError):
    message = _l("This voucher was cancelled by the volunteer and cannot be used.")
    status_code = 409


def mask_name(name: str) -> str:
    """张建华 → 张*华; 李强 → 李*; one character stays as it is."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_mobile(mobile: str) -> str:
    """13812345678 → 138****5678."""
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) == 11 else "****"


def _staff_merchant(staff: User) -> int:
    if staff.role != Role.MERCHANT or staff.merchant_id is None:
        raise PermissionDeniedError()
    return staff.merchant_id


def find_voucher(staff: User, typed_code: str) -> Voucher:
    """The merchant's own voucher with this code, whatever its state; anything else is "unknown"."""
    merchant_id = _staff_merchant(staff)
    code = normalise_code(typed_code)
    if len(code) != CODE_LENGTH:
        raise UnknownVoucherError()
    voucher = db.session.scalar(
        select(Voucher).join(Reward).options(joinedload(Voucher.reward), joinedload(Voucher.user),
                                             joinedload(Voucher.redeemed_by))
        .where(Voucher.code == code, Reward.merchant_id == merchant_id))
    if voucher is None:
        raise UnknownVoucherError()
    return voucher


def refusal(voucher: Voucher, now: datetime | None = None) -> DomainError | None:
    """Why this voucher cannot be honoured now, or None."""
    now = now or utcnow()
    if voucher.status == VoucherStatus.REDEEMED:
        who = voucher.redeemed_by.name if voucher.redeemed_by else "?"
        return AlreadyRedeemedError(time=format_local(voucher.redeemed_at, "%Y-%m-%d %H:%M"), staff=who)
    if voucher.status == VoucherStatus.CANCELLED:
        return VoucherCancelledError()
    if voucher.status == VoucherStatus.EXPIRED or voucher.expires_at <= now:
        return VoucherExpiredError(date=format_local(voucher.expires_at, "%Y-%m-%d"))
    return None


def honour_voucher(staff: User, typed_code: str) -> Voucher:
    """Redeem at the till, exactly once: one conditional UPDATE decides between two tills."""
    voucher = find_voucher(staff, typed_code)
    now = utcnow()
    won = db.session.execute(
        update(Voucher).where(Voucher.id == voucher.id, Voucher.status == VoucherStatus.ISSUED,
                              Voucher.expires_at > now)
        .values(status=VoucherStatus.REDEEMED, redeemed_at=now, redeemed_by_id=staff.id)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        db.session.rollback()
        db.session.expire_all()
        voucher = find_voucher(staff, typed_code)
        raise refusal(voucher, now) or UnknownVoucherError()
    db.session.commit()
    db.session.refresh(voucher)
    return voucher


def history(staff: User, start: date | None = None, end: date | None = None, reward_id: int | None = None,
            page: int = 1) -> Page[Voucher]:
    """One page of the vouchers this merchant redeemed, newest first, filtered by dates (inclusive) and reward."""
    merchant_id = _staff_merchant(staff)
    query = (select(Voucher).join(Reward).options(joinedload(Voucher.reward), joinedload(Voucher.redeemed_by),
                                                  joinedload(Voucher.user))
             .where(Reward.merchant_id == merchant_id, Voucher.status == VoucherStatus.REDEEMED)
             .order_by(Voucher.redeemed_at.desc(), Voucher.id.desc()))
    if start:
        query = query.where(Voucher.redeemed_at >= local_day_bounds(start)[0])
    if end:
        query = query.where(Voucher.redeemed_at < local_day_bounds(end)[1])
    if reward_id:
        query = query.where(Voucher.reward_id == reward_id)
    return paginate(query, page)


@dataclass(frozen=True)
class SettlementRow:
    """One reward's redemptions in one month."""

    reward_id: int
    title: str
    count: int
    points: int


def settlement(staff: User, year: int, month: int) -> list[SettlementRow]:
    """Per reward: how many were redeemed in the local month and their points value."""
    merchant_id = _staff_merchant(staff)
    start, end = month_bounds(year, month)
    rows = db.session.execute(
        select(Reward.id, Reward.title, func.count(Voucher.id), func.coalesce(func.sum(Voucher.points_cost), 0))
        .join(Voucher, Voucher.reward_id == Reward.id)
        .where(Reward.merchant_id == merchant_id, Voucher.status == VoucherStatus.REDEEMED,
               Voucher.redeemed_at >= start, Voucher.redeemed_at < end)
        .group_by(Reward.id, Reward.title).order_by(Reward.title))
    return [SettlementRow(r, t, int(c), int(p)) for r, t, c, p in rows]


#: the settlement's columns by their codes: the header of the English export
SETTLEMENT_COLUMNS = ["month", "reward_id", "reward", "redeemed", "points"]


def settlement_csv(rows: list[SettlementRow], month_label: str, lang: str = "zh") -> bytes:
    """The settlement in the one CSV writer of every export (BOM for Excel, formulas neutralised): Chinese headers
    and total line (``lang="zh"``), or the codes and "Total" (``lang="en"``)."""
    if lang == "en":
        headers, total_label = SETTLEMENT_COLUMNS, "Total"
    else:
        with force_locale("zh_CN"):
            headers = [str(h) for h in (_l("Month"), _l("Reward id"), _l("Reward"), _l("Redeemed"), _l("Points value"))]
            total_label = str(_l("Total"))
    lines = [[month_label, r.reward_id, r.title, r.count, r.points] for r in rows]
    total = [month_label, "", total_label, sum(r.count for r in rows), sum(r.points for r in rows)]
    return csvfile.to_csv(headers, [*lines, total])


def merchant_rewards(staff: User) -> list[Reward]:
    """The merchant's rewards, proposals included."""
    return list(db.session.scalars(select(Reward).where(Reward.merchant_id == _staff_merchant(staff))
                                   .order_by(Reward.status, Reward.title)))


def request_restock(staff: User, reward_id: int, amount: int) -> RestockRequest:
    """Ask an admin for more stock of one of our rewards."""
    merchant_id = _staff_merchant(staff)
    reward = db.session.get(Reward, reward_id)
    if reward is None or reward.merchant_id != merchant_id:
        raise NotFoundError()
    if not 1 <= amount <= 100_000:
        raise FieldErrors({"amount": _l("Please enter a number from %(low)d to %(high)d.", low=1, high=100_000)})
    if reward.stock is None:
        raise DomainError(_l("This reward has unlimited stock."))
    request = RestockRequest(reward_id=reward.id, amount=amount, requested_by_id=staff.id)
    db.session.add(request)
    db.session.flush()
    audit.record(staff.id, "catalog.restock_request", f"reward:{reward.id}", amount=amount)
    db.session.commit()
    return request


def pending_proposals() -> tuple[list[Reward], list[RestockRequest]]:
    """What merchants proposed and an admin has not decided."""
    rewards = list(db.session.scalars(select(Reward).options(joinedload(Reward.merchant))
                                      .where(Reward.status == RewardStatus.PROPOSED).order_by(Reward.id)))
    restocks = list(db.session.scalars(select(RestockRequest).options(joinedload(RestockRequest.reward))
                                       .where(RestockRequest.status == "pending").order_by(RestockRequest.id)))
    return rewards, restocks


def decide_restock(actor: User, request_id: int, approve: bool) -> RestockRequest:
    """An admin approves (stock grows) or declines a restock request, once."""
    require_admin(actor)
    request = db.session.get(RestockRequest, request_id)
    if request is None:
        raise NotFoundError()
    decided = db.session.execute(
        update(RestockRequest).where(RestockRequest.id == request_id, RestockRequest.status == "pending")
        .values(status="approved" if approve else "declined", decided_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    if decided != 1:
        db.session.rollback()
        raise DomainError(_l("This request was already decided."))
    if approve:
        db.session.execute(update(Reward).where(Reward.id == request.reward_id, Reward.stock.is_not(None))
                           .values(stock=Reward.stock + request.amount).execution_options(synchronize_session=False))
        soldout.forget_after_commit(db.session(), request.reward_id)
    audit.record(actor.id, "catalog.restock_approve" if approve else "catalog.restock_decline",
                 f"reward:{request.reward_id}", amount=request.amount)
    db.session.commit()
    db.session.refresh(request)
    return request

"""The statements of a redemption: the hot path of a flash sale, two round trips on PostgreSQL.

``rewards.redeem`` owns the use case (rules, messages); this module talks to the database with table-level
statements (no ORM object is loaded, flushed or expired):

1. ``lock_terms``: the reward's terms and the volunteer's balance in one row, locking the *volunteer's* row
   (``FOR UPDATE OF users``). A volunteer's own presses queue here; different volunteers never wait for each other.
2. ``take_and_commit``: the per-volunteer limit, the "you redeemed this minutes ago" question, the stock, the debit with its ledger entry and the voucher, then
   the commit. On PostgreSQL that is one data-modifying statement and the COMMIT, sent in one message; elsewhere
   statement by statement (SQLite has no such statement; its ``BEGIN IMMEDIATE`` already serialises writers).

Why this shape. The limit's count cannot join step 1: a statement sees the database as of its start, so a count
taken while waiting for the lock would miss the voucher the volunteer's other request is committing; step 2 starts
after the lock and sees it. The reward's row is the one every volunteer wants: step 2 takes it last, and the
COMMIT travels in the same message, so the row is held only for the statement and the commit's WAL flush on the
server -- never while this process waits for its turn on a busy CPU to read the result and send COMMIT (measured:
with the COMMIT sent after the result, the queue for the row's lock, not the CPU, capped redemptions).

So step 2 must be all or nothing by itself: everything hangs on the conditional stock UPDATE (``stock > 0``, and
the limit), the debit and the inserts select from it. The debit needs no condition of its own: the balance was
checked on the locked row in step 1, and the balance's CHECK (``>= 0``) would abort the whole statement, and with
it the transaction, rather than let an item go without its points. A refused statement writes nothing, and its
COMMIT only ends the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, bindparam, func, insert, select, true, update

from volunteer.extensions import db
from volunteer.models import EntryKind, PointEntry, Reward, User, Voucher, VoucherStatus

_rewards, _users, _entries, _vouchers = (Reward.__table__, User.__table__, PointEntry.__table__,
                                         Voucher.__table__)
_LIVE = (VoucherStatus.ISSUED.value, VoucherStatus.REDEEMED.value)

_TERMS = select(
    _rewards.c.status, _rewards.c.on_sale_from, _rewards.c.on_sale_until, _rewards.c.points_cost, _rewards.c.stock,
    _rewards.c.per_volunteer_limit, _rewards.c.limit_period_days, _rewards.c.min_star, _rewards.c.validity_days,
    _rewards.c.title, _users.c.role, _users.c.points_balance, _users.c.service_minutes,
).select_from(_rewards.join(_users, true())).where(  # one row of each, by their ids
    _rewards.c.id == bindparam("reward_id"), _users.c.id == bindparam("user_id")).with_for_update(of=_users)


def lock_terms(user_id: int, reward_id: int) -> Row | None:
    """The reward's terms and the volunteer's role, balance and minutes; the volunteer's row stays locked."""
    return db.session.connection().execute(_TERMS, {"reward_id": reward_id, "user_id": user_id}).one_or_none()


@dataclass(frozen=True)
class Taken:
    """What step 2 did: the volunteer's live vouchers in the period (before this one), the newest of their live
    vouchers for this reward since ``Order.repeat_since`` that is newer than ``Order.seen_voucher`` (0: none, or not
    asked), the stock left (None: unlimited or not taken) and the new voucher (None: nothing issued, nothing
    written)."""

    held: int
    recent: int
    stock_left: int | None
    voucher_id: int | None


@dataclass(frozen=True)
class Order:
    """Everything step 2 writes, decided by the caller."""

    user_id: int
    reward_id: int
    cost: int
    limit: int | None  # per volunteer in the period; None: no limit
    since: datetime  # start of the period
    stocked: bool  # False: unlimited stock, the reward's row is not touched
    source_key: str
    note: str
    code: str
    expires_at: datetime
    key: str
    now: datetime
    #: the newest recent voucher the confirmation page showed (0: none); a newer one since ``repeat_since`` stops
    #: the redemption (the volunteer did not know of it). None: not asked.
    seen_voucher: int | None = None
    repeat_since: datetime | None = None


def take_and_commit(order: Order) -> Taken:
    """Step 2. A voucher issued is committed; when none was, nothing was written (the caller rolls back)."""
    if db.session.connection().dialect.name == "postgresql":
        return _take_in_one_statement(order)
    taken = _take_in_sequence(order)
    if taken.voucher_id is not None:
        db.session.commit()
    return taken


def _statement(limited: bool, stocked: bool, asks: bool) -> str:
    live = ", ".join(f"'{status}'" for status in _LIVE)  # constants from the enums, not input
    held = f"""held AS (
            SELECT count(*) AS n FROM vouchers WHERE user_id = %(user_id)s AND reward_id = %(reward_id)s
            AND created_at > %(since)s AND status IN ({live})
        ), """ if limited else ""
    recent = f"""recent AS (
            SELECT coalesce(max(id), 0) AS id FROM vouchers WHERE user_id = %(user_id)s
            AND reward_id = %(reward_id)s AND id > %(seen)s AND created_at > %(repeat_since)s AND status IN ({live})
        ), """ if asks else ""
    within_limit = (" AND (SELECT n FROM held) < %(limit)s" if limited else "") + (
        " AND (SELECT id FROM recent) <= %(seen)s" if asks else "")
    taken = (f"UPDATE rewards SET stock = stock - 1 WHERE id = %(reward_id)s AND stock > 0{within_limit} "
             "RETURNING stock") if stocked else (  # unlimited stock: the reward's row is not touched
        f"SELECT NULL::integer AS stock WHERE true{within_limit}")
    return f"""
        WITH {held}{recent}taken AS ({taken}
        ), debit AS (
            UPDATE users SET points_balance = points_balance - %(cost)s
            WHERE id = %(user_id)s AND EXISTS (SELECT 1 FROM taken)
            RETURNING id
        ), entry AS (
            INSERT INTO point_entries (user_id, amount, kind, source_key, note, created_at)
            SELECT id, -%(cost)s::integer, '{EntryKind.REDEMPTION.value}', %(source_key)s, %(note)s, %(now)s
            FROM debit
        ), voucher AS (
            INSERT INTO vouchers (code, reward_id, user_id, points_cost, status, expires_at, idempotency_key,
                                  created_at)
            SELECT %(code)s, %(reward_id)s, id, %(cost)s, '{VoucherStatus.ISSUED.value}', %(expires_at)s, %(key)s,
                   %(now)s
            FROM debit
            RETURNING id
        )
        SELECT {"(SELECT n FROM held)" if limited else "0"} AS held,
               {"(SELECT id FROM recent)" if asks else "0"} AS recent, (SELECT stock FROM taken) AS stock_left,
               (SELECT id FROM voucher) AS voucher_id;
        COMMIT
    """


#: the eight shapes (a per-volunteer limit or not, limited stock or not, the repeat question asked or not), built
#: once; psycopg's placeholders
_STATEMENTS = {(limited, stocked, asks): _statement(limited, stocked, asks)
               for limited in (True, False) for stocked in (True, False) for asks in (True, False)}


def _take_in_one_statement(order: Order) -> Taken:
    import psycopg

    sql = _STATEMENTS[(order.limit is not None, order.stocked, order.seen_voucher is not None)]
    params = {"user_id": order.user_id, "reward_id": order.reward_id, "cost": order.cost,
              "source_key": order.source_key, "note": order.note, "now": order.now, "code": order.code,
              "expires_at": order.expires_at, "key": order.key, "limit": order.limit, "since": order.since,
              "seen": order.seen_voucher, "repeat_since": order.repeat_since}
    driver = db.session.connection().connection.driver_connection
    try:
        # One message, two statements: the server commits right after the statement, without waiting for this
        # process to read the result. That takes the simple query protocol: psycopg quotes the values into the
        # message (client-side binding), and the server plans the statement each time (~0.2 ms). A named
        # prepared statement would spare that, but psycopg sends DEALLOCATE ALL after any rollback once it has
        # prepared statements of its own, which every request's closing rollback would then trigger.
        with psycopg.ClientCursor(driver) as cursor:
            cursor.execute(sql, params)
            held, recent, stock_left, voucher_id = cursor.fetchone()
    except psycopg.Error as exc:  # as SQLAlchemy would have raised it (IntegrityError for a used form key)
        from sqlalchemy.exc import DBAPIError

        raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
    db.session.commit()  # the session's own bookkeeping (the driver has committed already): events, expiry
    return Taken(held, recent, stock_left, voucher_id)


def _take_in_sequence(order: Order) -> Taken:
    execute = db.session.connection().execute
    held = recent = 0
    if order.limit is not None:
        held = execute(select(func.count()).select_from(_vouchers).where(
            _vouchers.c.user_id == order.user_id, _vouchers.c.reward_id == order.reward_id,
            _vouchers.c.created_at > order.since, _vouchers.c.status.in_(_LIVE))).scalar_one()
        if held >= order.limit:
            return Taken(held, recent, None, None)
    if order.seen_voucher is not None:
        recent = execute(select(func.coalesce(func.max(_vouchers.c.id), 0)).where(
            _vouchers.c.user_id == order.user_id, _vouchers.c.reward_id == order.reward_id,
            _vouchers.c.id > order.seen_voucher, _vouchers.c.created_at > order.repeat_since,
            _vouchers.c.status.in_(_LIVE))).scalar_one()
        if recent > order.seen_voucher:
            return Taken(held, recent, None, None)
    left = None
    if order.stocked:
        left = execute(update(_rewards).where(_rewards.c.id == order.reward_id, _rewards.c.stock > 0)
                       .values(stock=_rewards.c.stock - 1).returning(_rewards.c.stock)).scalar_one_or_none()
        if left is None:
            return Taken(held, recent, None, None)
    execute(update(_users).where(_users.c.id == order.user_id)  # checked on the locked row; CHECK (>= 0) backs it
            .values(points_balance=_users.c.points_balance - order.cost))
    execute(insert(_entries).values(
        user_id=order.user_id, amount=-order.cost, kind=EntryKind.REDEMPTION, source_key=order.source_key,
        note=order.note, created_at=order.now))
    voucher_id = execute(insert(_vouchers).values(
        code=order.code, reward_id=order.reward_id, user_id=order.user_id, points_cost=order.cost,
        status=VoucherStatus.ISSUED, expires_at=order.expires_at, idempotency_key=order.key, created_at=order.now,
    ).returning(_vouchers.c.id)).scalar_one()
    return Taken(held, recent, left, voucher_id)

"""Random sequences of award / redeem / cancel / expire / adjust keep the ledger's invariants."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select, update

from volunteer.db import utcnow
from volunteer.errors import DomainError
from volunteer.extensions import db
from volunteer.models import EntryKind, PointEntry, Reward, User, Voucher, VoucherStatus
from volunteer.services import ledger, points, rewards

INITIAL_STOCK = 5
_sources = itertools.count()


def test_ledger_state_machine(app, make_volunteer, make_coordinator, make_reward):
    coordinator = make_coordinator()

    class LedgerMachine(RuleBasedStateMachine):
        vouchers = Bundle("vouchers")

        def __init__(self) -> None:
            super().__init__()
            self.user = make_volunteer(f"v{next(_sources)}")
            self.reward = make_reward(cost=30, stock=INITIAL_STOCK, refund_on_expiry=False)

        @rule(amount=st.integers(1, 120))
        def award(self, amount):
            ledger.credit(self.user.id, amount, EntryKind.SHIFT_AWARD, f"attendance:{next(_sources)}")
            db.session.commit()

        @rule(target=vouchers)
        def redeem(self):
            try:
                return rewards.redeem_reward(self.user.id, self.reward.id, uuid.uuid4().hex).id
            except DomainError:
                return None

        @rule(voucher_id=consumes(vouchers))
        def cancel(self, voucher_id):
            if voucher_id is not None:
                try:
                    rewards.cancel_voucher(self.user.id, voucher_id)
                except DomainError:
                    pass

        @rule(voucher_id=vouchers)
        def expire(self, voucher_id):
            if voucher_id is not None:
                db.session.execute(update(Voucher).where(Voucher.id == voucher_id)
                                   .values(expires_at=utcnow() - timedelta(seconds=1)))
                db.session.commit()
                rewards.expire_vouchers()

        @rule(amount=st.integers(-80, 80).filter(bool))
        def adjust(self, amount):
            try:
                points.adjust_points(coordinator, self.user.id, amount, "property test")
            except DomainError:
                pass

        @invariant()
        def cached_balance_equals_entries(self):
            cached = db.session.scalar(select(User.points_balance).where(User.id == self.user.id))
            summed = db.session.scalar(select(func.coalesce(func.sum(PointEntry.amount), 0))
                                       .where(PointEntry.user_id == self.user.id))
            assert cached == summed and cached >= 0

        @invariant()
        def stock_plus_live_vouchers_is_constant(self):
            stock = db.session.scalar(select(Reward.stock).where(Reward.id == self.reward.id))
            live = db.session.scalar(select(func.count(Voucher.id)).where(
                Voucher.reward_id == self.reward.id,
                Voucher.status.in_([VoucherStatus.ISSUED, VoucherStatus.REDEEMED])))
            assert stock >= 0 and stock + live == INITIAL_STOCK

    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=25, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
    assert ledger.find_mismatches() == []

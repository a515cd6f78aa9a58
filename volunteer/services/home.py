"""What each role's home page shows first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import local_day_bounds, local_today
from volunteer.models import Attendance, Reward, Role, Shift, SignupStatus, User, Voucher, VoucherStatus
from volunteer.services import attendance, face_id, patrol_reports, points, shifts, stars, teams


@dataclass
class HomeSummary:
    """Facts for one home page; each role's template uses its own."""

    user: User
    facts: dict[str, Any] = field(default_factory=dict)


def summary_for(user: User) -> HomeSummary:
    """Gather what this person should see first (a fixed, small number of queries)."""
    facts: dict[str, Any] = {}
    if user.role == Role.VOLUNTEER:
        now = utcnow()
        # the next shift is one with a place that has not ended and that the volunteer has not attended yet (one
        # they are on now is shown as "on patrol")
        ahead = [s for s in shifts.my_signups(user) if s.status == SignupStatus.CONFIRMED
                 and s.shift.cancelled_at is None and s.shift.ends_at > now]
        attended = attendance.attended_shift_ids(user, [s.shift_id for s in ahead])
        facts["next"] = next((s for s in ahead if s.shift_id not in attended), None)
        facts["open"] = attendance.open_attendance(user)
        facts["checkin_open"] = bool(facts["next"]) and attendance.checkin_open(facts["next"].shift, now)
        facts["progress"] = stars.progress(user.service_minutes)
        facts["vouchers"] = db.session.scalar(select(func.count(Voucher.id)).where(
            Voucher.user_id == user.id, Voucher.status == VoucherStatus.ISSUED))
        facts["enrolled"] = face_id.is_enrolled(user.id)
        facts["consent"] = face_id.has_consent(user.id)
        facts["expiry"] = points.upcoming_expiry(user.id, local_today())
    elif user.role in (Role.COORDINATOR, Role.ADMIN):
        managed = teams.managed_team_ids(user)
        facts["pending"] = db.session.scalar(select(func.count(Attendance.id)).join(Shift).where(
            attendance.awaiting_decision(utcnow()), Shift.team_id.in_(managed)))
        facts["upcoming"] = db.session.scalar(select(func.count(Shift.id)).where(
            Shift.team_id.in_(managed), Shift.starts_at > utcnow(), Shift.cancelled_at.is_(None)))
        facts["reports"] = patrol_reports.count_reports(user)
    elif user.role == Role.MERCHANT:
        start, end = local_day_bounds(local_today())
        facts["today"] = db.session.scalar(select(func.count(Voucher.id)).join(Reward).where(
            Reward.merchant_id == user.merchant_id, Voucher.status == VoucherStatus.REDEEMED,
            Voucher.redeemed_at >= start, Voucher.redeemed_at < end))
    return HomeSummary(user=user, facts=facts)


def about_me(user: User) -> HomeSummary:
    """What a volunteer's "Me" page shows beside its links: points, stars, usable vouchers, face check-in."""
    facts: dict[str, Any] = {
        "progress": stars.progress(user.service_minutes),
        "vouchers": db.session.scalar(select(func.count(Voucher.id)).where(
            Voucher.user_id == user.id, Voucher.status == VoucherStatus.ISSUED)),
        "enrolled": face_id.is_enrolled(user.id),
    }
    return HomeSummary(user=user, facts=facts)

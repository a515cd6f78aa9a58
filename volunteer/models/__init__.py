"""All models, imported so Alembic and the app see one metadata."""

from volunteer.models.audit import AuditEvent, Certificate
from volunteer.models.faces import FaceAttempt, FaceConsent, FaceFramePrint, FaceTemplate, LivenessChallenge
from volunteer.models.ledger import EntryKind, HourEntry, PointEntry
from volunteer.models.people import Merchant, Role, Team, TeamKind, User, team_coordinators, team_members
from volunteer.models.rewards import Category, RestockRequest, Reward, RewardStatus, Voucher, VoucherStatus
from volunteer.models.shifts import (
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    CheckAttempt,
    Shift,
    Signup,
    SignupStatus,
)

__all__ = [
    "Attendance", "AttendanceMethod", "AttendanceStatus", "AuditEvent", "Certificate", "Category", "CheckAttempt", "EntryKind",
    "FaceAttempt", "FaceConsent", "FaceFramePrint", "FaceTemplate", "HourEntry", "LivenessChallenge", "Merchant", "PointEntry",
    "RestockRequest", "Reward", "RewardStatus", "Role", "Shift", "Signup", "SignupStatus", "Team", "TeamKind", "User", "Voucher",
    "VoucherStatus", "team_coordinators", "team_members",
]

"""All models, imported so Alembic and the app see one metadata."""

from volunteer.models.audit import AuditEvent, Certificate
from volunteer.models.faces import (
    FaceAttempt,
    FaceConsent,
    FaceFramePrint,
    FaceTemplate,
    FaceThumbnail,
    SpentChallenge,
    ThumbnailConsent,
)
from volunteer.models.ledger import EntryKind, HourEntry, PointEntry
from volunteer.models.people import Merchant, Role, Team, TeamKind, User, team_coordinators, team_members
from volunteer.models.partners import PartnerKey
from volunteer.models.reports import (
    OPEN_STATES,
    EventAction,
    LocationSource,
    PhotoKind,
    RejectReason,
    Report,
    ReportCategory,
    ReportEvent,
    ReportPhoto,
    ReportState,
)
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
    "EventAction", "LocationSource", "OPEN_STATES", "PhotoKind", "RejectReason", "Report", "ReportCategory", "ReportEvent",
    "ReportPhoto", "ReportState",
    "FaceAttempt", "FaceConsent", "FaceFramePrint", "FaceTemplate", "FaceThumbnail", "HourEntry", "Merchant", "PartnerKey",
    "PointEntry", "RestockRequest", "Reward", "RewardStatus", "Role", "Shift", "Signup", "SignupStatus", "SpentChallenge", "Team",
    "TeamKind", "ThumbnailConsent", "User", "Voucher",
    "VoucherStatus", "team_coordinators", "team_members",
]

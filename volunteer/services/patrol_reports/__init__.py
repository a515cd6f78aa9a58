"""Patrol reports (issue #15): hazards, disputes and clues found on patrol, routed, dispatched and closed on the clock.

The public API, by module (each use case takes the acting user, checks scope and commits once):

- categories: ``seed_categories``, ``list_categories``, ``get_category``, ``update_category``, ``is_dispute``,
              ``place_is_private``
- routing:    ``route_report``, ``find_area_team``, ``team_covers``, ``in_polygon``, ``set_team_area``
- filing:     ``find_duplicates``, ``file_report``, ``list_my_reports``, ``get_photo``, ``may_report``
- workflow:   ``sign_report``, ``dispatch_report``, ``handle_report``, ``close_report``, ``reject_report``,
              ``reopen_report``, ``merge_report``, ``allowed_steps``, ``award_key``, ``dispatch_version``
- queue:      ``list_queue``, ``list_escalated``, ``count_reports``, ``get_report``, ``list_dispatch_choices``
- common:     scope (``visible_clause``, ``handles_clause``, ``load_report``, ``can_handle``), the clock
              (``deadline``, ``report_clock``, ``Clock``), labels and errors

Who handles: the coordinators of a team handle its reports (its whole subtree, as for attendance); admins all.
A volunteer reads only their own reports. Overdue reports are escalated to the parent team: listed in its
coordinators' queue (computed from ``due_at``, never written by a read).
"""

from volunteer.services.patrol_reports.categories import (
    CategoryGroup,
    get_category,
    is_dispute,
    list_categories,
    place_is_private,
    seed_categories,
    update_category,
)
from volunteer.services.patrol_reports.common import (
    ACTION_LABELS,
    REJECT_LABELS,
    STATE_LABELS,
    AlreadyDispatchedError,
    AlreadySignedError,
    Clock,
    NoTeamError,
    ReportNotFoundError,
    ReportStateError,
    can_handle,
    deadline,
    handles_clause,
    is_handler,
    load_report,
    report_clock,
    state_label,
    visible_clause,
)
from volunteer.services.patrol_reports.filing import (
    DuplicateCandidate,
    NotADuplicateError,
    file_report,
    find_duplicates,
    get_photo,
    list_my_reports,
    may_report,
)
from volunteer.services.patrol_reports.photos import CleanPhoto, clean_photo, clean_photos
from volunteer.services.patrol_reports.queue import (
    QueueRow,
    ReportDetail,
    ReportFigures,
    count_reports,
    get_report,
    list_dispatch_choices,
    list_escalated,
    list_queue,
)
from volunteer.services.patrol_reports.routing import find_area_team, in_polygon, route_report, set_team_area, team_covers
from volunteer.services.patrol_reports.workflow import (
    BadAssigneeError,
    BadMergeError,
    OwnReportError,
    allowed_steps,
    award_key,
    close_report,
    dispatch_report,
    dispatch_version,
    handle_report,
    merge_report,
    reject_report,
    reopen_report,
    sign_report,
)

__all__ = [
    "ACTION_LABELS", "AlreadyDispatchedError", "AlreadySignedError", "BadAssigneeError", "BadMergeError",
    "CategoryGroup", "CleanPhoto", "Clock", "DuplicateCandidate", "NoTeamError", "NotADuplicateError",
    "OwnReportError", "QueueRow",
    "REJECT_LABELS", "ReportDetail", "ReportFigures", "ReportNotFoundError", "ReportStateError", "STATE_LABELS",
    "allowed_steps", "award_key", "can_handle", "clean_photo", "clean_photos", "close_report", "count_reports",
    "deadline", "dispatch_report", "dispatch_version", "file_report", "find_area_team", "find_duplicates",
    "get_category", "get_photo", "get_report", "handle_report", "handles_clause", "in_polygon", "is_dispute",
    "is_handler", "place_is_private",
    "list_categories", "list_dispatch_choices", "list_escalated", "list_my_reports", "list_queue", "load_report",
    "may_report", "merge_report", "reject_report", "reopen_report", "report_clock", "route_report",
    "seed_categories", "set_team_area", "sign_report", "state_label", "team_covers", "update_category",
    "visible_clause",
]

"""Attendance recorded by hand states check-in and check-out times: by default the schedule so far, never the
future, always within the shift; each wrong time gets its own message."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from volunteer.errors import FieldErrors
from volunteer.extensions import db
from volunteer.models import Attendance, AuditEvent
from volunteer.services import attendance, shifts

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")  # service messages in English; pages in the user's
HANGZHOU = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0) -> datetime:
    """A moment on 16 March 2026, Hangzhou time."""
    return datetime(2026, 3, 16, hour, minute, tzinfo=HANGZHOU)


@pytest.fixture
def patrol(time_machine, make_shift, make_volunteer, make_coordinator):
    """A 10:00–12:00 shift (10 points an hour) with one volunteer signed up; the clock stands at 09:00."""
    time_machine.move_to(at(9), tick=False)
    coordinator, volunteer = make_coordinator(), make_volunteer()
    shift = make_shift(start_in=timedelta(hours=1), hours=2, rate=10)
    shifts.sign_up(volunteer, shift.id)
    return coordinator, volunteer, shift


def _records() -> int:
    return db.session.scalar(select(func.count(Attendance.id)))


def test_recorded_during_the_shift_it_credits_the_time_so_far(patrol, time_machine):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(11), tick=False)
    record = attendance.record_manual(coordinator, shift.id, volunteer.id)
    assert (record.check_in_at, record.check_out_at) == (at(10), at(11))
    assert record.minutes_credited == 60  # not the whole two hours in advance
    details = db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "attendance.manual"))
    assert (details["check_in"], details["check_out"], details["minutes"]) == ("2026-03-16 10:00",
                                                                               "2026-03-16 11:00", 60)


def test_recorded_after_the_shift_it_defaults_to_the_schedule(patrol, time_machine):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(18), tick=False)
    record = attendance.record_manual(coordinator, shift.id, volunteer.id)
    assert (record.check_in_at, record.check_out_at, record.minutes_credited) == (at(10), at(12), 120)


def test_the_times_given_are_the_times_recorded(patrol, time_machine):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(18), tick=False)
    record = attendance.record_manual(coordinator, shift.id, volunteer.id, at(10, 20), at(11, 40))
    assert (record.check_in_at, record.check_out_at) == (at(10, 20), at(11, 40))
    assert record.minutes_credited == 90  # 80 minutes: one hour, and 20 minutes make half an hour


@pytest.mark.parametrize(("now", "check_in", "check_out", "errors"), [
    (at(11), None, at(11, 30), {"check_out_at": "This time is in the future; record what has happened so far."}),
    (at(11), at(11, 5), None, {"check_in_at": "This time is in the future; record what has happened so far."}),
    (at(18), at(9, 30), None, {"check_in_at": "Please give a time within the shift (03-16 10:00 – 03-16 12:00)."}),
    (at(18), None, at(12, 30), {"check_out_at": "Please give a time within the shift (03-16 10:00 – 03-16 12:00)."}),
    (at(18), at(11), at(11), {"check_out_at": "The check-out must be after the check-in."}),
    (at(18), at(11, 30), at(10, 30), {"check_out_at": "The check-out must be after the check-in."}),
    (at(11), at(11, 30), at(11, 45), {"check_in_at": "This time is in the future; record what has happened so far.",
                                      "check_out_at": "This time is in the future; record what has happened so far."}),
    (at(9, 59), None, None, {"check_in_at": "This shift has not started yet: attendance can be recorded from "
                                            "03-16 10:00."}),
])
def test_each_wrong_time_gets_its_own_message_and_nothing_is_recorded(patrol, time_machine, now, check_in,
                                                                       check_out, errors):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(now, tick=False)
    with pytest.raises(FieldErrors) as info:
        attendance.record_manual(coordinator, shift.id, volunteer.id, check_in, check_out)
    assert info.value.texts() == errors
    assert _records() == 0


# --- the roster page ----------------------------------------------------------------------------------------

def test_the_roster_form_defaults_to_the_schedule_so_far(patrol, time_machine, client, login):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(11, 7), tick=False)
    login(coordinator)
    page = client.get(f"/coordinator/shifts/{shift.id}").get_data(as_text=True)
    assert 'name="check_in_at" type="datetime-local"' in page
    assert 'min="2026-03-16T10:00" max="2026-03-16T11:07"' in page
    assert 'value="2026-03-16T10:00"' in page and 'value="2026-03-16T11:07"' in page


def test_the_roster_offers_no_form_before_the_shift(patrol, client, login):
    coordinator, volunteer, shift = patrol
    login(coordinator)
    page = client.get(f"/coordinator/shifts/{shift.id}").get_data(as_text=True)
    assert "班次开始后才能补录。" in page and 'name="check_in_at"' not in page


def test_a_future_check_out_is_refused_next_to_its_field(patrol, time_machine, client, login):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(11), tick=False)
    login(coordinator)
    response = client.post(f"/coordinator/shifts/{shift.id}/manual", data={
        "user_id": volunteer.id, "check_in_at": "2026-03-16T10:00", "check_out_at": "2026-03-16T12:00"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<p class="error" id="e-check_out_at-%d">这个时间还没到；只能登记已经发生的考勤。</p>' % volunteer.id in page
    assert 'value="2026-03-16T12:00"' in page  # what was typed stays in the form
    assert _records() == 0


def test_a_malformed_time_is_a_field_error(patrol, time_machine, client, login):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(18), tick=False)
    login(coordinator)
    response = client.post(f"/coordinator/shifts/{shift.id}/manual", data={
        "user_id": volunteer.id, "check_in_at": "明天", "check_out_at": "2026-03-16T12:00"})
    assert response.status_code == 400 and "请输入日期和时间。" in response.get_data(as_text=True)
    assert _records() == 0


def test_the_times_typed_are_recorded(patrol, time_machine, client, login):
    coordinator, volunteer, shift = patrol
    time_machine.move_to(at(18), tick=False)
    login(coordinator)
    response = client.post(f"/coordinator/shifts/{shift.id}/manual", data={
        "user_id": volunteer.id, "check_in_at": "2026-03-16T10:30", "check_out_at": "2026-03-16T11:45"})
    assert response.status_code == 302
    record = db.session.scalar(select(Attendance))
    assert (record.check_in_at, record.check_out_at, record.minutes_credited) == (at(10, 30), at(11, 45), 90)

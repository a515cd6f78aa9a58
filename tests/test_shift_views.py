"""Shift pages through HTTP: messages for each rule, in both languages where it matters."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.facekit import obama_enrolment, obama_live
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.localtime import to_local
from volunteer.models import Attendance, Shift, Signup
from volunteer.services import attendance, face_id, shifts


def _flash(response) -> str:
    body = response.get_data(as_text=True)
    return body.split('class="flash', 1)[1].split("</div>", 1)[0] if 'class="flash' in body else ""


def test_full_shift_puts_the_volunteer_on_the_waitlist_with_a_clear_message(client, login, make_shift,
                                                                             make_volunteer):
    shift = make_shift(capacity=1)
    shifts.sign_up(make_volunteer("先到的人"), shift.id)
    login(make_volunteer())
    response = client.post(f"/volunteer/shifts/{shift.id}/signup", follow_redirects=True)
    assert "候补第 1 位" in _flash(response)


def test_cancel_after_the_cutoff_is_refused_with_its_reason(client, login, make_shift, make_volunteer):
    user, shift = make_volunteer(), make_shift(start_in=timedelta(hours=1))
    shifts.sign_up(user, shift.id)
    login(user)
    client.post("/language/en")
    response = client.post(f"/volunteer/shifts/{shift.id}/cancel", follow_redirects=True)
    assert "cancellations close 3 hours before the start" in _flash(response)
    assert db.session.scalar(select(Signup.status)) == "confirmed"


def test_coordinator_creates_a_shift_through_the_form(client, login, team, make_coordinator):
    login(make_coordinator())
    start = to_local(utcnow() + timedelta(days=2))
    form = {"team_id": team.id, "title": "北山街巡逻", "place_name": "北山街", "latitude": "30.259",
            "longitude": "120.145", "radius_m": "300", "capacity": "4", "points_per_hour": "10",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "repeat_weeks": "1",
            "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}
    bad = client.post("/coordinator/shifts/new", data={**form, "capacity": "0"})
    assert bad.status_code == 400 and "请输入 1 到 1000 之间的数字" in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Shift.id))) == 0
    good = client.post("/coordinator/shifts/new", data=form, follow_redirects=True)
    assert "已创建 2 个班次" in _flash(good)


def test_volunteer_without_face_data_is_told_to_go_to_the_coordinator(client, login, make_shift, make_volunteer):
    user, shift = make_volunteer(), make_shift(start_in=timedelta(days=1))
    shifts.sign_up(user, shift.id)
    login(user)
    body = client.get(f"/volunteer/shifts/{shift.id}/check-in").get_data(as_text=True)
    assert "请告诉协调员您已到岗" in body


@pytest.mark.usefixtures("photos")
def test_check_in_failures_offer_review_and_review_check_in_works(client, login, make_shift, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, obama_enrolment())
    shift = make_shift(start_in=timedelta(days=1))
    shifts.sign_up(user, shift.id)
    shift.starts_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    login(user)
    client.post("/language/en")
    token = client.post("/faces/challenge").json["token"]
    files = {"frame": [(io.BytesIO(b), f"{i}.jpg") for i, b in enumerate(obama_live())]}
    response = client.post(f"/volunteer/shifts/{shift.id}/check-in", headers={"Accept": "application/json"},
                           data={"token": token, **files})  # no location
    assert response.json["ok"] is False and response.json["review"] is True
    assert "location is not available" in response.json["message"]
    done = client.post(f"/volunteer/shifts/{shift.id}/check-in/review", follow_redirects=True)
    assert "Checked in for review" in _flash(done)
    assert db.session.scalar(select(Attendance.method)) == "review"


def test_too_early_check_in_says_when_it_opens(client, login, make_shift, make_volunteer):
    user, shift = make_volunteer(), make_shift(start_in=timedelta(hours=6))
    shifts.sign_up(user, shift.id)
    login(user)
    client.post("/language/en")
    response = client.post(f"/volunteer/shifts/{shift.id}/check-in/review", follow_redirects=True)
    assert "Too early: check-in opens at" in _flash(response)


def test_reject_without_reason_keeps_the_record(client, login, make_shift, make_volunteer, make_coordinator,
                                                end_shift):
    user, shift, coordinator = make_volunteer(), make_shift(), make_coordinator()
    shifts.sign_up(user, shift.id)
    end_shift(shift)
    record = attendance.record_manual(coordinator, shift.id, user.id)
    login(coordinator)
    response = client.post(f"/coordinator/approvals/{record.id}/reject", data={"reason": " "},
                           follow_redirects=True)
    assert "请告诉志愿者原因" in _flash(response)
    assert db.session.get(Attendance, record.id).status == "pending"


def test_approve_clean_in_one_action_from_the_queue(client, login, make_shift, make_volunteer, make_coordinator,
                                                    end_shift):
    coordinator, shift = make_coordinator(), make_shift(capacity=10)
    volunteers = [make_volunteer(f"v{i}") for i in range(4)]
    for volunteer in volunteers:
        shifts.sign_up(volunteer, shift.id)
    end_shift(shift)
    for volunteer in volunteers:
        attendance.record_manual(coordinator, shift.id, volunteer.id)
    login(coordinator)
    assert "一键通过 4 条无异常记录" in client.get("/coordinator/approvals").get_data(as_text=True)
    response = client.post("/coordinator/approvals/approve-clean", follow_redirects=True)
    assert "已通过 4 条记录" in _flash(response)


def test_volunteer_sees_a_cancelled_shift_on_their_page(client, login, make_shift, make_volunteer,
                                                        make_coordinator):
    user, shift, coordinator = make_volunteer(), make_shift(), make_coordinator()
    shifts.sign_up(user, shift.id)
    shifts.cancel_shift(coordinator, shift.id)
    login(user)
    assert "协调员已取消" in client.get("/volunteer/shifts").get_data(as_text=True)

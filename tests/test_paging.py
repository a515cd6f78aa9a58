"""Long lists are paged, never cut: the total is shown, the second page holds the rest, the filters stay in the
links, and "approve all clean records" approves them all, not one page."""

from __future__ import annotations

import html
import itertools
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select

from tests.conftest import _HASH
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import (
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    AuditEvent,
    CheckAttempt,
    Role,
    Shift,
    Signup,
    SignupStatus,
    User,
    Voucher,
    VoucherStatus,
)
from volunteer.services import ledger, paging

PAGER = re.compile(r"共 (\d+) 条 · 第 (\d+) / (\d+) 页")


def pager(body: str) -> tuple[int, int, int]:
    """(total, page, pages) as the page states them."""
    found = PAGER.search(body)
    assert found, body[:2000]
    return tuple(int(n) for n in found.groups())


def link(body: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', body)
    return unquote(html.unescape(found.group(1))) if found else None


_mobiles = itertools.count(13700000000)


def people(count: int, prefix: str, role: Role = Role.VOLUNTEER, teams=()) -> list[User]:
    made = [User(name=f"{prefix}{i:03d}", mobile=str(next(_mobiles)), password_hash=_HASH, role=role,
                 teams=list(teams)) for i in range(count)]
    db.session.add_all(made)
    db.session.commit()
    return made


def test_users_are_paged_with_the_total_and_the_search_kept(app, client, login, make_admin):
    admin = make_admin("管理员")
    people(120, "队员")
    people(5, "别人")
    login(admin)
    first = client.get("/admin/users?q=队员").get_data(as_text=True)
    assert pager(first) == (120, 1, 3)
    assert re.findall(r"队员\d{3}", first) == [f"队员{i:03d}" for i in range(50)]
    assert link(first, "prev") is None and link(first, "next") == "/admin/users?q=队员&page=2"
    last = client.get("/admin/users?q=队员&page=3").get_data(as_text=True)
    assert pager(last) == (120, 3, 3)
    assert re.findall(r"队员\d{3}", last) == [f"队员{i:03d}" for i in range(100, 120)]
    assert link(last, "next") is None and link(last, "prev") == "/admin/users?q=队员&page=2"
    assert "别人" not in first + last


@pytest.mark.parametrize(("asked", "shown"), [("0", 1), ("-3", 1), ("abc", 1), ("99", 3), ("99999999999999999", 3)])
def test_a_page_number_out_of_range_shows_the_nearest_page(app, client, login, make_admin, asked, shown):
    login(make_admin("管理员"))
    people(120, "队员")
    body = client.get(f"/admin/users?q=队员&page={asked}").get_data(as_text=True)
    assert pager(body)[1:] == (shown, 3)


def test_paginate_counts_every_row_and_keeps_pages_apart(app, make_admin):
    made = people(51, "队员")
    statement = select(User).where(User.name.startswith("队员")).order_by(User.id)
    first, second = paging.paginate(statement, 1), paging.paginate(statement, 2)
    assert (first.total, first.pages, len(first), len(second)) == (51, 2, 50, 1)
    assert [u.id for u in first] + [u.id for u in second] == [u.id for u in made]
    assert (first.has_prev, first.has_next, second.has_prev, second.has_next) == (False, True, True, False)
    assert paging.paginate(select(User).where(User.name == "无此人"), 1).pages == 1


# --- the approval queue ------------------------------------------------------------------------------------

@pytest.fixture
def long_queue(app, team, make_coordinator):
    """65 clean records of one ended shift, then 3 that are not clean: 2 refused attempts, a review flag, and an
    overdue check-in (no check-out)."""
    coordinator = make_coordinator()
    volunteers = people(68, "队员", teams=[team])
    start = utcnow() - timedelta(days=1)
    shift = Shift(team_id=team.id, title="北山街巡逻", place_name="北山街", latitude=30.259, longitude=120.145,
                  radius_m=300, starts_at=start, ends_at=start + timedelta(hours=2), capacity=100,
                  points_per_hour=10, created_by_id=coordinator.id)
    db.session.add(shift)
    db.session.flush()
    for i, volunteer in enumerate(volunteers):
        flags = {65: "", 66: "review"}.get(i, "manual")
        status = AttendanceStatus.OPEN if i == 67 else AttendanceStatus.PENDING
        db.session.add(Attendance(shift_id=shift.id, user_id=volunteer.id, method=AttendanceMethod.MANUAL,
                                  status=status, check_in_at=shift.starts_at,
                                  check_out_at=None if i == 67 else shift.ends_at,
                                  minutes_credited=120, flags=flags, created_at=start + timedelta(minutes=i)))
    for _ in range(2):
        db.session.add(CheckAttempt(shift_id=shift.id, user_id=volunteers[65].id, direction="in", accepted=False,
                                    reason="face_mismatch"))
    db.session.commit()
    return coordinator, volunteers


def test_the_queue_is_paged_and_counts_every_clean_record(app, client, login, long_queue):
    coordinator, volunteers = long_queue
    login(coordinator)
    first = client.get("/coordinator/approvals").get_data(as_text=True)
    assert "有 68 条记录等待审核，其中 65 条没有异常" in first
    assert "一键通过 65 条无异常记录" in first
    assert pager(first) == (68, 1, 2)
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert re.findall(r"<b>(队员\d{3})</b>", second) == [f"队员{i:03d}" for i in range(50, 68)]
    assert "多次核验失败" in second and "未签退" in second


def test_approve_all_clean_approves_every_page(app, client, login, long_queue):
    coordinator, volunteers = long_queue
    login(coordinator)
    client.post("/coordinator/approvals/approve-clean")
    approved = db.session.scalars(select(Attendance.user_id).where(Attendance.status == AttendanceStatus.APPROVED)
                                  .order_by(Attendance.user_id)).all()
    assert approved == [v.id for v in volunteers[:65]]
    assert db.session.scalar(select(func.sum(User.points_balance))) == 65 * 20


# --- the volunteer's lists, the merchant's history, the audit log ----------------------------------------------

def test_points_history_is_paged(app, client, login, make_volunteer):
    volunteer = make_volunteer()
    for i in range(60):
        ledger.credit(volunteer.id, i + 1, "adjustment", f"test:{i}", note=f"第{i + 1}笔")
    db.session.commit()
    login(volunteer)
    first = client.get("/volunteer/points").get_data(as_text=True)
    assert pager(first) == (60, 1, 2) and "第60笔" in first and "第10笔" not in first
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert re.findall(r"第(\d+)笔", second) == [str(n) for n in range(10, 0, -1)]


def test_merchant_history_is_paged_and_keeps_its_filters(app, client, login, make_staff, make_reward,
                                                         make_volunteer):
    staff, volunteer = make_staff(), make_volunteer()
    kept, other = make_reward(merchant=staff.merchant, title="灵隐门票"), make_reward(merchant=staff.merchant,
                                                                                   title="停车月卡")
    now = utcnow()
    for i in range(55):
        for reward in (kept, other):
            db.session.add(Voucher(code=f"{reward.id}{i:019d}"[:20], reward_id=reward.id, user_id=volunteer.id,
                                   points_cost=10, status=VoucherStatus.REDEEMED, expires_at=now,
                                   redeemed_at=now - timedelta(minutes=i), redeemed_by_id=staff.id,
                                   idempotency_key=f"{reward.id}-{i}"))
    db.session.commit()
    login(staff)
    first = client.get(f"/merchant/history?reward={kept.id}&start=2020-01-01").get_data(as_text=True)
    assert pager(first) == (55, 1, 2) and "停车月卡</td>" not in first
    assert link(first, "next") == f"/merchant/history?reward={kept.id}&start=2020-01-01&page=2"
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert pager(second) == (55, 2, 2) and second.count("<td>灵隐门票</td>") == 5


def test_audit_log_is_paged_with_its_filters(app, client, login, make_admin):
    admin = make_admin("管理员")
    db.session.add_all([AuditEvent(actor_id=admin.id, action="points.adjust", target=f"user:{i}",
                                   details={"amount": i}) for i in range(70)]
                       + [AuditEvent(actor_id=admin.id, action="team.create", target="team:1") for _ in range(3)])
    db.session.commit()
    login(admin)
    first = client.get("/admin/audit?action=points.").get_data(as_text=True)
    assert pager(first) == (70, 1, 2)
    assert link(first, "next") == "/admin/audit?action=points.&page=2"
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert pager(second) == (70, 2, 2) and second.count("用户 #") == 20


def test_the_shift_lists_are_paged(app, client, login, team, make_coordinator, make_volunteer):
    coordinator, volunteer = make_coordinator(), make_volunteer()
    start = utcnow() + timedelta(days=1)
    db.session.add_all([Shift(team_id=team.id, title=f"巡逻{i:03d}", place_name="北山街", latitude=30.259,
                              longitude=120.145, radius_m=300, starts_at=start + timedelta(hours=3 * i),
                              ends_at=start + timedelta(hours=3 * i + 2), capacity=5, points_per_hour=10,
                              created_by_id=coordinator.id) for i in range(60)])
    db.session.commit()
    login(coordinator)
    first = client.get("/coordinator/shifts").get_data(as_text=True)
    assert pager(first) == (60, 1, 2) and "巡逻049" in first and "巡逻050" not in first
    assert "巡逻059" in client.get("/coordinator/shifts?page=2").get_data(as_text=True)
    client.post("/logout")
    login(volunteer)
    first = client.get("/volunteer/shifts?place=北山").get_data(as_text=True)
    assert pager(first) == (60, 1, 2) and link(first, "next") == "/volunteer/shifts?place=北山&page=2"


def test_joinable_shifts_come_first_across_pages(app, client, login, team, make_coordinator, make_volunteer):
    """Full shifts go after every shift with room, on whatever page that is."""
    coordinator, volunteer = make_coordinator(), make_volunteer()
    start = utcnow() + timedelta(days=1)
    db.session.add_all([Shift(team_id=team.id, title=f"{'满员' if i % 2 else '有空'}{i:03d}", place_name="北山街",
                              latitude=30.259, longitude=120.145, radius_m=300,
                              starts_at=start + timedelta(hours=3 * i), ends_at=start + timedelta(hours=3 * i + 2),
                              capacity=1, confirmed_count=i % 2, points_per_hour=10, created_by_id=coordinator.id)
                        for i in range(80)])
    db.session.commit()
    login(volunteer)
    first = client.get("/volunteer/shifts").get_data(as_text=True)
    second = client.get("/volunteer/shifts?page=2").get_data(as_text=True)
    titles = re.findall(r"<b>((?:满员|有空)\d{3})</b>", first) + re.findall(r"<b>((?:满员|有空)\d{3})</b>", second)
    assert titles == [f"有空{i:03d}" for i in range(0, 80, 2)] + [f"满员{i:03d}" for i in range(1, 80, 2)]


def test_my_service_record_is_paged(app, client, login, team, make_coordinator, make_volunteer):
    coordinator, volunteer = make_coordinator(), make_volunteer()
    start = utcnow() - timedelta(days=100)
    for i in range(55):
        shift = Shift(team_id=team.id, title=f"巡逻{i:03d}", place_name="北山街", latitude=30.259, longitude=120.145,
                      radius_m=300, starts_at=start + timedelta(days=i), ends_at=start + timedelta(days=i, hours=2),
                      capacity=5, points_per_hour=10, created_by_id=coordinator.id)
        db.session.add(shift)
        db.session.flush()
        db.session.add(Signup(shift_id=shift.id, user_id=volunteer.id, status=SignupStatus.CONFIRMED,
                              queued_at=start))
        db.session.add(Attendance(shift_id=shift.id, user_id=volunteer.id, method=AttendanceMethod.MANUAL,
                                  status=AttendanceStatus.PENDING, check_in_at=shift.starts_at,
                                  check_out_at=shift.ends_at, minutes_credited=120, flags="manual"))
    db.session.commit()
    login(volunteer)
    first = client.get("/volunteer/history").get_data(as_text=True)
    assert pager(first) == (55, 1, 2) and "巡逻054" in first and "巡逻004" not in first
    second = client.get("/volunteer/history?page=2").get_data(as_text=True)
    assert re.findall(r"巡逻\d{3}", second) == [f"巡逻{i:03d}" for i in range(4, -1, -1)]


def _shift(team, coordinator, title: str, starts_at, capacity: int = 100) -> Shift:
    shift = Shift(team_id=team.id, title=title, place_name="北山街", latitude=30.259, longitude=120.145, radius_m=300,
                  starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), capacity=capacity,
                  points_per_hour=10, created_by_id=coordinator.id)
    db.session.add(shift)
    db.session.flush()
    return shift


def test_a_shift_roster_is_paged_and_hand_recording_stays_on_its_page(app, client, login, team, make_coordinator):
    coordinator = make_coordinator()
    shift = _shift(team, coordinator, "断桥巡逻", utcnow() - timedelta(hours=1))
    volunteers = people(55, "队员", teams=[team])
    start = utcnow() - timedelta(days=1)
    db.session.add_all([Signup(shift_id=shift.id, user_id=v.id, queued_at=start + timedelta(minutes=i),
                               status=SignupStatus.CONFIRMED if i < 52 else SignupStatus.WAITLISTED)
                        for i, v in enumerate(volunteers)])
    db.session.add(Attendance(shift_id=shift.id, user_id=volunteers[51].id, method=AttendanceMethod.MANUAL,
                              status=AttendanceStatus.PENDING, check_in_at=shift.starts_at,
                              check_out_at=shift.ends_at, minutes_credited=120, flags="manual"))
    db.session.commit()
    login(coordinator)
    first = client.get(f"/coordinator/shifts/{shift.id}").get_data(as_text=True)
    assert pager(first) == (55, 1, 2)
    assert re.findall(r"队员\d{3}", first) == [f"队员{i:03d}" for i in range(50)]
    assert link(first, "next") == f"/coordinator/shifts/{shift.id}?page=2"
    second = client.get(link(first, "next")).get_data(as_text=True)
    assert pager(second) == (55, 2, 2)
    assert re.findall(r"队员\d{3}", second) == [f"队员{i:03d}" for i in range(50, 55)]
    assert second.count("候补中") == 3 and "等待审批" in second  # 051's record shows on the page it is on
    # a time typed wrong on page 2: the form comes back on page 2, and its pager still leads to the roster
    target = volunteers[50].id
    assert f'action="/coordinator/shifts/{shift.id}/manual?page=2"' in second
    wrong = client.post(f"/coordinator/shifts/{shift.id}/manual?page=2",
                        data={"user_id": target, "check_in_at": "不是时间", "check_out_at": ""})
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and pager(body) == (55, 2, 2) and f'id="e-check_in_at-{target}"' in body
    assert link(body, "prev") == f"/coordinator/shifts/{shift.id}?page=1"
    done = client.post(f"/coordinator/shifts/{shift.id}/manual?page=2", data={"user_id": target})
    assert done.status_code == 302 and done.location.endswith(f"/coordinator/shifts/{shift.id}?page=2")
    assert db.session.scalar(select(func.count(Attendance.id)).where(Attendance.shift_id == shift.id)) == 2


def test_my_shifts_are_paged_apart_from_the_team_s_shifts(app, client, login, team, make_coordinator,
                                                          make_volunteer):
    coordinator, volunteer = make_coordinator(), make_volunteer()
    start = utcnow() + timedelta(days=1)
    mine = [_shift(team, coordinator, f"我的{i:03d}", start + timedelta(hours=3 * i)) for i in range(55)]
    db.session.add_all([Signup(shift_id=s.id, user_id=volunteer.id, status=SignupStatus.CONFIRMED,
                               queued_at=utcnow()) for s in mine])
    db.session.commit()
    login(volunteer)

    def my_list(body: str) -> tuple[str, str]:
        """The section "My shifts", and the rest of the page."""
        head, rest = body.split("我所在队伍的近期班次", 1)
        return head, rest

    first, team_list = my_list(client.get("/volunteer/shifts?page=2").get_data(as_text=True))
    assert pager(first) == (55, 1, 2)
    assert re.findall(r"<b>(我的\d{3})</b>", first) == [f"我的{i:03d}" for i in range(50)]
    assert link(first, "next") == "/volunteer/shifts?page=2&mine_page=2"  # the team list's page kept
    assert pager(team_list) == (55, 2, 2)  # the other list pages on its own
    second, team_list = my_list(client.get(link(first, "next")).get_data(as_text=True))
    assert pager(second) == (55, 2, 2) and pager(team_list) == (55, 2, 2)
    assert re.findall(r"<b>(我的\d{3})</b>", second) == [f"我的{i:03d}" for i in range(50, 55)]
    assert link(second, "prev") == "/volunteer/shifts?page=2&mine_page=1"
    assert 'aria-label="我的班次的分页"' in second  # two pagers on one page, two names (axe: landmark-unique)


def test_no_sign_up_no_pager_for_my_shifts(app, client, login, make_volunteer):
    login(make_volunteer())
    body = client.get("/volunteer/shifts").get_data(as_text=True)
    assert "您还没有报名任何班次" in body.split("我所在队伍的近期班次", 1)[0]
    assert body.count('class="pager"') == 1

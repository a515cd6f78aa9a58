"""Patrol reports (#15), the services: routing, the state machine, the clock, points, duplicates, scope, photos."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import postgres_only
from volunteer.errors import FieldErrors, NotFoundError, PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import (
    EntryKind,
    PointEntry,
    RejectReason,
    Report,
    ReportCategory,
    ReportEvent,
    ReportPhoto,
    ReportState,
    Team,
    TeamKind,
)
from volunteer.services import patrol_reports as pr

#: 宝石社区, near the West Lake (WGS-84)
LAT, LON = 30.2590, 120.1460


@pytest.fixture
def category(app):
    pr.seed_categories()

    def get(code: str = "safety.open_manhole") -> ReportCategory:
        return db.session.scalar(select(ReportCategory).where(ReportCategory.code == code))

    return get


@pytest.fixture
def street(team) -> Team:
    return team.parent


def png_bytes(size=(80, 60), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A real JPEG carrying EXIF with a GPS position, a camera make and a comment."""
    image = Image.new("RGB", (120, 90), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0132] = "2026:11:23 10:00:00"  # DateTime
    gps = {1: "N", 2: (30.0, 15.0, 32.4), 3: "E", 4: (120.0, 8.0, 45.6), 5: 0, 6: 12.0}
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"secret-note")
    return out.getvalue()


def send(actor, category, **kw) -> Report:
    values = {"category_id": category.id, "description": "井盖缺失，有人差点踩空", "latitude": LAT,
              "longitude": LON, "accuracy_m": 12.0}
    values.update(kw)
    return pr.file_report(actor, **values)


# --- model and seed ---------------------------------------------------------------------------------------

def test_the_seeded_tree_has_two_levels_and_the_issue_groups(category):
    groups = pr.list_categories()
    assert [g.group.code for g in groups] == ["fire", "safety", "dispute", "clue", "environment", "other"]
    fire = groups[0]
    assert {c.code for c in fire.children} >= {"fire.ebike_indoor", "fire.flying_wire", "fire.blocked_exit"}
    assert all(c.sign_seconds == 60 and c.dispatch_seconds == 1800 and c.close_seconds == 86400
               for g in groups for c in g.children)
    assert category("clue.suspicious_person").sensitive
    assert pr.seed_categories() == 0  # idempotent


def test_the_database_keeps_the_tree_two_levels_deep(category):
    leaf = category("fire.ebike_indoor")
    db.session.add(ReportCategory(code="too.deep", name_zh="x", name_en="x", level=2, parent_id=leaf.id,
                                  parent_level=1))
    with pytest.raises(Exception):  # the composite key (parent_id, 1) does not exist: a leaf is level 2
        db.session.flush()
    db.session.rollback()


# --- routing ----------------------------------------------------------------------------------------------

def test_routing_picks_the_most_specific_area_then_the_handler_level(category, make_team, make_volunteer,
                                                                     make_admin, team, street):
    admin = make_admin()
    other = make_team("曙光社区", TeamKind.COMMUNITY, street)
    pr.set_team_area(admin, street.id, latitude=LAT, longitude=LON, radius_m=3000, polygon=None)
    pr.set_team_area(admin, other.id, latitude=None, longitude=None, radius_m=None,
                     polygon=[[LAT - 0.001, LON - 0.001], [LAT - 0.001, LON + 0.001], [LAT + 0.001, LON + 0.001],
                              [LAT + 0.001, LON - 0.001]])
    reporter = make_volunteer()  # member of 宝石社区
    assert send(reporter, category()).team_id == other.id  # the polygon of 曙光 beats the street's circle
    far = send(reporter, category(), latitude=LAT + 0.01)  # inside the street's circle only
    assert far.team_id == street.id
    outside = send(reporter, category(), latitude=LAT + 0.2)  # nowhere: the reporter's own team
    assert outside.team_id == team.id
    fire = send(reporter, category("fire.ebike_indoor"))  # fire hazards go to the street's command centre
    assert fire.team_id == street.id


def test_polygon_edges():
    square = [[0, 0], [0, 10], [10, 10], [10, 0]]
    assert pr.in_polygon(5, 5, square) and not pr.in_polygon(11, 5, square) and not pr.in_polygon(5, -1, square)


def test_team_area_is_all_or_nothing_in_the_database(team):
    team.area_latitude = LAT
    with pytest.raises(Exception):
        db.session.flush()
    db.session.rollback()


# --- the state machine ------------------------------------------------------------------------------------

def test_the_whole_loop_writes_the_timeline_and_credits_once(category, make_volunteer, make_coordinator, team):
    reporter, handler = make_volunteer(), make_coordinator()
    report = send(reporter, category())
    pr.sign_report(handler, report.id)
    pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="请网格员到场")
    pr.handle_report(handler, report.id, note="已放置警示牌并报修", photo=png_bytes())
    pr.close_report(handler, report.id, useful=True)
    db.session.refresh(report)
    assert report.state == ReportState.CLOSED and report.confirmed_useful and report.points_awarded == 15
    assert [e.action for e in db.session.scalars(select(ReportEvent).where(ReportEvent.report_id == report.id)
                                                 .order_by(ReportEvent.id))] == [
        "created", "signed", "dispatched", "handled", "closed"]
    entries = db.session.scalars(select(PointEntry).where(PointEntry.user_id == reporter.id)).all()
    assert [(e.amount, e.kind, e.source_key) for e in entries] == [(15, EntryKind.REPORT_AWARD, f"report:{report.id}")]
    db.session.refresh(reporter)
    assert reporter.points_balance == 15
    # reopened and closed useful again: no second credit
    pr.reopen_report(handler, report.id, note="问题复现")
    pr.dispatch_report(handler, report.id, team_id=None, user_id=handler.id, note="")
    pr.handle_report(handler, report.id, note="再次处理")
    pr.close_report(handler, report.id, useful=True)
    db.session.refresh(reporter)
    assert reporter.points_balance == 15


def test_a_step_from_the_wrong_state_is_refused(category, make_volunteer, make_coordinator):
    report = send(make_volunteer(), category())
    handler = make_coordinator()
    with pytest.raises(pr.ReportStateError):
        pr.close_report(handler, report.id, useful=True)
    pr.sign_report(handler, report.id)
    other = make_coordinator("王磊")
    with pytest.raises(pr.AlreadySignedError) as caught:
        pr.sign_report(other, report.id)
    assert "李强" in caught.value.text


def test_a_dispatch_from_an_older_page_is_told_who_dispatched_it_to_whom(category, make_volunteer,
                                                                        make_coordinator, team):
    """The second handler's page showed the report before the first one's dispatch: refused, nothing changed."""
    report = send(make_volunteer(), category())
    first, second = make_coordinator("李强"), make_coordinator("王磊")
    pr.sign_report(first, report.id)
    page = pr.dispatch_version(report)
    assert page == 0
    pr.dispatch_report(first, report.id, team_id=team.id, user_id=None, note="", seen_version=page)
    with pytest.raises(pr.AlreadyDispatchedError) as caught:
        pr.dispatch_report(second, report.id, team_id=None, user_id=second.id, note="", seen_version=page)
    assert caught.value.text.startswith(f"李强 已把此上报交办给 {team.name}（")
    assert caught.value.status_code == 409
    db.session.refresh(report)
    assert (report.assigned_team_id, report.assigned_user_id) == (team.id, None)
    # from the page as it is now, re-dispatching works, and the next stale page names the newer dispatch
    newer = pr.dispatch_version(report)
    assert newer > 0
    pr.dispatch_report(second, report.id, team_id=team.id, user_id=second.id, note="", seen_version=newer)
    with pytest.raises(pr.AlreadyDispatchedError) as caught:
        pr.dispatch_report(first, report.id, team_id=team.id, user_id=None, note="", seen_version=newer)
    assert caught.value.text.startswith(f"王磊 已把此上报交办给 {team.name} / 王磊（")
    assert db.session.scalar(select(func.count(ReportEvent.id)).where(ReportEvent.action == "dispatched")) == 2


def test_rejected_reports_earn_nothing(category, make_volunteer, make_coordinator):
    reporter, handler = make_volunteer(), make_coordinator()
    report = send(reporter, category())
    pr.reject_report(handler, report.id, reason=RejectReason.INVALID, note="现场未发现")
    db.session.refresh(report)
    assert report.state == ReportState.REJECTED and report.status_note == "现场未发现" and report.due_at is None
    assert db.session.scalar(select(func.count(PointEntry.id)).where(PointEntry.user_id == reporter.id)) == 0


def test_the_daily_cap_counts_the_hangzhou_day(app, category, make_volunteer, make_coordinator):
    app.config["REPORT_DAILY_POINTS_CAP"] = 40
    reporter, handler = make_volunteer(), make_coordinator()

    def confirmed(at: datetime) -> int:
        with time_machine.travel(at, tick=False):
            report = send(reporter, category())  # 15 points each
            for step in (lambda: pr.sign_report(handler, report.id),
                         lambda: pr.dispatch_report(handler, report.id, team_id=report.team_id, user_id=None,
                                                    note=""),
                         lambda: pr.handle_report(handler, report.id, note="ok"),
                         lambda: pr.close_report(handler, report.id, useful=True)):
                step()
            db.session.refresh(report)
            return report.points_awarded

    # 2026-11-23 16:30 UTC is 00:30 on the 24th in Hangzhou: a new local day, though the UTC date is the 23rd
    day = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 local on the 23rd
    assert [confirmed(day), confirmed(day + timedelta(minutes=10)), confirmed(day + timedelta(minutes=20)),
            confirmed(day + timedelta(minutes=30))] == [15, 15, 10, 0]
    assert confirmed(datetime(2026, 11, 23, 16, 30, tzinfo=UTC)) == 15


# --- the clock --------------------------------------------------------------------------------------------

def test_queue_is_sorted_by_time_left_and_overdue_escalates_to_the_parent(category, make_volunteer,
                                                                          make_coordinator, team, street):
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    reporter = make_volunteer()
    community_handler, street_handler = make_coordinator(), make_coordinator("赵敏", managed=[street])
    with time_machine.travel(start, tick=False):
        slow = send(reporter, category())  # community, sign within 60 s
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        fresh = send(reporter, category())
    with time_machine.travel(start + timedelta(seconds=45), tick=False):
        queue = pr.list_queue(community_handler)
        assert [r.report.id for r in queue] == [slow.id, fresh.id] and queue.total == 2
        assert [r.clock.seconds_left for r in queue] == [15, 45]
        assert pr.list_queue(street_handler).total == 0  # nothing overdue yet
    with time_machine.travel(start + timedelta(seconds=70), tick=False):
        escalated = pr.list_queue(street_handler)
        assert [(r.report.id, r.escalated, r.clock.overdue) for r in escalated] == [(slow.id, True, True)]
        assert pr.count_reports(street_handler).overdue == 1
        assert (pr.count_reports(street_handler).escalated, pr.count_reports(community_handler).escalated) == (1, 0)
        assert [r.report.id for r in pr.list_escalated(street_handler)] == [slow.id]
        pr.sign_report(community_handler, slow.id)  # signed: the dispatch clock (30 min from arrival) runs
        assert pr.list_queue(street_handler).total == 0


# --- duplicates -------------------------------------------------------------------------------------------

def test_an_open_report_nearby_is_offered_and_joining_merges(category, make_volunteer, make_coordinator):
    first, second = make_volunteer(), make_volunteer("钱芳")
    original = send(first, category())
    near = pr.find_duplicates(second, category().id, LAT + 0.0003, LON)  # about 33 m north
    assert [c.report_id for c in near] == [original.id]
    assert pr.find_duplicates(second, category().id, LAT + 0.0006, LON) == []  # about 67 m
    assert pr.find_duplicates(second, category("dispute.traffic").id, LAT, LON) == []
    joined = send(second, category(), latitude=LAT + 0.0003, join_report_id=original.id)
    db.session.refresh(joined)
    assert joined.state == ReportState.REJECTED and joined.duplicate_of_id == original.id
    with pytest.raises(pr.NotADuplicateError):
        send(second, category(), latitude=LAT + 0.01, join_report_id=original.id)
    handler = make_coordinator()
    third = send(second, category())
    pr.merge_report(handler, third.id, original.id, note="同一井盖")
    db.session.refresh(third)
    assert third.duplicate_of_id == original.id and third.reject_reason == RejectReason.DUPLICATE
    # the handler's words stay on the timeline; the public note (Open311's status_notes) is the fact only
    assert third.status_note == f"已并入第 {original.id} 号上报。" and "同一井盖" not in third.status_note
    assert pr.get_report(handler, original.id).merged_ids == [joined.id, third.id]


@pytest.mark.parametrize("code", ["clue.suspicious_person", "dispute.neighbour"])
def test_a_clue_or_dispute_nearby_is_offered_only_to_whoever_may_already_read_it(category, make_volunteer,
                                                                                  make_coordinator, make_team,
                                                                                  street, code):
    """Clues and disputes (a household's place): the box is no oracle on where they were reported."""
    clue = category(code)
    reporter, stranger = make_volunteer(), make_volunteer("孙丽")
    original = send(reporter, clue, latitude=LAT + 0.0001)
    # an unrelated volunteer, or a coordinator of another street, learns nothing: three "one here" answers
    # (even without a distance) from points around it would place it
    elsewhere = make_coordinator("周涛", managed=[make_team("灵隐街道", TeamKind.STREET, street.parent)])
    for outsider in (stranger, elsewhere):
        assert pr.find_duplicates(outsider, clue.id, LAT, LON) == []
    assert [c.report_id for c in pr.find_duplicates(reporter, clue.id, LAT, LON)] == [original.id]
    handler = make_coordinator(managed=[original.team])
    assert [c.report_id for c in pr.find_duplicates(handler, clue.id, LAT, LON)] == [original.id]
    # joining it is refused like a report that is not there, and nothing is filed or merged
    with pytest.raises(pr.NotADuplicateError):
        send(stranger, clue, join_report_id=original.id)
    assert db.session.scalar(select(func.count(Report.id))) == 1
    # a hazard stays offered to everyone (that is the point of the box), still without a distance
    hazard = send(reporter, category())
    near = pr.find_duplicates(stranger, category().id, LAT + 0.0003, LON)
    assert [c.report_id for c in near] == [hazard.id] and not hasattr(near[0], "distance_m")


# --- scope ------------------------------------------------------------------------------------------------

def test_a_volunteer_sees_only_their_reports_and_a_handler_only_their_subtree(category, make_volunteer,
                                                                            make_coordinator, make_team, street):
    mine, theirs = make_volunteer(), make_volunteer("孙丽")
    report = send(mine, category())
    with pytest.raises(NotFoundError):
        pr.get_report(theirs, report.id)
    photo_report = send(mine, category(), photos=[png_bytes()])
    photo_id = db.session.scalar(select(ReportPhoto.id).where(ReportPhoto.report_id == photo_report.id))
    with pytest.raises(NotFoundError):
        pr.get_photo(theirs, photo_id)
    assert pr.get_photo(mine, photo_id).content_type == "image/png"
    elsewhere = make_team("灵隐街道", TeamKind.STREET, street.parent)
    stranger = make_coordinator("周涛", managed=[elsewhere])
    with pytest.raises(NotFoundError):
        pr.sign_report(stranger, report.id)
    assert pr.list_queue(stranger).total == 0
    with pytest.raises(PermissionDeniedError):  # the reporter may read, not act
        pr.sign_report(mine, report.id)
    assert pr.get_report(mine, report.id).steps == set()


# --- photos -----------------------------------------------------------------------------------------------

def test_exif_and_gps_do_not_survive(category, make_volunteer):
    upload = jpeg_with_gps()
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(0x8825)  # the test photo really has GPS
    report = send(make_volunteer(), category(), photos=[upload])
    stored = db.session.scalar(select(ReportPhoto).where(ReportPhoto.report_id == report.id))
    image = Image.open(io.BytesIO(stored.data))
    assert image.format == "JPEG" and stored.content_type == "image/jpeg"
    assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
    assert b"Exif" not in stored.data and b"SecretCam" not in stored.data and b"secret-note" not in stored.data
    assert (stored.width, stored.height) == (120, 90)


def test_a_phone_jpeg_with_a_gain_map_is_stored_as_its_photo_alone(category, make_volunteer):
    """A JPEG carrying a second picture (an HDR gain map, opened by Pillow as MPO) is a JPEG: the first picture is
    kept, re-encoded, without the second."""
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (10, 120, 200)).save(out, "MPO", save_all=True,
                                                     append_images=[Image.new("L", (60, 45), 255)])
    report = send(make_volunteer(), category(), photos=[out.getvalue()])
    stored = db.session.scalar(select(ReportPhoto).where(ReportPhoto.report_id == report.id))
    image = Image.open(io.BytesIO(stored.data))
    assert image.format == "JPEG" and (stored.width, stored.height) == (120, 90)
    assert image.getpixel((60, 45)) == pytest.approx((10, 120, 200), abs=3)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(app, category, make_volunteer):
    """A 6000 × 4000 photo stored at the configured side is decoded at half scale (a quarter of the memory)."""
    from volunteer.services.patrol_reports import photos

    out = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(out, "JPEG", quality=50)
    decoded = []
    real_load = Image.Image.load

    def load(self):
        decoded.append(self.size)
        return real_load(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "load", load)
        clean = photos.clean_photo(out.getvalue(), 5 * 1024 * 1024, 40_000_000, 1024)
    assert (clean.width, clean.height) == (1024, 683)
    assert decoded[0] == (1500, 1000)  # a quarter of each side, still covering 1024 × 683


def test_a_huge_png_is_refused_before_decoding(category, make_volunteer):
    out = io.BytesIO()
    Image.new("L", (5000, 4000)).save(out, "PNG")  # 20 megapixels in a few kB
    with pytest.raises(FieldErrors) as caught:
        send(make_volunteer(), category(), photos=[out.getvalue()])
    assert "照片像素太多（最多 1600 万像素）" in caught.value.texts()["photos"]


@pytest.mark.parametrize(("uploads", "message"), [
    ([b"GIF89a" + b"\0" * 100], "JPEG"),
    ([b"\x89PNG\r\n\x1a\n" + b"\0" * 100], "损坏"),  # Chinese: the default language
    ([png_bytes()] * 4, "3"),
])
def test_photo_problems_are_named(category, make_volunteer, uploads, message):
    with pytest.raises(FieldErrors) as caught:
        send(make_volunteer(), category(), photos=uploads)
    assert message in caught.value.texts()["photos"]
    assert db.session.scalar(select(func.count(Report.id))) == 0


@pytest.mark.app_config(REPORT_PHOTO_MAX_BYTES=1024 * 1024)
def test_a_photo_too_large_says_the_limit(category, make_volunteer):
    big = b"\xff\xd8\xff" + b"\0" * (1024 * 1024 + 1)
    with pytest.raises(FieldErrors) as caught:
        send(make_volunteer(), category(), photos=[big])
    assert "1 MB" in caught.value.texts()["photos"]


# --- the race ---------------------------------------------------------------------------------------------

@postgres_only
def test_two_handlers_sign_at_once_one_wins_the_other_is_told_who(app, category, make_volunteer,
                                                                   make_coordinator):
    from tests.concurrency import race

    report = send(make_volunteer(), category())
    handlers = [make_coordinator("李强").id, make_coordinator("王磊").id]
    report_id = report.id

    def sign(index: int):
        from volunteer.models import User

        pr.sign_report(db.session.get(User, handlers[index]), report_id)
        return "signed"

    results = race(app, sign, 2)
    assert sorted(str(type(r).__name__) for r in results) == ["AlreadySignedError", "str"], results
    loser = next(r for r in results if r != "signed")
    assert ("李强" in loser.text) != ("王磊" in loser.text)
    assert db.session.scalar(select(func.count(ReportEvent.id)).where(ReportEvent.action == "signed")) == 1


@postgres_only
@pytest.mark.parametrize("from_page", [True, False], ids=["version from the page", "version as loaded"])
def test_two_handlers_redispatch_at_once_one_wins_the_other_is_told_who(app, category, make_volunteer,
                                                                        make_coordinator, team, monkeypatch,
                                                                        from_page):
    """Both handlers load the report in the same dispatch before either writes (a barrier after the load makes
    sure); without the UPDATE's "still that dispatch" condition both succeed and the last one silently wins."""
    import threading

    from tests.concurrency import race
    from volunteer.services.patrol_reports import workflow

    report = send(make_volunteer(), category())
    handlers = [make_coordinator("李强"), make_coordinator("王磊")]
    pr.sign_report(handlers[0], report.id)
    pr.dispatch_report(handlers[0], report.id, team_id=team.id, user_id=None, note="")
    report_id, seen = report.id, pr.dispatch_version(report)
    handler_ids = [h.id for h in handlers]
    targets = [dict(team_id=team.id, user_id=handler_ids[0]), dict(team_id=None, user_id=handler_ids[1])]
    loaded = threading.Barrier(2)
    load = workflow.load_handled_report

    def load_then_wait(actor, report_id):
        found = load(actor, report_id)
        loaded.wait(timeout=30)
        return found

    monkeypatch.setattr(workflow, "load_handled_report", load_then_wait)

    def redispatch(index: int):
        from volunteer.models import User

        pr.dispatch_report(db.session.get(User, handler_ids[index]), report_id, note="改派",
                           seen_version=seen if from_page else None, **targets[index])
        return index

    results = race(app, redispatch, 2)
    assert sorted(type(r).__name__ for r in results) == ["AlreadyDispatchedError", "int"], results
    winner = next(r for r in results if isinstance(r, int))
    loser = next(r for r in results if not isinstance(r, int))
    names = ["李强", "王磊"]
    to = f"{team.name} / 李强" if winner == 0 else "王磊"
    assert loser.text.startswith(f"{names[winner]} 已把此上报交办给 {to}（"), loser.text
    db.session.expire_all()
    report = db.session.get(Report, report_id)
    assert (report.assigned_team_id, report.assigned_user_id) == (targets[winner]["team_id"],
                                                                 targets[winner]["user_id"])
    assert db.session.scalar(select(func.count(ReportEvent.id)).where(ReportEvent.action == "dispatched")) == 2


def test_a_report_sent_while_checked_in_is_linked_to_the_shift(category, make_volunteer, make_shift,
                                                               make_coordinator):
    from volunteer.services import attendance

    volunteer = make_volunteer()
    shift = make_shift(start_in=timedelta(minutes=-30), hours=2)
    shifts_signup(volunteer, shift)
    attendance.check_in_for_review(volunteer, shift.id, LAT, LON)
    assert send(volunteer, category()).shift_id == shift.id
    other = make_volunteer("钱芳")
    assert send(other, category()).shift_id is None  # outside any shift: still accepted


def shifts_signup(volunteer, shift) -> None:
    from volunteer.db import utcnow
    from volunteer.models import Signup, SignupStatus

    db.session.add(Signup(shift_id=shift.id, user_id=volunteer.id, status=SignupStatus.CONFIRMED, queued_at=utcnow()))
    shift.confirmed_count += 1
    db.session.commit()


@postgres_only
def test_two_closings_at_once_stay_under_the_daily_cap(app, category, make_volunteer, make_coordinator, team):
    """Without the reporter's row lock, both closings read "0 earned today" and credit 15 + 15 under a cap of 20."""
    from tests.concurrency import race

    app.config["REPORT_DAILY_POINTS_CAP"] = 20
    reporter, handler = make_volunteer(), make_coordinator()
    ids = []
    for _ in range(2):
        report = send(reporter, category())
        pr.sign_report(handler, report.id)
        pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="")
        pr.handle_report(handler, report.id, note="ok")
        ids.append(report.id)
    handler_id = handler.id

    def close(index: int):
        from volunteer.models import User

        return pr.close_report(db.session.get(User, handler_id), ids[index], useful=True).points_awarded

    results = race(app, close, 2)
    assert sorted(results) == [5, 15], results
    db.session.refresh(reporter)
    assert reporter.points_balance == 20


def test_a_typed_pin_keeps_no_accuracy_and_a_rejected_report_can_be_reopened(category, make_volunteer,
                                                                             make_coordinator):
    from volunteer.models import LocationSource

    report = send(make_volunteer(), category(), location_source="pin", accuracy_m=5.0)
    assert report.location_source == LocationSource.PIN and report.accuracy_m is None
    handler = make_coordinator()
    pr.reject_report(handler, report.id, reason="out_of_scope", note="不属于本平台")
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=1), tick=False):
        pr.reopen_report(handler, report.id, note="属于消防隐患，重新处理")
        db.session.refresh(report)
        assert report.state == ReportState.NEW and report.reject_reason is None and report.status_note == ""
        assert pr.report_clock(report).seconds_left == 60  # the clock starts again at the reopening
    with pytest.raises(FieldErrors):
        pr.reopen_report(handler, report.id, note="  ")
    with pytest.raises(FieldErrors):
        pr.reject_report(handler, report.id, reason="bogus", note="x")


def test_a_merged_report_cannot_be_reopened_or_merged_into(category, make_volunteer, make_coordinator):
    handler, reporter = make_coordinator(), make_volunteer()
    kept, duplicate, third = send(reporter, category()), send(reporter, category()), send(reporter, category())
    pr.merge_report(handler, duplicate.id, kept.id)
    with pytest.raises(pr.ReportStateError):
        pr.reopen_report(handler, duplicate.id, note="试试")
    with pytest.raises(pr.BadMergeError):
        pr.merge_report(handler, third.id, duplicate.id)
    assert pr.allowed_steps(handler, db.session.get(Report, duplicate.id)) == set()


def test_every_report_step_has_a_name_in_the_audit_log():
    """The steps are audited as f"report.{action}" (the audit-label test finds only literal strings)."""
    from volunteer.models import EventAction
    from volunteer.services import admin

    steps = {a.value for a in EventAction} - {"created", "merged_in"}
    assert {f"report.{s}" for s in steps} <= set(admin.ACTION_LABELS)


# --- points: own reports, reopening, the net daily cap ---------------------------------------------------------

def _to_handled(handler, report) -> None:
    """Sign (unless a reopening kept the signature), dispatch to oneself, handle."""
    if db.session.get(Report, report.id).state == ReportState.NEW:
        pr.sign_report(handler, report.id)
    pr.dispatch_report(handler, report.id, team_id=None, user_id=handler.id, note="")
    pr.handle_report(handler, report.id, note="已处理")


def _entries(user_id: int) -> list[tuple[int, str, str]]:
    return [(e.amount, e.kind, e.source_key) for e in db.session.scalars(
        select(PointEntry).where(PointEntry.user_id == user_id).order_by(PointEntry.id))]


def test_a_handler_cannot_confirm_their_own_report_as_useful(category, make_coordinator, street):
    """A coordinator reports, then signs, dispatches to themselves, handles and closes: no points to themselves."""
    root = db.session.scalar(select(Team).where(Team.parent_id.is_(None)))
    handler = make_coordinator("李强", managed=[root])
    report = send(handler, category())
    _to_handled(handler, report)
    assert "close" in pr.allowed_steps(handler, report) and "close_useful" not in pr.allowed_steps(handler, report)
    with pytest.raises(pr.OwnReportError) as caught:
        pr.close_report(handler, report.id, useful=True)
    assert caught.value.status_code == 403 and "另一位处置人员" in caught.value.text
    db.session.refresh(report)
    db.session.refresh(handler)
    assert report.state == ReportState.HANDLED and handler.points_balance == 0
    # another handler of the team may confirm it
    colleague = make_coordinator("王磊", managed=[root])
    assert "close_useful" in pr.allowed_steps(colleague, report)
    pr.close_report(colleague, report.id, useful=True)
    db.session.refresh(handler)
    assert handler.points_balance == category().points
    # or the reporter closes it without points
    own = send(handler, category())
    _to_handled(handler, own)
    pr.close_report(handler, own.id, useful=False)
    db.session.refresh(own)
    assert own.state == ReportState.CLOSED and own.points_awarded == 0


def test_reopening_takes_the_points_back_and_a_rejection_leaves_nothing(category, make_volunteer, make_coordinator):
    from volunteer.services import ledger

    reporter, handler = make_volunteer(), make_coordinator()
    report = send(reporter, category())
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    pr.reopen_report(handler, report.id, note="核实为虚假上报")
    db.session.refresh(report)
    db.session.refresh(reporter)
    assert report.points_awarded == 0 and not report.confirmed_useful and reporter.points_balance == 0
    pr.reject_report(handler, report.id, reason=RejectReason.INVALID, note="虚假上报")
    db.session.refresh(reporter)
    assert reporter.points_balance == 0
    key = f"report:{report.id}"
    assert _entries(reporter.id) == [(15, "report_award", key), (-15, "reversal", f"{key}:reversal")]
    # reopened again and confirmed this time: a new credit with its own key, and its own reversal
    pr.reopen_report(handler, report.id, note="复核属实")
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    db.session.refresh(report)
    assert report.points_awarded == 15
    pr.reopen_report(handler, report.id, note="再次复核")
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    assert _entries(reporter.id)[2:] == [(15, "report_award", f"{key}:2"), (-15, "reversal", f"{key}:2:reversal"),
                                         (15, "report_award", f"{key}:3")]
    db.session.refresh(reporter)
    assert reporter.points_balance == 15 and ledger.find_mismatches() == []


def test_a_reopening_takes_back_at_most_what_is_left(category, make_volunteer, make_coordinator):
    """The reporter spent 10 of the 15 points: the reversal takes the 5 left (a balance never goes negative), the
    report keeps 10 as awarded, and a later paid closing only tops it up to 15."""
    from volunteer.models import AuditEvent
    from volunteer.services import ledger

    reporter, handler = make_volunteer(), make_coordinator()
    report = send(reporter, category())
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    ledger.debit(reporter.id, 10, EntryKind.REDEMPTION, "voucher:test")
    db.session.commit()
    pr.reopen_report(handler, report.id, note="问题复现")
    db.session.refresh(report)
    db.session.refresh(reporter)
    assert (reporter.points_balance, report.points_awarded) == (0, 10)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "report.points_reversed"))
    assert audit is not None and (audit.details["points"], audit.details["kept"]) == (5, 10)
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    db.session.refresh(report)
    db.session.refresh(reporter)
    assert (reporter.points_balance, report.points_awarded) == (5, 15)
    assert ledger.find_mismatches() == []


def test_a_take_back_is_booked_against_each_credit_up_to_what_is_left_on_it(category, make_volunteer,
                                                                            make_coordinator):
    """15 credited, 10 spent, 5 taken back; paid again (5 more, a second credit); reopened with points to spare:
    10 come back from the first credit and 5 from the second, each under its own key — never 15 against the
    second credit of 5 (the daily cap nets each credit against its own reversals)."""
    from volunteer.models import PointEntry
    from volunteer.services import ledger

    reporter, handler = make_volunteer(), make_coordinator()
    report = send(reporter, category())
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    ledger.debit(reporter.id, 10, EntryKind.REDEMPTION, "voucher:test")
    db.session.commit()
    pr.reopen_report(handler, report.id, note="问题复现")
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    ledger.credit(reporter.id, 30, EntryKind.ADJUSTMENT, "adjustment:test")
    db.session.commit()
    pr.reopen_report(handler, report.id, note="又复现了")
    entries = dict(db.session.execute(select(PointEntry.source_key, PointEntry.amount)
                                      .where(PointEntry.source_key.like(f"report:{report.id}%"))).all())
    assert entries == {f"report:{report.id}": 15, f"report:{report.id}:reversal": -5,
                       f"report:{report.id}:2": 5, f"report:{report.id}:reversal:2": -10,
                       f"report:{report.id}:2:reversal": -5}
    db.session.refresh(report)
    assert report.points_awarded == 0 and ledger.find_mismatches() == []


def test_what_a_reopening_could_not_take_back_is_taken_at_the_next_one(category, make_volunteer, make_coordinator):
    """Spent, partly taken back (10 kept), closed without points, reopened again once the reporter has points: the
    10 are taken back then, under a second reversal key of the same credit."""
    from volunteer.services import ledger

    reporter, handler = make_volunteer(), make_coordinator()
    report = send(reporter, category())
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=True)
    ledger.debit(reporter.id, 10, EntryKind.REDEMPTION, "voucher:test")
    db.session.commit()
    pr.reopen_report(handler, report.id, note="问题复现")
    _to_handled(handler, report)
    pr.close_report(handler, report.id, useful=False)
    ledger.credit(reporter.id, 30, EntryKind.ADJUSTMENT, "adjustment:test")
    db.session.commit()
    pr.reopen_report(handler, report.id, note="再次复核")
    db.session.refresh(report)
    db.session.refresh(reporter)
    assert (reporter.points_balance, report.points_awarded) == (20, 0)
    key = f"report:{report.id}"
    assert [e for e in _entries(reporter.id) if e[1] == "reversal"] == [
        (-5, "reversal", f"{key}:reversal"), (-10, "reversal", f"{key}:reversal:2")]
    assert ledger.find_mismatches() == []


def test_the_daily_cap_counts_points_taken_back(app, category, make_volunteer, make_coordinator):
    """Cap 20: a 15-point report confirmed, reopened (taken back), then another confirmed the same day earns 15."""
    app.config["REPORT_DAILY_POINTS_CAP"] = 20
    reporter, handler = make_volunteer(), make_coordinator()
    first, second = send(reporter, category()), send(reporter, category())
    _to_handled(handler, first)
    pr.close_report(handler, first.id, useful=True)
    pr.reopen_report(handler, first.id, note="重新核实")
    _to_handled(handler, second)
    pr.close_report(handler, second.id, useful=True)
    db.session.refresh(second)
    assert second.points_awarded == 15


# --- forged pages, merge race -----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [10**18 - 1, 253_402_300_800_000_000, -1])
def test_a_dispatch_version_no_datetime_holds_is_a_stale_page(category, make_volunteer, make_coordinator, team,
                                                               version):
    from volunteer.errors import InvalidStateError

    report = send(make_volunteer(), category())
    handler = make_coordinator()
    pr.sign_report(handler, report.id)
    with pytest.raises(InvalidStateError) as caught:
        pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="", seen_version=version)
    assert "请刷新页面" in caught.value.text
    db.session.refresh(report)
    assert report.state == ReportState.SIGNED and report.assigned_team_id is None


@postgres_only
def test_two_handlers_merging_two_reports_into_each_other_one_wins(app, category, make_volunteer,
                                                                    make_coordinator, monkeypatch):
    """Both handlers load both reports before either merges (a barrier makes sure); without the row locks and the
    re-read, both merges succeed and each report is a rejected duplicate of the other."""
    import threading

    from tests.concurrency import race
    from volunteer.services.patrol_reports import workflow

    reporter = make_volunteer()
    a, b = send(reporter, category()), send(reporter, category())
    handler_ids = [make_coordinator("李强").id, make_coordinator("王磊").id]
    pairs = [(a.id, b.id), (b.id, a.id)]
    loaded = threading.Barrier(2)
    merge_into = workflow.merge_into

    def wait_then_merge(*args, **kwargs):
        loaded.wait(timeout=30)
        return merge_into(*args, **kwargs)

    monkeypatch.setattr(workflow, "merge_into", wait_then_merge)

    def merge(index: int):
        from volunteer.models import User

        pr.merge_report(db.session.get(User, handler_ids[index]), *pairs[index])
        return index

    results = race(app, merge, 2)
    assert sorted(type(r).__name__ for r in results) == ["BadMergeError", "int"], results
    merged = db.session.scalars(select(Report).where(Report.duplicate_of_id.is_not(None))).all()
    assert len(merged) == 1
    assert db.session.get(Report, merged[0].duplicate_of_id).state == ReportState.NEW

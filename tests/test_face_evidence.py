"""Evidence a coordinator can judge: the optional, encrypted check-in face crop (issue #13 part 4)."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import delete, func, select

from tests.facekit import jpeg, obama_enrolment, obama_live
from volunteer import faces
from volunteer.db import utcnow
from volunteer.errors import PermissionDeniedError
from volunteer.extensions import db
from volunteer.models import Attendance, AuditEvent, FaceThumbnail, TeamKind, ThumbnailConsent, User
from volunteer.services import attendance, face_evidence, face_id, shifts

pytestmark = [pytest.mark.usefixtures("photos"), pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")]
PLACE = (30.2590, 120.1450)


def _count() -> int:
    return db.session.scalar(select(func.count(FaceThumbnail.id)))


@pytest.fixture
def on_shift(app, make_shift, make_volunteer):
    """Make an enrolled volunteer (thumbnail line answered as asked) signed up for a shift that started 10 min ago."""

    def make(thumbnails: bool, user: User | None = None):
        user = user or make_volunteer()
        face_id.give_consent(user.id, thumbnails=thumbnails)
        face_id.enrol(user.id, obama_enrolment())
        shift = make_shift(start_in=timedelta(days=1), hours=2)
        shifts.sign_up(user, shift.id)
        shift.starts_at = utcnow() - timedelta(minutes=10)
        shift.ends_at = shift.starts_at + timedelta(hours=2)
        db.session.commit()
        return user, shift

    return make


def _check_in(user, shift, photo: str = "obama.jpg") -> Attendance:
    """A face check-in with liveness switched off (one photograph): the tests here are about what is kept."""
    result = attendance.check_in(user, shift.id, [jpeg(photo)], None, *PLACE)
    assert result.ok, result.message
    return db.session.scalar(select(Attendance).where(Attendance.user_id == user.id, Attendance.shift_id == shift.id))


def _check_in_and_out(user, shift) -> Attendance:
    record = _check_in(user, shift)
    out = attendance.check_out(user, shift.id, [jpeg("obama3.jpg")], None, *PLACE)
    assert out.ok, out.message
    db.session.refresh(record)
    return record


# --- consent and storage ------------------------------------------------------------------------------------

@pytest.mark.app_config(FACE_LIVENESS=False)
def test_without_the_separate_consent_nothing_is_written(app, on_shift):
    user, shift = on_shift(thumbnails=False)
    assert not face_evidence.has_thumbnail_consent(user.id)
    _check_in_and_out(user, shift)
    assert _count() == 0
    assert db.session.scalar(select(func.count(ThumbnailConsent.id))) == 0


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_with_consent_an_encrypted_small_face_crop_of_each_check_is_kept(app, on_shift):
    user, shift = on_shift(thumbnails=True)
    consent = db.session.scalar(select(ThumbnailConsent))
    assert consent.user_id == user.id and consent.policy_version == app.config["FACE_POLICY_VERSION"]
    assert consent.given_at <= utcnow() and consent.withdrawn_at is None
    assert db.session.scalar(select(AuditEvent.target).where(AuditEvent.action == "face.thumbnail_consent")) \
        == f"user:{user.id}"
    record = _check_in_and_out(user, shift)
    rows = db.session.scalars(select(FaceThumbnail).order_by(FaceThumbnail.direction)).all()
    assert [(r.attendance_id, r.direction, r.user_id) for r in rows] == [(record.id, "in", user.id),
                                                                        (record.id, "out", user.id)]
    for row in rows:
        assert not row.ciphertext.startswith(b"\xff\xd8")  # encrypted at rest, not a JPEG
        picture = faces.decrypt_thumbnail(row.ciphertext, app.config["FACE_KEY"])
        image = Image.open(io.BytesIO(picture))
        assert image.format == "JPEG" and max(image.size) <= 96  # the face chip, never the frame
        assert picture not in row.ciphertext
        assert len(picture) < 8000
        assert not image.getexif()  # no metadata carried over
    with pytest.raises(faces.InvalidToken):
        from cryptography.fernet import Fernet

        faces.decrypt_thumbnail(rows[0].ciphertext, Fernet.generate_key().decode())


def test_the_kept_crop_is_the_straight_frame_of_a_live_check(app, on_shift):
    """With liveness (left, right, straight), the crop kept is the one looking at the camera."""
    user, shift = on_shift(thumbnails=True)
    token = face_id.issue_challenge(user.id).token
    result = attendance.check_in(user, shift.id, obama_live(trim=1), token, *PLACE)
    assert result.ok, result.message
    row = db.session.scalar(select(FaceThumbnail))
    picture = Image.open(io.BytesIO(faces.decrypt_thumbnail(row.ciphertext, app.config["FACE_KEY"])))
    kept = faces.perceptual_hash(picture.convert("RGB").resize((64, 64)))
    straight = faces.analyse(obama_live(trim=1)[2]).phash
    turned = faces.analyse(obama_live(trim=1)[0]).phash
    assert faces.hamming(kept, straight) < faces.hamming(kept, turned)


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_a_refused_check_keeps_no_crop(app, on_shift):
    user, shift = on_shift(thumbnails=True)
    result = attendance.check_in(user, shift.id, [jpeg("biden.jpg")], None, *PLACE)
    assert not result.ok
    assert _count() == 0


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_switching_off_deletes_every_thumbnail_at_once_audited_and_later_checks_keep_none(app, on_shift):
    user, shift = on_shift(thumbnails=True)
    _check_in_and_out(user, shift)
    assert _count() == 2
    assert face_evidence.set_thumbnail_consent(user, False) == 2
    assert _count() == 0
    assert not face_evidence.has_thumbnail_consent(user.id)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "face.thumbnail_withdraw"))
    assert event.details == {"thumbnails_removed": 2}
    assert db.session.scalar(select(ThumbnailConsent.withdrawn_at)) is not None
    # switched on again later, from the face-data page, without enrolling again
    face_evidence.set_thumbnail_consent(user, True)
    assert face_evidence.has_thumbnail_consent(user.id) and face_id.is_enrolled(user.id)
    assert db.session.scalar(select(func.count(ThumbnailConsent.id))) == 2  # the history stays


def test_the_photo_cannot_be_switched_on_without_face_consent(app, make_volunteer):
    user = make_volunteer()
    with pytest.raises(face_evidence.FaceConsentNeededError):
        face_evidence.set_thumbnail_consent(user, True)
    assert not face_evidence.has_thumbnail_consent(user.id)


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_delete_my_face_data_removes_thumbnails_too(app, on_shift):
    user, shift = on_shift(thumbnails=True)
    _check_in(user, shift)
    assert _count() == 1
    face_id.delete_face_data(user, user.id)
    assert _count() == 0 and not face_evidence.has_thumbnail_consent(user.id)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "face.delete"))
    assert event.details["thumbnails_removed"] == 1


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_deleting_the_account_removes_thumbnails(app, on_shift):
    user, shift = on_shift(thumbnails=True)
    _check_in(user, shift)
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.commit()
    assert _count() == 0 and db.session.scalar(select(func.count(ThumbnailConsent.id))) == 0


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_the_consent_screen_answer_sets_the_line_both_ways(app, on_shift):
    user, shift = on_shift(thumbnails=True)
    _check_in(user, shift)
    face_id.give_consent(user.id, thumbnails=False)  # the screen again, line unticked: off, photos deleted
    assert not face_evidence.has_thumbnail_consent(user.id) and _count() == 0
    face_id.give_consent(user.id)  # no answer (another path): unchanged
    assert not face_evidence.has_thumbnail_consent(user.id)


# --- retention ----------------------------------------------------------------------------------------------

@pytest.mark.app_config(FACE_LIVENESS=False)
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_expire_keeps_day_29_and_deletes_day_31_after_the_decision(app, on_shift, make_coordinator, runner,
                                                                     time_machine, decision):
    user, shift = on_shift(thumbnails=True)
    record = _check_in_and_out(user, shift)
    coordinator = make_coordinator()
    decided = utcnow()
    time_machine.move_to(decided, tick=False)
    if decision == "approve":
        attendance.approve_attendance(coordinator, record.id)
    else:
        attendance.reject_attendance(coordinator, record.id, "不在巡逻区域")
    time_machine.move_to(decided + timedelta(days=29), tick=False)
    out = runner.invoke(args=["expire"])
    assert out.exit_code == 0, out.output
    assert "check-in photos deleted 30 days after the decision: 0" in out.output
    assert _count() == 2
    time_machine.move_to(decided + timedelta(days=31), tick=False)
    out = runner.invoke(args=["expire"])
    assert "check-in photos deleted 30 days after the decision: 2" in out.output
    assert _count() == 0


@pytest.mark.app_config(FACE_LIVENESS=False, FACE_THUMBNAIL_DAYS=3)
def test_the_retention_is_configurable_and_undecided_records_keep_theirs(app, on_shift, make_coordinator,
                                                                          make_volunteer, time_machine):
    user, shift = on_shift(thumbnails=True)
    record = _check_in_and_out(user, shift)
    other, other_shift = on_shift(thumbnails=True, user=make_volunteer("王小明"))
    _check_in(other, other_shift)  # still open: waits for a decision
    attendance.approve_attendance(make_coordinator(), record.id)
    now = utcnow()
    assert face_evidence.expire_thumbnails(now + timedelta(days=2)) == 0
    assert face_evidence.expire_thumbnails(now + timedelta(days=4)) == 2
    assert face_evidence.expire_thumbnails(now + timedelta(days=400)) == 0
    assert db.session.scalar(select(FaceThumbnail.user_id)) == other.id


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_expire_also_deletes_a_thumbnail_left_after_a_withdrawal(app, on_shift):
    """A withdrawal committed while a check-in was under way could leave that one row: the job removes it."""
    user, shift = on_shift(thumbnails=True)
    _check_in(user, shift)
    db.session.execute(ThumbnailConsent.__table__.update().values(withdrawn_at=utcnow()))  # as if raced
    db.session.commit()
    assert face_evidence.expire_thumbnails() == 1 and _count() == 0


# --- who may see it -----------------------------------------------------------------------------------------

@pytest.fixture
def kept(app, on_shift):
    app.config["FACE_LIVENESS"] = False
    user, shift = on_shift(thumbnails=True)
    record = _check_in(user, shift)
    thumbnail = db.session.scalar(select(FaceThumbnail))
    return user, record, thumbnail.id


def test_the_service_refuses_a_coordinator_of_another_team(app, kept, make_coordinator, make_team):
    _, _, thumbnail_id = kept
    elsewhere = make_team("翠苑社区", TeamKind.COMMUNITY)
    with pytest.raises(PermissionDeniedError):
        face_evidence.thumbnail_image(make_coordinator("赵六", managed=[elsewhere]), thumbnail_id)
    assert face_evidence.thumbnail_image(make_coordinator(), thumbnail_id).startswith(b"\xff\xd8")


def test_only_a_coordinator_in_scope_or_an_admin_gets_the_photo(app, client, login, kept, make_coordinator,
                                                                make_team, make_staff, make_admin):
    volunteer, _, thumbnail_id = kept
    url = f"/coordinator/approvals/photos/{thumbnail_id}.jpg"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    elsewhere = make_team("翠苑社区", TeamKind.COMMUNITY)
    for user, status in [(volunteer, 403), (make_staff(), 403), (make_coordinator("赵六", managed=[elsewhere]), 403),
                         (make_coordinator(), 200), (make_admin(), 200)]:
        client.post("/logout")
        login(user)
        response = client.get(url)
        assert response.status_code == status, (user.role, response.status_code)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.data.startswith(b"\xff\xd8") == (status == 200)
        if status == 200:
            assert response.mimetype == "image/jpeg"
    assert client.get(f"/coordinator/approvals/photos/{thumbnail_id + 1000}.jpg").status_code == 404


def test_the_queue_shows_the_photo_or_a_neutral_label(app, client, login, on_shift, make_coordinator,
                                                      make_volunteer):
    app.config["FACE_LIVENESS"] = False
    agreed, shift = on_shift(thumbnails=True)
    declined, other_shift = on_shift(thumbnails=False, user=make_volunteer("王小明"))
    _check_in_and_out(agreed, shift)
    _check_in_and_out(declined, other_shift)
    ids = db.session.scalars(select(FaceThumbnail.id).order_by(FaceThumbnail.direction)).all()
    login(make_coordinator())
    client.post("/language/en")
    page = client.get("/coordinator/approvals").get_data(as_text=True)
    for thumbnail_id in ids:
        assert f'src="/coordinator/approvals/photos/{thumbnail_id}.jpg"' in page
    assert page.count("data-check-photo") == 2
    assert page.count("data-no-photo") == 1
    assert "No photo (the volunteer did not agree)" in page
    assert "/static/" not in page.split("data-check-photo")[1].split(">")[0]


# --- never in exports or logs -------------------------------------------------------------------------------

def test_no_export_and_no_log_line_carries_the_photo(app, client, login, kept, make_admin, caplog):
    caplog.set_level(logging.DEBUG)
    _, record, thumbnail_id = kept
    ciphertext = db.session.scalar(select(FaceThumbnail.ciphertext))
    picture = faces.decrypt_thumbnail(ciphertext, app.config["FACE_KEY"])
    login(make_admin())
    assert client.get(f"/coordinator/approvals/photos/{thumbnail_id}.jpg").data == picture
    for kind in ("attendance", "volunteers", "ledger"):
        for lang in ("zh", "en"):
            body = client.get(f"/admin/exports/{kind}.csv?lang={lang}").data
            assert body and ciphertext[:40] not in body and b"\xff\xd8" not in body
            assert b"photo" not in body.lower() and b"thumbnail" not in body.lower()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ciphertext[:40].decode() not in logged and "\xff\xd8" not in logged


# --- the pages ----------------------------------------------------------------------------------------------

@pytest.fixture
def volunteer_client(client, login, make_volunteer):
    user = make_volunteer()
    login(user)
    client.post("/language/en")
    return client, user


def test_the_consent_screen_has_its_own_unticked_line(volunteer_client):
    client, user = volunteer_client
    body = client.get("/faces/consent").get_data(as_text=True)
    line = body.split("data-thumbnail-consent")[1].split("</fieldset>")[0]
    for heading in ("What", "Why", "Who sees it", "How long", "How to withdraw", "If you say no"):
        assert f"<dt>{heading}</dt>" in line
    assert "Deleted automatically 30 days after" in line
    checkbox = line.split('<input type="checkbox" name="thumbnails"')[1].split(">")[0]
    assert "checked" not in checkbox  # off unless the volunteer ticks it
    assert client.post("/faces/consent", data={"decision": "accept"}).status_code == 302
    assert face_id.has_consent(user.id) and not face_evidence.has_thumbnail_consent(user.id)


def test_ticking_the_line_records_it_and_the_page_shows_it_ticked(volunteer_client):
    client, user = volunteer_client
    assert client.post("/faces/consent", data={"decision": "accept", "thumbnails": "on"}).status_code == 302
    assert face_evidence.has_thumbnail_consent(user.id)
    checkbox = client.get("/faces/consent").get_data(as_text=True).split('name="thumbnails"')[1].split(">")[0]
    assert "checked" in checkbox


def test_the_face_data_page_switches_it_on_and_off_without_enrolling_again(volunteer_client, app):
    client, user = volunteer_client
    client.post("/faces/consent", data={"decision": "accept"})
    page = client.get("/faces/").get_data(as_text=True)
    assert "data-thumbnail-setting" in page and "Keep a check-in photo for my coordinator" in page
    response = client.post("/faces/thumbnails", data={"thumbnails": "on"}, follow_redirects=True)
    assert "will see a small photo of each check-in" in response.get_data(as_text=True)
    assert face_evidence.has_thumbnail_consent(user.id)
    assert "Switch off and delete my check-in photos" in client.get("/faces/").get_data(as_text=True)
    response = client.post("/faces/thumbnails", data={}, follow_redirects=True)
    assert "Switched off. 0 check-in photos were deleted." in response.get_data(as_text=True)
    assert not face_evidence.has_thumbnail_consent(user.id)


def test_the_switch_needs_face_consent_first(volunteer_client):
    client, user = volunteer_client
    response = client.post("/faces/thumbnails", data={"thumbnails": "on"}, follow_redirects=True)
    assert "Please agree to face check-in first" in response.get_data(as_text=True)
    assert not face_evidence.has_thumbnail_consent(user.id)


@pytest.mark.app_config(BABEL_DEFAULT_LOCALE="zh_CN")
def test_the_line_in_chinese(client, login, make_volunteer):
    login(make_volunteer())
    body = client.get("/faces/consent").get_data(as_text=True)
    assert "可选：给协调员看的签到照片" in body and "谁能看到" in body

"""The face adapter and the face identity service, on real photographs."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta

import numpy as np
import pytest
from cryptography.fernet import Fernet
from PIL import Image, ImageEnhance, ImageFilter
from sqlalchemy import func, select

from tests.facekit import PHOTOS, encode, image, jpeg, john, obama_enrolment, obama_live
from volunteer import faces
from volunteer.db import utcnow
from volunteer.extensions import db
from volunteer.models import AuditEvent, FaceAttempt, FaceConsent, FaceFramePrint, FaceTemplate, SpentChallenge
from volunteer.services import face_id

# service-level messages are checked in English here; the views' tests check Chinese
pytestmark = [pytest.mark.usefixtures("photos"), pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")]
JOHNS = ["John_Salley", "John_Savage", "John_Schneider", "John_Shimkus", "John_Simm"]


# --- the adapter --------------------------------------------------------------------------------------------

def test_genuine_pairs_are_within_tolerance_and_impostors_beyond():
    tolerance = 0.5
    encodings = {p: [faces.analyse(john(p, i)).encoding for i in range(4)] for p in JOHNS}
    for person, encs in encodings.items():
        for a, b in itertools.combinations(encs, 2):
            assert faces.distance(a, b) <= tolerance, person
    for p1, p2 in itertools.combinations(JOHNS, 2):
        assert faces.distance(encodings[p1][0], encodings[p2][0]) > tolerance, (p1, p2)


def test_obama_photos_match_each_other_and_not_biden():
    obama = [faces.analyse(jpeg(n)).encoding for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    biden = faces.analyse(jpeg("biden.jpg")).encoding
    assert max(faces.distance(a, b) for a, b in itertools.combinations(obama, 2)) <= 0.5
    assert min(faces.distance(biden, o) for o in obama) > 0.6


def test_no_face_is_refused_with_its_message():
    blank = encode(Image.new("RGB", (640, 480), (120, 140, 160)))
    with pytest.raises(faces.NoFaceError) as info:
        faces.analyse(blank)
    assert "No face was found" in info.value.text


def test_several_faces_are_refused_saying_how_many():
    with pytest.raises(faces.SeveralFacesError) as info:
        faces.analyse((PHOTOS / "bald_guys.jpg").read_bytes())
    assert "More than one face was found" in info.value.text
    assert info.value.params["count"] > 1


@pytest.mark.parametrize("name", ["obama_partial_face.jpg", "obama_partial_face2.jpg"])
def test_a_face_cut_by_the_edge_asks_to_centre(name):
    with pytest.raises(faces.FaceOffCentreError) as info:
        faces.analyse((PHOTOS / name).read_bytes())
    assert "centre your face" in info.value.text


def test_a_distant_face_asks_to_come_closer():
    small = image("obama.jpg").resize((171, 213))  # a face about 50 px wide in a 640 x 480 frame
    canvas = Image.new("RGB", (640, 480), (200, 200, 200))
    canvas.paste(small, (240, 130))
    with pytest.raises(faces.FaceTooSmallError) as info:
        faces.analyse(encode(canvas))
    assert "come closer" in info.value.text


@pytest.mark.parametrize("data, error", [
    (b"GIF89a" + b"\0" * 100, faces.NotAnImageError),
    (b"%PDF-1.4 not a photo", faces.NotAnImageError),
    (b"", faces.NotAnImageError),
    (b"\xff\xd8\xff\xe0" + b"garbage" * 50, faces.CorruptImageError),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, faces.CorruptImageError),
])
def test_bad_files_are_refused_by_content(data, error):
    with pytest.raises(error):
        faces.analyse(data)


def test_a_gif_named_jpg_is_refused():
    gif = encode(image("obama.jpg"), "GIF")
    with pytest.raises(faces.NotAnImageError) as info:
        faces.analyse(gif)
    assert "JPEG or PNG" in info.value.text


def test_webp_is_refused():
    with pytest.raises(faces.NotAnImageError):
        faces.analyse(encode(image("obama.jpg"), "WEBP"))


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(faces.ImageTooLargeError) as info:
        faces.analyse(b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024 + 1))
    assert info.value.status_code == 413


def test_decompression_bomb_is_refused_cheaply():
    # a 20000 x 20000 PNG compresses to a few hundred kilobytes
    bomb = encode(Image.new("L", (20000, 20000)), "PNG", optimize=False)
    assert len(bomb) < 5 * 1024 * 1024
    with pytest.raises(faces.TooManyPixelsError) as info:
        faces.analyse(bomb)
    assert "megapixels" in info.value.text


def test_exif_orientation_is_applied():
    img = image("obama.jpg").rotate(90, expand=True)  # stored sideways (turned anticlockwise)...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with the tag that says "turn 90° clockwise to view", as phones write it
    with pytest.raises(faces.NoFaceError):
        faces.analyse(encode(img))  # without the tag the sideways face is not found
    frame = faces.analyse(encode(img, exif=exif))
    upright = faces.analyse(jpeg("obama.jpg"))
    assert faces.distance(frame.encoding, upright.encoding) < 0.2


def test_a_jpeg_with_a_second_picture_is_a_jpeg():
    """Recent phones write a gain map or depth map as a second picture in the JPEG (Pillow opens it as MPO): the
    first picture is the photo."""
    out = io.BytesIO()
    image("obama.jpg").save(out, "MPO", save_all=True, append_images=[Image.new("L", (64, 64))])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    frame = faces.analyse(out.getvalue())
    assert faces.distance(frame.encoding, faces.analyse(jpeg("obama.jpg")).encoding) < 0.05


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16", "LA"])
def test_any_image_mode_is_converted(mode):
    img = image("obama.jpg")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
        assert img.mode == "I;16"
    else:
        img = img.convert(mode)
    frame = faces.analyse(encode(img, "PNG"))
    assert frame.encoding.shape == (128,)


def test_mirror_image_turns_the_other_way():
    turned = faces.analyse(jpeg("obama2.jpg"))
    mirrored = faces.analyse(jpeg("obama2.jpg", mirror=True))
    straight = faces.analyse(jpeg("obama.jpg"))
    assert (turned.pose, mirrored.pose, straight.pose) == ("right", "left", "straight")


@pytest.mark.parametrize("left, right, straight, expected", [
    (0.21, -0.20, 0.0, "clear"),  # Obama's turned photograph and its mirror
    (0.078, -0.101, 0.019, "clear"),  # John Salley's: a modest turn, 0.18 from side to side
    (0.21, -0.20, 0.09, "unclear"),  # the straight frame a little turned
    (0.07, -0.07, 0.0, "unclear"),  # turns, but small ones
    (0.05, -0.20, 0.0, "wrong"),  # a turn that is none (a flat print tilted reads at most 0.055)
    (-0.20, 0.21, 0.0, "wrong"),  # turned the wrong ways
    (0.21, -0.20, 0.13, "wrong"),  # turned when asked to look straight
    (0.10, -0.10, 0.11, "wrong"),  # the "straight" frame more turned than the turn
])
def test_poses_are_judged_against_each_other(left, right, straight, expected):
    assert faces.judge_poses({"left": left, "right": right, "straight": straight}) == expected


def test_small_faces_are_landmarked_to_a_fraction_of_a_pixel():
    """John Shimkus's most turned photograph (150 px), mirrored: on dlib's whole-pixel landmarks its eye widths
    differ by 1.10 at yaw 0.09, a flat ratio of 1.14 (the flat-picture limit is 1.15); landmarked again on an
    enlarged copy, 1.06 (ratio about 0.6), like every other real head."""
    frame = faces.analyse(jpeg("johns/John_Shimkus/000390_03227666.jpg", mirror=True))
    assert abs(frame.yaw) > faces.DOUBT_YAW and frame.flat_ratio < faces.FLAT_DOUBT_RATIO


def test_templates_are_unreadable_without_the_key():
    from cryptography.fernet import Fernet

    encoding = faces.analyse(jpeg("obama.jpg")).encoding
    key, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = faces.encrypt(encoding, key)
    assert encoding.astype("<f8").tobytes() not in token
    assert np.allclose(faces.decrypt(token, key), encoding)
    with pytest.raises(faces.InvalidToken):
        faces.decrypt(token, other)


# --- the service ----------------------------------------------------------------------------------------------

@pytest.fixture
def enrolled(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    assert face_id.enrol(user.id, obama_enrolment()) == 3
    return user


def _challenge(user) -> str:
    return face_id.issue_challenge(user.id).token


def test_enrolment_needs_consent(app, make_volunteer):
    user = make_volunteer()
    with pytest.raises(face_id.ConsentRequiredError):
        face_id.enrol(user.id, obama_enrolment())
    assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0


def test_consent_is_recorded_with_time_and_version(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    consent = db.session.scalar(select(FaceConsent))
    assert consent.policy_version == app.config["FACE_POLICY_VERSION"] and consent.given_at <= utcnow()


def test_enrolment_stores_encrypted_templates_not_photos(app, enrolled):
    rows = db.session.scalars(select(FaceTemplate).where(FaceTemplate.user_id == enrolled.id)).all()
    assert len(rows) == 3
    for row in rows:
        assert row.model_name == faces.MODEL_NAME and row.model_version == faces.MODEL_VERSION
        assert len(row.ciphertext) < 2000  # an encrypted 128-d vector, not an image
        assert faces.decrypt(row.ciphertext, app.config["FACE_KEY"]).shape == (128,)
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "face.enrol")) == "face.enrol"


def test_enrolment_refuses_three_different_people(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    with pytest.raises(face_id.EnrolmentError) as info:
        face_id.enrol(user.id, [jpeg("obama.jpg"), jpeg("biden.jpg"), john("John_Simm", 0)])
    assert "do not look like the same person" in info.value.text
    assert not face_id.is_enrolled(user.id)


@pytest.mark.app_config(BABEL_DEFAULT_LOCALE="zh_CN")
def test_enrolment_message_in_chinese(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    with pytest.raises(face_id.EnrolmentError) as info:
        face_id.enrol(user.id, [jpeg("obama.jpg"), (PHOTOS / "bald_guys.jpg").read_bytes(), jpeg("obama3.jpg")])
    assert info.value.text.startswith("第 2 张：画面中有不止一张脸")


def test_enrolment_says_which_picture_is_wrong(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    with pytest.raises(face_id.EnrolmentError) as info:
        face_id.enrol(user.id, [jpeg("obama.jpg"), (PHOTOS / "bald_guys.jpg").read_bytes(), jpeg("obama3.jpg")])
    assert info.value.text.startswith("Picture 2:") and "More than one face" in info.value.text
    assert not face_id.is_enrolled(user.id)


def test_genuine_live_verification_passes(app, enrolled):
    result = face_id.verify(enrolled.id, obama_live(), _challenge(enrolled))
    assert result.accepted, result.reason
    assert result.liveness == "passed" and result.distance <= app.config["FACE_TOLERANCE"]
    attempt = db.session.scalar(select(FaceAttempt).where(FaceAttempt.purpose == "verify"))
    assert attempt.accepted and attempt.distance == pytest.approx(result.distance)


def test_impostor_is_refused(app, make_volunteer):
    user = make_volunteer()
    face_id.give_consent(user.id)
    face_id.enrol(user.id, [john("John_Simm", 0), john("John_Simm", 1), john("John_Simm", 2)])
    result = face_id.verify(user.id, obama_live(), _challenge(user))
    assert not result.accepted and result.reason == "mismatch"
    assert result.distance > app.config["FACE_TOLERANCE"]
    assert "does not look like the enrolled person" in result.message


def test_a_still_photo_fails_liveness(app, enrolled):
    still = jpeg("obama.jpg", quality=80)
    result = face_id.verify(enrolled.id, [still, still, still], _challenge(enrolled))
    assert not result.accepted and result.reason == "liveness_still"


def test_slightly_different_stills_are_recognised_as_one_still(app, enrolled):
    """Pixels differ (crops, JPEG qualities), the picture is the same: the near-duplicate test sees it."""
    frames = [jpeg("obama.jpg", trim=1, quality=90), jpeg("obama.jpg", trim=2, quality=70),
              jpeg("obama.jpg", trim=3, quality=50)]
    result = face_id.verify(enrolled.id, frames, _challenge(enrolled))
    assert not result.accepted and result.reason == "liveness_still"


def test_frames_in_the_wrong_order_fail(app, enrolled):
    left, right, straight = obama_live()
    result = face_id.verify(enrolled.id, [right, left, straight], _challenge(enrolled))
    assert not result.accepted and result.reason == "liveness_pose"


def test_a_challenge_cannot_be_reused(app, enrolled):
    token = _challenge(enrolled)
    assert face_id.verify(enrolled.id, obama_live(trim=2), token).accepted
    again = face_id.verify(enrolled.id, obama_live(trim=4), token)
    assert not again.accepted and again.reason == "challenge_invalid"


def test_an_expired_challenge_fails(app, enrolled, time_machine):
    time_machine.move_to(utcnow(), tick=False)
    challenge = face_id.issue_challenge(enrolled.id)
    time_machine.shift(timedelta(seconds=app.config["FACE_CHALLENGE_SECONDS"] + 1))
    result = face_id.verify(enrolled.id, obama_live(), challenge.token)
    assert not result.accepted and result.reason == "challenge_invalid"
    assert db.session.scalar(select(func.count(SpentChallenge.id))) == 0


def test_another_persons_challenge_fails(app, enrolled, make_volunteer):
    other = make_volunteer("别人")
    result = face_id.verify(enrolled.id, obama_live(), _challenge(other))
    assert not result.accepted and result.reason == "challenge_invalid"


def test_a_replayed_frame_set_fails_with_a_new_challenge(app, enrolled):
    frames = obama_live()
    assert face_id.verify(enrolled.id, frames, _challenge(enrolled)).accepted
    replay = face_id.verify(enrolled.id, frames, _challenge(enrolled))
    assert not replay.accepted and replay.reason == "liveness_replay"


def test_a_replay_blurred_past_the_copy_test_is_flagged_for_the_coordinator(app, enrolled):
    """Blurred (radius 3.2, 3.0, 2.8), each frame is 0.18–0.20 from the accepted one: past the replay check's 0.18,
    so not a copy by that test; but every frame is within 0.21 of a frame of one earlier accepted set, which two
    genuine check-ins from different photographs never were (bench/face_calibration.py): accepted for the
    coordinator to decide, flagged with the reason."""
    first = face_id.verify(enrolled.id, obama_live(), _challenge(enrolled))
    assert first.accepted and not first.flag
    blurred = [encode(Image.open(io.BytesIO(data)).filter(ImageFilter.GaussianBlur(radius)), quality=85)
               for data, radius in zip(obama_live(), (3.2, 3.0, 2.8), strict=True)]
    result = face_id.verify(enrolled.id, blurred, _challenge(enrolled))
    assert result.accepted and result.flag == "face_same" and result.liveness == "flagged"
    assert "not clear-cut (face check: same pictures as an earlier check)" in result.message
    attempt = db.session.scalars(select(FaceAttempt).order_by(FaceAttempt.id.desc())).first()
    assert attempt.accepted and attempt.reason == "face_same"


def test_frames_of_two_people_fail(app, enrolled):
    """Left and right are Obama, "straight" is Biden facing straight: the poses are right, the people differ."""
    left, right, _ = obama_live()
    result = face_id.verify(enrolled.id, [left, right, jpeg("biden.jpg")], _challenge(enrolled))
    assert not result.accepted and result.reason == "liveness_people"


def test_the_challenge_order_is_random_without_test_config(app_factory):
    app_factory(FACE_TEST_CHALLENGE="")
    from volunteer.models import Role, User

    user = User(name="x", mobile="13911112222", password_hash="x", role=Role.VOLUNTEER)
    db.session.add(user)
    db.session.commit()
    orders = {face_id.issue_challenge(user.id).steps for _ in range(30)}
    assert len(orders) > 1 and all(sorted(o.split(",")) == ["left", "right", "straight"] for o in orders)


@pytest.mark.app_config(FACE_LIVENESS=False)
def test_liveness_switched_off_by_configuration_says_so(app, enrolled):
    result = face_id.verify(enrolled.id, [jpeg("obama2.jpg")], None)
    assert result.accepted and result.liveness == "off"


def test_failed_verifications_are_rate_limited(app, enrolled):
    for _ in range(app.config["CHECKIN_ATTEMPTS"]):
        assert not face_id.verify(enrolled.id, [jpeg("obama.jpg")], None).accepted
    with pytest.raises(face_id.TooManyFailuresError) as info:
        face_id.verify(enrolled.id, obama_live(), _challenge(enrolled))
    assert "Please try again in 10 minutes" in info.value.text


def test_deleting_face_data_removes_every_template(app, enrolled):
    assert face_id.delete_face_data(enrolled, enrolled.id) == 3
    assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0
    assert db.session.scalar(select(func.count(SpentChallenge.id))) == 0
    assert not face_id.has_consent(enrolled.id)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "face.delete")).details == {
        "templates_removed": 3, "thumbnails_removed": 0}
    with pytest.raises(face_id.NotEnrolledError):
        face_id.verify(enrolled.id, obama_live(), None)


def test_deleting_the_account_removes_templates(app, enrolled):
    db.session.delete(enrolled)
    db.session.commit()
    assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0


def test_no_image_is_written_to_the_database(app, enrolled):
    face_id.verify(enrolled.id, obama_live(), _challenge(enrolled))
    jpeg_magic, png_magic = b"\xff\xd8\xff", b"\x89PNG"
    for (blob,) in db.session.execute(select(FaceTemplate.ciphertext)):
        assert jpeg_magic not in blob and png_magic not in blob
    for (blob,) in db.session.execute(select(FaceFramePrint.ciphertext)):
        assert jpeg_magic not in blob and png_magic not in blob and len(blob) < 2000


# --- the replay check: near-duplicates, encrypted, kept 30 days, deleted with the face data ---------------------

def _replayed(frames: list[bytes], change) -> list[bytes]:
    return [encode(change(Image.open(io.BytesIO(f)).convert("RGB")), quality=90) for f in frames]


def _noise(img: Image.Image) -> Image.Image:
    pixels = np.asarray(img, dtype=float) + np.random.default_rng(7).normal(0, 5, (img.height, img.width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


REPLAYS = {
    "jpeg q80": lambda img: Image.open(io.BytesIO(encode(img, quality=80))),
    "jpeg q50": lambda img: Image.open(io.BytesIO(encode(img, quality=50))),
    "one pixel changed": lambda img: (img.putpixel((0, 0), (0, 0, 0)), img)[1],
    "noise": _noise,
    "cropped 3 px": lambda img: img.crop((3, 0, img.width, img.height - 3)),
    "rescaled 0.6": lambda img: img.resize((round(img.width * 0.6), round(img.height * 0.6)), Image.BICUBIC),
    "brighter": lambda img: ImageEnhance.Brightness(img).enhance(1.3),
    "less contrast": lambda img: ImageEnhance.Contrast(img).enhance(0.7),
}


@pytest.mark.parametrize("change", REPLAYS.values(), ids=REPLAYS.keys())
def test_an_accepted_set_replayed_altered_is_refused(app, enrolled, change):
    frames = obama_live()
    assert face_id.verify(enrolled.id, frames, _challenge(enrolled)).accepted
    replay = face_id.verify(enrolled.id, _replayed(frames, change), _challenge(enrolled))
    assert not replay.accepted and replay.reason == "liveness_replay"
    assert "already used" in replay.message


def test_a_replay_with_one_new_frame_is_refused(app, enrolled):
    left, right, _ = obama_live()
    assert face_id.verify(enrolled.id, obama_live(), _challenge(enrolled)).accepted
    replay = face_id.verify(enrolled.id, _replayed([left, right], REPLAYS["jpeg q80"]) + [jpeg("obama3.jpg")],
                            _challenge(enrolled))
    assert not replay.accepted and replay.reason == "liveness_replay"


def test_an_accepted_set_is_kept_encrypted(app, enrolled):
    assert face_id.verify(enrolled.id, obama_live(), _challenge(enrolled)).accepted
    rows = db.session.scalars(select(FaceFramePrint.ciphertext)).all()
    assert len(rows) == 3
    encoding, _ = faces.decrypt_print(rows[0], app.config["FACE_KEY"])
    assert encoding.shape == (128,) and encoding.astype("<f8").tobytes() not in rows[0]
    with pytest.raises(faces.InvalidToken):
        faces.decrypt_print(rows[0], Fernet.generate_key().decode())


def test_distinct_photographs_of_one_person_are_not_copies():
    """John Simm, two photographs of one evening: 0.21 apart and 12 hash bits, the closest distinct pair there is;
    the same photograph re-encoded is a copy."""
    first, second = (faces.analyse((PHOTOS / "johns" / "John_Simm" / name).read_bytes())
                     for name in ("000297_00470170.jpg", "000304_00470122.jpg"))
    assert not faces.near_duplicate(first, second.encoding, second.phash)
    again = faces.analyse(encode(Image.open(PHOTOS / "johns" / "John_Simm" / "000297_00470170.jpg"), quality=60))
    assert faces.near_duplicate(first, again.encoding, again.phash)


def test_refused_attempts_and_enrolment_keep_no_prints(app, enrolled):
    left, right, straight = obama_live()
    assert not face_id.verify(enrolled.id, [right, left, straight], _challenge(enrolled)).accepted
    assert db.session.scalar(select(func.count(FaceFramePrint.id))) == 0


def test_prints_are_deleted_with_the_face_data(app, enrolled):
    assert face_id.verify(enrolled.id, obama_live(), _challenge(enrolled)).accepted
    face_id.delete_face_data(enrolled, enrolled.id)
    assert db.session.scalar(select(func.count(FaceFramePrint.id))) == 0


def test_prints_expire_after_30_days_and_a_replay_then_passes(app, enrolled, runner, time_machine):
    frames = obama_live()
    time_machine.move_to(utcnow(), tick=False)
    assert face_id.verify(enrolled.id, frames, _challenge(enrolled)).accepted
    time_machine.move_to(utcnow() + timedelta(days=29, hours=23), tick=False)
    assert "face replay prints deleted after 30 days: 0" in runner.invoke(args=["expire"]).output
    assert face_id.verify(enrolled.id, frames, _challenge(enrolled)).reason == "liveness_replay"
    time_machine.move_to(utcnow() + timedelta(hours=2), tick=False)
    assert "face replay prints deleted after 30 days: 3" in runner.invoke(args=["expire"]).output
    assert db.session.scalar(select(func.count(FaceFramePrint.id))) == 0

"""Face pages through HTTP: consent, enrolment uploads, verification, deletion, refusals."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.facekit import PHOTOS, jpeg, obama_enrolment, obama_live
from volunteer.extensions import db
from volunteer.models import FaceConsent, FaceTemplate
from volunteer.services import face_id


def _files(field: str, blobs: list[bytes]) -> dict:
    return {field: [(io.BytesIO(b), f"{field}{i}.jpg") for i, b in enumerate(blobs)]}


@pytest.fixture
def volunteer_client(client, login, make_volunteer):
    user = make_volunteer()
    login(user)
    client.post("/language/en")
    return client, user


def test_consent_page_explains_what_why_how_long_and_withdrawal(volunteer_client):
    client, _ = volunteer_client
    body = client.get("/faces/consent").get_data(as_text=True)
    for heading in ("What we collect", "Why", "How long", "How to withdraw", "If you say no"):
        assert heading in body


def test_enrolment_redirects_to_consent_first(volunteer_client):
    client, _ = volunteer_client
    assert client.get("/faces/enrol").headers["Location"].endswith("/faces/consent")


def test_declining_is_a_first_class_path(volunteer_client):
    client, user = volunteer_client
    body = client.post("/faces/consent", data={"decision": "decline"}).get_data(as_text=True)
    assert "your coordinator records your attendance" in body.lower()
    assert db.session.scalar(select(func.count(FaceConsent.id))) == 0


@pytest.mark.usefixtures("photos")
def test_enrol_and_verify_through_uploads(volunteer_client):
    client, user = volunteer_client
    assert client.post("/faces/consent", data={"decision": "accept"}).status_code == 302
    response = client.post("/faces/enrol", data=_files("photo", obama_enrolment()),
                           headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.json["ok"], response.json
    token = client.post("/faces/challenge").json["token"]
    response = client.post("/faces/verify", data={"token": token, **_files("frame", obama_live())},
                           headers={"Accept": "application/json"})
    assert response.json == {"ok": True, "message": "Verified: it is you.", "reason": "match"}


@pytest.mark.usefixtures("photos")
@pytest.mark.parametrize("blob, status, message", [
    (b"GIF89a-not-a-photo", 415, "Please send a JPEG or PNG photo."),
    (b"\xff\xd8\xff\xe0broken", 400, "The photo is damaged"),
])
def test_bad_enrolment_uploads_get_clear_messages_and_save_nothing(volunteer_client, blob, status, message):
    client, user = volunteer_client
    client.post("/faces/consent", data={"decision": "accept"})
    photos = obama_enrolment()
    photos[1] = blob
    response = client.post("/faces/enrol", data=_files("photo", photos), headers={"Accept": "application/json"})
    assert response.status_code == status
    assert response.json["message"].startswith("Picture 2:") and message in response.json["message"]
    assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0


@pytest.mark.usefixtures("photos")
def test_two_faces_in_the_upload_form_fallback(volunteer_client):
    client, user = volunteer_client
    client.post("/faces/consent", data={"decision": "accept"})
    photos = [jpeg("obama.jpg"), (PHOTOS / "bald_guys.jpg").read_bytes(), jpeg("obama3.jpg")]
    response = client.post("/faces/enrol", data=_files("photo", photos))
    assert response.status_code == 400
    assert "More than one face was found" in response.get_data(as_text=True)


@pytest.mark.app_config(MAX_CONTENT_LENGTH=1024 * 1024)
def test_an_oversized_upload_gets_the_413_page(volunteer_client):
    client, _ = volunteer_client
    client.post("/faces/consent", data={"decision": "accept"})
    response = client.post("/faces/enrol", data=_files("photo", [b"\xff\xd8\xff" + b"0" * 2 * 1024 * 1024]))
    assert response.status_code == 413 and "The file is too large" in response.get_data(as_text=True)


@pytest.mark.usefixtures("photos")
def test_delete_my_face_data(volunteer_client):
    client, user = volunteer_client
    client.post("/faces/consent", data={"decision": "accept"})
    client.post("/faces/enrol", data=_files("photo", obama_enrolment()))
    assert face_id.is_enrolled(user.id)
    response = client.post("/faces/delete", follow_redirects=True)
    assert "Your face data was deleted (3 templates)" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0


@pytest.mark.parametrize("path", ["/faces/", "/faces/consent", "/faces/enrol", "/faces/verify"])
def test_face_pages_are_for_volunteers_only(client, login, make_coordinator, path):
    login(make_coordinator())
    assert client.get(path).status_code == 403


@pytest.mark.app_config(FACE_VERIFY_LIMIT="3 per 10 minutes")
def test_face_uploads_share_one_budget_per_volunteer(app, volunteer_client, make_volunteer):
    """Every face upload costs the server a face analysis, accepted or not: enrolment, practice, check-in and
    check-out draw on one budget per volunteer; pages (GET) and other volunteers are not affected."""
    client, _ = volunteer_client
    client.post("/faces/consent", data={"decision": "accept"})
    json = {"Accept": "application/json"}
    assert client.post("/faces/enrol", data=_files("photo", [b"not a photo"]), headers=json).status_code == 400
    assert client.post("/faces/enrol", data=_files("photo", [b"not a photo"]), headers=json).status_code == 400
    assert client.post("/faces/verify", data=_files("frame", [b"not a photo"])).status_code == 302  # not enrolled
    blocked = client.post("/volunteer/shifts/1/check-in", data=_files("frame", [b"x"]), headers=json)
    assert blocked.status_code == 429
    assert blocked.json["message"] == "Too many attempts. Please try again in 10 minutes."  # what the camera shows
    assert client.post("/volunteer/shifts/1/check-out", headers=json).status_code == 429
    assert client.get("/faces/enrol").status_code == 200

    other, someone = app.test_client(), make_volunteer()
    assert other.post("/login", data={"mobile": someone.mobile, "password": PASSWORD}).status_code == 302
    assert other.post("/volunteer/shifts/1/check-in", headers=json).status_code == 404  # their own budget


def test_the_consent_page_starts_with_a_plain_summary_and_a_way_to_the_choice(volunteer_client):
    """The full text runs to three phone screens: a summary in plain words first, and a link to the buttons; the
    place to withdraw has one name everywhere ("My face data")."""
    client, _ = volunteer_client
    body = client.get("/faces/consent").get_data(as_text=True)
    summary = body.index("data-consent-summary")
    assert summary < body.index("What we collect")
    assert 'href="#decision"' in body and 'id="decision"' in body
    assert "128" not in body and "pixels" not in body  # no jargon
    assert "under “My face data”" in body
    assert ">My face data<" in client.get("/volunteer/me").get_data(as_text=True).replace(" <span", "<")

"""Open311 GeoReport v2 at /open311/v2/ (#15): the field names and types of the spec's examples, the filters, the
partner key (hashed, shown once, revocable, rate-limited), nothing personal in the public output, clues hidden."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.test_patrol_reports import LAT, LON, jpeg_with_gps, png_bytes
from volunteer.extensions import db
from volunteer.models import AuditEvent, PartnerKey, Report, ReportCategory, ReportState
from volunteer.services import patrol_reports as pr
from volunteer.services.patrol_reports import open311

#: the types of a request in the spec's GET requests.json example (None: null allowed)
REQUEST_FIELDS = {
    "service_request_id": int, "status": str, "status_notes": str, "service_name": str, "service_code": str,
    "description": str, "agency_responsible": str, "service_notice": type(None), "requested_datetime": str,
    "updated_datetime": str, "expected_datetime": (str, type(None)), "address": type(None),
    "address_id": type(None), "zipcode": type(None), "lat": float, "long": float, "media_url": (str, type(None)),
}
SERVICE_FIELDS = {"service_code": str, "service_name": str, "description": str, "metadata": bool, "type": str,
                  "keywords": str, "group": str}


@pytest.fixture
def code(app):
    pr.seed_categories()

    def get(value: str = "safety.open_manhole") -> ReportCategory:
        return db.session.scalar(select(ReportCategory).where(ReportCategory.code == value))

    return get


@pytest.fixture
def partner(code, make_admin, make_volunteer):
    """A key for a partner filing as its own volunteer account: (key row, secret, account)."""
    account = make_volunteer("城市大脑对接")
    key, secret = open311.issue_key(make_admin(), name="西湖区城市大脑", account_mobile=account.mobile)
    return key, secret, account


def send(actor, category, **kw) -> Report:
    values = {"category_id": category.id, "description": "井盖缺失", "latitude": LAT, "longitude": LON}
    values.update(kw)
    return pr.file_report(actor, **values)


def test_services_have_the_spec_fields_and_the_tree_as_groups(client, code):
    body = client.get("/open311/v2/services.json", headers={"Accept-Language": "zh-CN"})
    assert body.status_code == 200 and body.mimetype == "application/json"
    services = body.get_json()
    assert isinstance(services, list) and len(services) == 14
    for s in services:
        assert set(s) == set(SERVICE_FIELDS)
        assert all(isinstance(s[k], t) for k, t in SERVICE_FIELDS.items())
        assert s["metadata"] is False and s["type"] == "realtime"
    manhole = next(s for s in services if s["service_code"] == "safety.open_manhole")
    assert manhole["service_name"] == "井盖缺失" and manhole["group"] == "公共安全"
    assert "1" in manhole["description"] and "30" in manhole["description"] and "24" in manhole["description"]
    english = client.get("/open311/v2/services.json", headers={"Accept-Language": "en"}).get_json()
    assert any(s["service_name"] == "Open manhole" and s["group"] == "Public safety" for s in english)
    definition = client.get("/open311/v2/services/safety.open_manhole.json").get_json()
    assert definition == {"service_code": "safety.open_manhole", "attributes": []}
    missing = client.get("/open311/v2/services/nope.json")
    assert missing.status_code == 404 and missing.get_json()[0]["code"] == 404


def test_a_request_has_the_spec_fields_and_no_reporter(client, code, make_volunteer, make_coordinator):
    reporter = make_volunteer("张建华")
    report = send(reporter, code(), description="北山街 12 号门口井盖缺失")
    pr.sign_report(make_coordinator(), report.id)
    body = client.get(f"/open311/v2/requests/{report.id}.json", headers={"Accept-Language": "zh-CN"})
    assert body.status_code == 200
    (item,) = body.get_json()
    assert set(item) == set(REQUEST_FIELDS)
    for name, kind in REQUEST_FIELDS.items():
        assert isinstance(item[name], kind), name
    assert item["service_request_id"] == report.id and item["status"] == "open"
    assert item["service_code"] == "safety.open_manhole" and item["agency_responsible"] == "宝石社区"
    assert item["lat"] == pytest.approx(LAT) and item["long"] == pytest.approx(LON)
    assert item["requested_datetime"].endswith("+08:00")  # W3C with the zone
    assert datetime.fromisoformat(item["requested_datetime"]) == report.created_at.replace(microsecond=0)
    assert item["updated_datetime"] >= item["requested_datetime"] and item["status_notes"] == "已签收"
    text = body.get_data(as_text=True)
    assert "张建华" not in text and reporter.mobile not in text and item["media_url"] is None  # photos not public


def test_closed_and_rejected_are_closed_with_the_public_note(client, code, make_volunteer, make_coordinator, team):
    handler, reporter = make_coordinator(), make_volunteer()
    done, refused = send(reporter, code()), send(reporter, code("dispute.traffic"))
    pr.sign_report(handler, done.id)
    pr.dispatch_report(handler, done.id, team_id=team.id, user_id=None, note="内部备注：网格员老王")
    pr.handle_report(handler, done.id, note="已更换井盖")
    pr.close_report(handler, done.id, useful=True)
    pr.reject_report(handler, refused.id, reason="out_of_scope", note="请拨打 122")
    items = {i["service_request_id"]: i for i in client.get("/open311/v2/requests.json").get_json()}
    assert items[done.id]["status"] == "closed" and items[done.id]["status_notes"] == "已更换井盖"
    assert items[done.id]["expected_datetime"] is None
    assert items[refused.id]["status"] == "closed" and "122" in items[refused.id]["status_notes"]
    assert "老王" not in str(items)  # the dispatch note is internal


@pytest.mark.parametrize("category, decimals", [("safety.open_manhole", 3), ("environment.litter", 3),
                                                ("dispute.neighbour", 2), ("dispute.traffic", 2)])
def test_public_locations_are_rounded_and_disputes_more(client, code, make_volunteer, category, decimals):
    report = send(make_volunteer(), code(category), latitude=30.259123, longitude=120.146789)
    expected = {3: (30.259, 120.147), 2: (30.26, 120.15)}[decimals]
    (one,) = client.get(f"/open311/v2/requests/{report.id}.json").get_json()
    (listed,) = client.get("/open311/v2/requests.json").get_json()
    for item in (one, listed):
        assert (item["lat"], item["long"]) == expected
    assert "30.259123" not in client.get("/open311/v2/requests.json").get_data(as_text=True)


def test_a_key_reads_back_only_its_own_filings_not_its_accounts_web_clues_nor_another_keys(
        client, code, make_admin, make_volunteer):
    """The account a key files as is a real volunteer: what they sent through the web form, and what a second key on
    the same account filed, stay hidden from the key."""
    account = make_volunteer("城市大脑对接")
    web_clue = send(account, code("clue.suspicious_person"), description="web-filed clue about my neighbour")
    admin = make_admin()
    key, secret = open311.issue_key(admin, name="西湖区城市大脑", account_mobile=account.mobile)
    other, other_secret = open311.issue_key(admin, name="第二个对接系统", account_mobile=account.mobile)
    filed = open311.create_request(key, service_code="clue.suspicious_activity", latitude=LAT, longitude=LON,
                                   address_string=None, description="可疑人员")
    others = open311.create_request(other, service_code="clue.suspicious_activity", latitude=LAT, longitude=LON,
                                    address_string=None, description="另一个系统的线索")
    assert (filed.partner_key_id, others.partner_key_id, web_clue.partner_key_id) == (key.id, other.id, None)
    assert [p.id for p in open311.find_requests(open311.RequestFilter(), "zh", key).items] == [filed.id]
    mine = client.get(f"/open311/v2/requests.json?api_key={secret}").get_json()
    assert [i["service_request_id"] for i in mine] == [filed.id]
    theirs = client.get(f"/open311/v2/requests.json?api_key={other_secret}").get_json()
    assert [i["service_request_id"] for i in theirs] == [others.id]
    for hidden in (web_clue, others):
        assert client.get(f"/open311/v2/requests/{hidden.id}.json?api_key={secret}").status_code == 404


def test_clues_are_never_public_and_rounded_for_the_partner_that_filed_them(client, code, make_volunteer, partner):
    key, secret, account = partner
    volunteers_clue = send(make_volunteer(), code("clue.suspicious_person"), latitude=30.259123, longitude=120.146789)
    partners_clue = send(account, code("clue.suspicious_activity"), latitude=30.259123, longitude=120.146789,
                         partner_key_id=key.id)
    public = client.get("/open311/v2/requests.json").get_json()
    assert public == []
    for report in (volunteers_clue, partners_clue):
        assert client.get(f"/open311/v2/requests/{report.id}.json").status_code == 404
    mine = client.get(f"/open311/v2/requests.json?api_key={secret}").get_json()
    assert [i["service_request_id"] for i in mine] == [partners_clue.id]  # its own only, never the volunteer's
    assert (mine[0]["lat"], mine[0]["long"]) == (30.259, 120.147)
    one = client.get(f"/open311/v2/requests/{partners_clue.id}.json?api_key={secret}").get_json()
    assert one[0]["lat"] == 30.259
    assert client.get(f"/open311/v2/requests/{volunteers_clue.id}.json?api_key={secret}").status_code == 404


def test_photos_only_for_categories_that_allow_them(client, code, make_volunteer):
    volunteer = make_volunteer()
    litter = send(volunteer, code("environment.litter"), photos=[jpeg_with_gps()])
    manhole = send(volunteer, code(), photos=[png_bytes()])
    items = {i["service_request_id"]: i for i in client.get("/open311/v2/requests.json").get_json()}
    assert items[manhole.id]["media_url"] is None
    url = items[litter.id]["media_url"]
    assert url.startswith("http://localhost/open311/v2/media/")
    photo = client.get(url.removeprefix("http://localhost"))
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg" and b"Exif" not in photo.data
    manhole_photo = db.session.scalar(select(func.min(pr.filing.ReportPhoto.id))
                                      .where(pr.filing.ReportPhoto.report_id == manhole.id))
    assert client.get(f"/open311/v2/media/{manhole_photo}").status_code == 404
    litter.category.public_photos = False  # an admin changes their mind: the photo stops at once
    db.session.commit()
    assert client.get(url.removeprefix("http://localhost")).status_code == 404


def test_the_filters_of_the_spec(client, code, make_volunteer, make_coordinator):
    volunteer, handler = make_volunteer(), make_coordinator()
    with time_machine.travel(datetime(2026, 11, 1, 2, 0, tzinfo=UTC), tick=False):
        old = send(volunteer, code())
    with time_machine.travel(datetime(2026, 11, 20, 2, 0, tzinfo=UTC), tick=False):
        traffic = send(volunteer, code("dispute.traffic"))
        closed = send(volunteer, code())
        pr.reject_report(handler, closed.id, reason="invalid", note="未发现")
        get = lambda q: [i["service_request_id"] for i in client.get("/open311/v2/requests.json" + q).get_json()]  # noqa: E731
        assert get("") == [closed.id, traffic.id, old.id]  # newest first
        assert get("?service_code=dispute.traffic") == [traffic.id]
        assert get("?service_code=dispute.traffic,safety.open_manhole&status=open") == [traffic.id, old.id]
        assert get("?status=closed") == [closed.id]
        assert get("?status=open,closed") == [closed.id, traffic.id, old.id]
        # start_date/end_date in W3C format; a date without a time is local midnight
        assert get("?start_date=2026-11-10T00:00:00%2B08:00") == [closed.id, traffic.id]
        assert get("?end_date=2026-11-02") == [old.id]
        assert get("?start_date=2026-11-01T02:00:00Z&end_date=2026-11-01T02:00:00Z") == [old.id]
        # service_request_id overrides the other filters
        assert get(f"?service_request_id={old.id},{closed.id}&status=open") == [closed.id, old.id]
        for query, words in [("?start_date=yesterday", "start_date"), ("?status=pending", "status"),
                             ("?start_date=2026-01-01&end_date=2026-11-01", "90"),
                             ("?start_date=2026-11-10&end_date=2026-11-01", "before"),
                             ("?service_request_id=1,x", "service_request_id"), ("?page_size=500", "page_size")]:
            wrong = client.get("/open311/v2/requests.json" + query, headers={"Accept-Language": "en"})
            assert wrong.status_code == 400, query
            (error,) = wrong.get_json()[:1]
            assert error["code"] == 400 and words in error["description"], (query, error)


def test_pages_say_the_total_and_the_next_page(client, code, make_volunteer):
    volunteer = make_volunteer()
    ids = [send(volunteer, code()).id for _ in range(5)]
    first = client.get("/open311/v2/requests.json?page_size=2")
    assert [i["service_request_id"] for i in first.get_json()] == ids[::-1][:2]
    assert first.headers["X-Total-Count"] == "5" and "page=2" in first.headers["Link"]
    last = client.get("/open311/v2/requests.json?page_size=2&page=3")
    assert [i["service_request_id"] for i in last.get_json()] == [ids[0]] and "Link" not in last.headers
    beyond = client.get("/open311/v2/requests.json?page_size=2&page=99")  # past the end: the last page
    assert [i["service_request_id"] for i in beyond.get_json()] == [ids[0]]


def test_a_partner_files_through_the_same_service_as_the_web_form(client, code, partner, team):
    key, secret, account = partner
    sent = client.post("/open311/v2/requests.json", data={
        "api_key": secret, "service_code": "fire.flying_wire", "lat": str(LAT), "long": str(LON),
        "address_string": "北山街 84 号", "description": "楼道飞线充电", "media": (io.BytesIO(jpeg_with_gps()), "a.jpg")},
        content_type="multipart/form-data")
    assert sent.status_code == 201, sent.get_data(as_text=True)
    (answer,) = sent.get_json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"} and answer["account_id"] is None
    report = db.session.get(Report, answer["service_request_id"])
    assert report.reporter_id == account.id and report.state == ReportState.NEW
    assert report.team_id == team.parent.id  # routed like any report: fire hazards to the street
    assert "楼道飞线充电" in report.description and "北山街 84 号" in report.description
    assert report.location_source == "pin" and report.accuracy_m is None
    assert db.session.scalar(select(func.count()).select_from(pr.filing.ReportPhoto)
                             .where(pr.filing.ReportPhoto.report_id == report.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "report.create")) == 1


@pytest.mark.parametrize("data, status, words", [
    ({}, 403, "api_key"),
    ({"api_key": "pv_wrong"}, 403, "api_key"),
    ({"service_code": "fire.flying_wire", "lat": "30.2", "long": "120.1", "description": "x"}, 403, "api_key"),
    ({"KEY": 1, "service_code": "nope", "lat": "30.2", "long": "120.1", "description": "x"}, 400, "service_code"),
    ({"KEY": 1, "service_code": "fire", "lat": "30.2", "long": "120.1", "description": "x"}, 400, "service_code"),
    ({"KEY": 1, "service_code": "fire.flying_wire", "address_string": "北山街", "description": "x"}, 400, "geocoder"),
    ({"KEY": 1, "service_code": "fire.flying_wire", "description": "x"}, 400, "lat"),
    ({"KEY": 1, "service_code": "fire.flying_wire", "lat": "91", "long": "120.1", "description": "x"}, 400, "lat"),
    ({"KEY": 1, "service_code": "fire.flying_wire", "lat": "30.2", "long": "120.1"}, 400, "description"),
])
def test_refusals_have_the_spec_error_format(client, partner, data, status, words):
    key, secret, account = partner
    if data.pop("KEY", None):
        data["api_key"] = secret
    answer = client.post("/open311/v2/requests.json", data=data, headers={"Accept-Language": "en"})
    assert answer.status_code == status
    errors = answer.get_json()
    assert isinstance(errors, list) and errors and all(set(e) == {"code", "description"} for e in errors)
    assert errors[0]["code"] == status and words in " ".join(e["description"] for e in errors)
    assert db.session.scalar(select(func.count()).select_from(Report)) == 0


def test_keys_are_hashed_shown_once_and_revocable(client, login, make_admin, make_volunteer, code):
    admin, account = make_admin(), make_volunteer("对接账号")
    login(admin)
    page = client.post("/admin/partner-keys", data={"name": "城市大脑", "account_mobile": account.mobile})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    secret = text.split("data-new-key>")[1].split("<")[0]
    assert secret.startswith("pv_") and len(secret) > 40
    key = db.session.scalar(select(PartnerKey))
    assert key.key_hash == open311.hash_key(secret) and secret not in (key.key_hash, key.prefix)
    assert secret not in client.get("/admin/partner-keys").get_data(as_text=True)  # shown once
    filed = {"api_key": secret, "service_code": "other.other", "lat": "30.25", "long": "120.14", "description": "x"}
    assert client.post("/open311/v2/requests.json", data=filed).status_code == 201
    assert client.post(f"/admin/partner-keys/{key.id}/revoke").status_code == 302
    refused = client.post("/open311/v2/requests.json", data=filed)
    assert refused.status_code == 403
    assert client.post(f"/admin/partner-keys/{key.id}/revoke").status_code == 302  # again: told, nothing changes
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action.like("partner_key.%"))) == 2
    wrong = client.post("/admin/partner-keys", data={"name": "x", "account_mobile": "13800000000"})
    assert wrong.status_code == 400


def test_only_admins_manage_keys(client, login, make_coordinator, partner):
    login(make_coordinator())
    assert client.get("/admin/partner-keys").status_code == 403
    assert client.post(f"/admin/partner-keys/{partner[0].id}/revoke").status_code == 403


def test_the_post_is_the_only_csrf_exempt_form_and_is_rate_limited_per_key(app, client, partner, code):
    key, secret, account = partner
    app.config["WTF_CSRF_ENABLED"] = True
    app.config["OPEN311_POST_LIMIT"] = "2 per hour"
    filed = {"api_key": secret, "service_code": "other.other", "lat": "30.25", "long": "120.14", "description": "x"}
    assert [client.post("/open311/v2/requests.json", data=filed).status_code for _ in range(3)] == [201, 201, 429]
    limited = client.post("/open311/v2/requests.json", data=filed)
    assert limited.status_code == 429 and limited.get_json()[0]["code"] == 429
    other = client.post("/open311/v2/requests.json", data={**filed, "api_key": "pv_other"})
    assert other.status_code == 403  # another key has its own bucket
    assert client.post("/admin/partner-keys", data={"name": "x"}).status_code == 400  # CSRF still checked elsewhere


def test_wrong_keys_are_limited_per_address_and_a_valid_key_is_not(app, client, partner, code):
    """A fresh random key per request gets a fresh per-key bucket: the address's budget for wrong keys stops it,
    counting only refused keys; the partner's valid key from the same address still files."""
    key, secret, account = partner
    app.config["OPEN311_BAD_KEY_LIMIT"] = "3 per hour"
    filed = {"service_code": "other.other", "lat": "30.25", "long": "120.14", "description": "x"}
    good = [client.post("/open311/v2/requests.json", data={**filed, "api_key": secret}).status_code
            for _ in range(4)]
    assert good == [201] * 4  # valid keys use none of the address's budget for wrong keys
    wrong = [client.post("/open311/v2/requests.json", data={**filed, "api_key": f"pv_guess{i}"}).status_code
             for i in range(5)]
    assert wrong == [403, 403, 403, 429, 429]
    assert client.post("/open311/v2/requests.json", data=filed).status_code == 429  # no key at all: the same
    other = client.post("/open311/v2/requests.json", data={**filed, "api_key": "pv_x"},
                        environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 403  # another address has its own budget
    assert client.post("/open311/v2/requests.json", data={**filed, "api_key": secret}).status_code == 201


def test_reading_writes_nothing(client, code, make_volunteer, partner):
    send(make_volunteer(), code())
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for url in ("/open311/v2/services.json", "/open311/v2/requests.json", f"/open311/v2/requests.json?api_key={partner[1]}"):
        assert client.get(url).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before

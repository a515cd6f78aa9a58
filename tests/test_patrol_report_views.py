"""Patrol reports (#15), the pages: the form, my reports, the photo route, the queue and the steps, IDOR, no writes
on GET."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.test_patrol_reports import LAT, LON, jpeg_with_gps, png_bytes
from volunteer.extensions import db
from volunteer.models import Report, ReportCategory, ReportPhoto, ReportState
from volunteer.services import patrol_reports as pr


@pytest.fixture
def manhole(app) -> ReportCategory:
    pr.seed_categories()
    return db.session.scalar(select(ReportCategory).where(ReportCategory.code == "safety.open_manhole"))


def form(category: ReportCategory, **kw) -> dict:
    data = {"category_id": str(category.id), "description": "井盖缺失", "latitude": str(LAT),
            "longitude": str(LON), "accuracy_m": "15", "location_source": "gps"}
    data.update(kw)
    return data


def _files(*photos: bytes) -> list:
    return [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]


def test_a_volunteer_reports_with_a_photo_and_reads_the_timeline(client, login, make_volunteer, manhole):
    login(make_volunteer())
    page = client.get("/reports/new")
    assert page.status_code == 200 and "上报问题" in page.get_data(as_text=True)
    sent = client.post("/reports/new", data={**form(manhole), "photos": _files(jpeg_with_gps())},
                       content_type="multipart/form-data")
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    report = db.session.scalar(select(Report))
    assert report.accuracy_m == 15 and report.location_source == "gps"
    detail = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "井盖缺失" in detail and "待签收" in detail and f"/reports/{report.id}/sign" not in detail  # no steps
    photo = db.session.scalar(select(ReportPhoto))
    served = client.get(f"/reports/photos/{photo.id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.headers["Cache-Control"] == "no-store"  # never kept by any cache, shared or private
    assert b"Exif" not in served.data
    mine = client.get("/reports/mine").get_data(as_text=True)
    assert f"/reports/{report.id}" in mine


def test_another_volunteer_gets_404_for_the_report_and_its_photo(client, login, make_volunteer, manhole):
    owner = make_volunteer()
    report = pr.file_report(owner, category_id=manhole.id, description="x", latitude=LAT, longitude=LON,
                            photos=[png_bytes()])
    photo_id = db.session.scalar(select(ReportPhoto.id).where(ReportPhoto.report_id == report.id))
    login(make_volunteer("孙丽"))
    assert client.get(f"/reports/{report.id}").status_code == 404
    assert client.get(f"/reports/photos/{photo_id}").status_code == 404
    assert client.post(f"/reports/{report.id}/sign").status_code == 403  # not a handler at all
    assert client.get("/reports/queue").status_code == 403


def test_the_form_says_what_becomes_public_without_javascript(client, login, make_volunteer, manhole):
    litter = db.session.scalar(select(ReportCategory).where(ReportCategory.code == "environment.litter"))
    login(make_volunteer())
    page = client.get("/reports/new").get_data(as_text=True)
    # before a kind is chosen, the rule for all kinds: which kinds have public photos, clues never published
    shown = page.split('data-what-is-public aria-live="polite">')[1].split("</p>")[0]
    assert "垃圾乱堆" in shown and "污水" in shown and "井盖缺失" not in shown and "线索类不公开" in shown
    assert "人脸和车牌属于个人信息：照片只有您" not in page  # the old promise, untrue for rubbish and sewage
    # each kind carries its own sentence for report.js
    assert '任何人都能打开照片' in page.split(f'value="{litter.id}"')[1].split(">")[0]
    assert '照片只有您' in page.split(f'value="{manhole.id}"')[1].split(">")[0]
    # sent back with a field error, the page states the rule of the kind chosen
    again = client.post("/reports/new", data=form(litter, description="")).get_data(as_text=True)
    shown = again.split('data-what-is-public aria-live="polite">')[1].split("</p>")[0]
    assert "描述、精确到约 100 米的位置，以及照片" in shown


def test_photo_limits_are_explained_on_the_form(client, login, make_volunteer, manhole):
    login(make_volunteer())
    too_many = client.post("/reports/new", data={**form(manhole), "photos": _files(*[png_bytes()] * 4)},
                           content_type="multipart/form-data")
    assert too_many.status_code == 400 and "最多 3 张" in too_many.get_data(as_text=True)
    wrong = client.post("/reports/new", data={**form(manhole), "photos": _files(b"%PDF-1.4 not a photo")},
                        content_type="multipart/form-data")
    assert wrong.status_code == 400 and "JPEG" in wrong.get_data(as_text=True)
    assert db.session.scalar(select(Report.id)) is None


def test_an_open_report_nearby_is_offered_before_sending(client, login, make_volunteer, manhole):
    pr.file_report(make_volunteer("钱芳"), category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    login(make_volunteer())
    asked = client.post("/reports/new", data=form(manhole, latitude=str(LAT + 0.0002)))
    page = asked.get_data(as_text=True)
    assert asked.status_code == 409 and "附近已有人上报" in page and 'name="join_report_id"' in page
    nearby = client.get(f"/reports/nearby?category_id={manhole.id}&latitude={LAT}&longitude={LON}").get_json()
    assert [r["id"] for r in nearby["reports"]] == [1]
    joined = client.post("/reports/new", data=form(manhole, latitude=str(LAT + 0.0002), join_report_id="1"))
    assert joined.status_code == 302
    new = client.post("/reports/new", data=form(manhole, latitude=str(LAT + 0.0002), confirm_new="on"))
    assert new.status_code == 302
    states = db.session.execute(select(Report.id, Report.state, Report.duplicate_of_id).order_by(Report.id)).all()
    assert states == [(1, ReportState.NEW, None), (2, ReportState.REJECTED, 1), (3, ReportState.NEW, None)]


def test_the_nearby_box_gives_no_distance_and_hides_clues_from_outsiders(client, login, make_volunteer, manhole):
    pr.file_report(make_volunteer("钱芳"), category_id=manhole.id, description="x", latitude=LAT + 0.00012,
                   longitude=LON)
    clue = db.session.scalar(select(ReportCategory).where(ReportCategory.code == "clue.suspicious_person"))
    hidden = pr.file_report(make_volunteer("钱芳"), category_id=clue.id, description="可疑", latitude=LAT,
                            longitude=LON)
    login(make_volunteer())
    nearby = client.get(f"/reports/nearby?category_id={manhole.id}&latitude={LAT}&longitude={LON}").get_json()
    assert [r["label"] for r in nearby["reports"]][0].startswith("把我的上报并入第 1 号（50 米以内，")
    assert "13 米" not in nearby["reports"][0]["label"]  # the real distance (about 13 m) is not told
    asked = client.post("/reports/new", data=form(manhole))
    assert asked.status_code == 409 and "50 米以内" in asked.get_data(as_text=True)
    assert "13 米" not in asked.get_data(as_text=True)
    clues = client.get(f"/reports/nearby?category_id={clue.id}&latitude={LAT}&longitude={LON}").get_json()
    assert clues == {"reports": []}
    joined = client.post("/reports/new", data=form(clue, join_report_id=str(hidden.id)))
    assert joined.status_code == 409 and "不在附近" in joined.get_data(as_text=True)
    assert db.session.scalar(select(Report.id).where(Report.duplicate_of_id == hidden.id)) is None


@pytest.mark.app_config(REPORT_NEARBY_LIMIT="3 per hour")
def test_nearby_look_ups_are_limited_per_account(client, login, make_volunteer, manhole):
    login(make_volunteer())
    url = f"/reports/nearby?category_id={manhole.id}&latitude={LAT}&longitude={LON}"
    assert [client.get(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    client.post("/logout")
    login(make_volunteer("孙丽"))  # another account has its own budget
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("prefix", [
    pytest.param("", marks=pytest.mark.app_config(REPORT_NEARBY_LIMIT="3 per hour"), id="no key prefix"),
    pytest.param("pingan", marks=pytest.mark.app_config(REPORT_NEARBY_LIMIT="3 per hour",
                                                        RATELIMIT_KEY_PREFIX="pingan"), id="a key prefix")])
def test_sending_the_form_draws_on_the_same_nearby_budget(client, login, make_volunteer, manhole, prefix):
    """Sending the form asks "anything nearby?" too (409 with the box, or on to filing): the same budget as the
    look-up, or a script would ask it without limit (a refused photo keeps anything from being filed). Spent, the
    report is filed as new: nothing the person typed is lost."""
    pr.file_report(make_volunteer("钱芳"), category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    login(make_volunteer())
    url = f"/reports/nearby?category_id={manhole.id}&latitude={LAT}&longitude={LON}"
    assert client.get(url).status_code == 200
    assert [client.post("/reports/new", data=form(manhole)).status_code for _ in range(2)] == [409, 409]
    assert client.get(url).status_code == 429
    filed = client.post("/reports/new", data=form(manhole))
    assert filed.status_code == 302  # no more answers: filed as a new report
    assert db.session.scalar(select(func.count(Report.id))) == 2


def test_the_handler_signs_dispatches_handles_and_closes_from_the_page(client, login, make_volunteer,
                                                                       make_coordinator, manhole, team):
    reporter = make_volunteer()
    report = pr.file_report(reporter, category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    handler = make_coordinator()
    login(handler)
    queue = client.get("/reports/queue").get_data(as_text=True)
    assert f"/reports/{report.id}" in queue
    assert client.post(f"/reports/{report.id}/sign").status_code == 302
    assert client.post(f"/reports/{report.id}/dispatch", data={"team_id": str(team.id), "note": "去看看"}).status_code == 302
    assert client.post(f"/reports/{report.id}/handle", data={"note": "已修复", "photo": _files(png_bytes())},
                       content_type="multipart/form-data").status_code == 302
    assert client.post(f"/reports/{report.id}/close", data={"useful": "on"}).status_code == 302
    db.session.refresh(report)
    db.session.refresh(reporter)
    assert report.state == ReportState.CLOSED and reporter.points_balance == manhole.points
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "已修复" in page and "去看看" in page


def test_the_reporter_reads_only_the_public_notes_and_handlers_all(client, login, make_volunteer,
                                                                    make_coordinator, manhole, team):
    reporter = make_volunteer()
    report = pr.file_report(reporter, category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    handler = make_coordinator()
    pr.sign_report(handler, report.id)
    pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="内部：举报人是老上访户")
    pr.handle_report(handler, report.id, note="已更换井盖")
    pr.close_report(handler, report.id, useful=True, note="内部：施工队下周回访")
    pr.reopen_report(handler, report.id, note="内部：照片对不上")
    other = pr.file_report(reporter, category_id=manhole.id, description="y", latitude=LAT, longitude=LON)
    pr.merge_report(handler, other.id, report.id, note="内部：同一个人又报")
    pr.reject_report(handler, report.id, reason="invalid", note="现场未发现")
    internal = ("内部：举报人是老上访户", "内部：施工队下周回访", "内部：照片对不上", "内部：同一个人又报")
    login(reporter)
    for shown in (client.get(f"/reports/{report.id}").get_data(as_text=True),
                  client.get(f"/reports/{other.id}").get_data(as_text=True)):
        assert not [note for note in internal if note in shown]
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "已更换井盖" in page and "现场未发现" in page  # the handled feedback and the rejection reason
    client.post("/logout")
    login(handler)
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert all(note in page for note in internal[:3]) and "内部：同一个人又报" in page  # merged in: on both lines
    assert "内部：同一个人又报" in client.get(f"/reports/{other.id}").get_data(as_text=True)


def test_the_handlers_note_fields_say_which_notes_are_public(client, login, make_volunteer, make_coordinator,
                                                              manhole, team):
    report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    handler = make_coordinator()
    pr.sign_report(handler, report.id)
    login(handler)
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "内部备注（仅处置人员可见，上报人看不到）" in page  # the dispatch note
    pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="")
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "公开备注" in page and "Open311" in page  # what was done / why not: public


def test_the_second_signer_is_told_who_signed(client, login, make_volunteer, make_coordinator, manhole):
    report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    pr.sign_report(make_coordinator("赵敏"), report.id)
    login(make_coordinator("王磊"))
    answer = client.post(f"/reports/{report.id}/sign", follow_redirects=True).get_data(as_text=True)
    assert "赵敏" in answer


@pytest.mark.parametrize("locale, told", [("zh_CN", "赵敏 已把此上报交办给 宝石社区（"),
                                           ("en", "赵敏 already dispatched this report to 宝石社区 (")])
def test_a_dispatch_from_a_page_older_than_the_last_dispatch_is_refused(client, login, make_volunteer,
                                                                        make_coordinator, manhole, team,
                                                                        locale, told):
    """The page carries the dispatch it showed; another handler's dispatch since then wins, and this one is told."""
    import re

    report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    first = make_coordinator("赵敏")
    pr.sign_report(first, report.id)
    second = make_coordinator("王磊")
    login(second).post(f"/language/{locale}")
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    seen = re.search(r'name="seen_version" value="(\d+)"', page).group(1)
    assert seen == "0"
    pr.dispatch_report(first, report.id, team_id=team.id, user_id=None, note="")  # while the page is open
    answer = client.post(f"/reports/{report.id}/dispatch", data={"user_id": str(second.id), "seen_version": seen},
                         follow_redirects=True).get_data(as_text=True)
    assert told in answer
    db.session.refresh(report)
    assert (report.assigned_team_id, report.assigned_user_id) == (team.id, None)
    # the reloaded page carries the new dispatch: redirecting it from there works
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    seen = re.search(r'name="seen_version" value="(\d+)"', page).group(1)
    assert seen == str(pr.dispatch_version(report)) != "0"
    assert client.post(f"/reports/{report.id}/dispatch", data={"user_id": str(second.id), "seen_version": seen}
                       ).status_code == 302
    db.session.refresh(report)
    assert (report.assigned_team_id, report.assigned_user_id) == (None, second.id)


@pytest.mark.parametrize("forged", ["abc", "1" * 19, "-1", "9" * 18, "253402300800000000"])
def test_a_garbled_dispatch_version_asks_for_a_reload_and_changes_nothing(client, login, make_volunteer,
                                                                          make_coordinator, manhole, team, forged):
    report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    handler = make_coordinator()
    pr.sign_report(handler, report.id)
    login(handler)
    answer = client.post(f"/reports/{report.id}/dispatch", data={"team_id": str(team.id), "seen_version": forged},
                         follow_redirects=True).get_data(as_text=True)
    assert "页面已过期，请刷新后再试。" in answer
    db.session.refresh(report)
    assert report.state == ReportState.SIGNED and report.assigned_team_id is None


def test_a_handler_closing_their_own_report_is_not_offered_points_and_is_refused_them(client, login, manhole,
                                                                                      make_coordinator, team):
    from volunteer.models import Team

    handler = make_coordinator(managed=[db.session.scalar(select(Team).where(Team.parent_id.is_(None)))])
    report = pr.file_report(handler, category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    pr.sign_report(handler, report.id)
    pr.dispatch_report(handler, report.id, team_id=None, user_id=handler.id, note="")
    pr.handle_report(handler, report.id, note="已处理")
    login(handler)
    page = client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert f"/reports/{report.id}/close" in page and 'name="useful"' not in page
    assert "您自己上报的问题：在此关闭不计积分" in page
    answer = client.post(f"/reports/{report.id}/close", data={"useful": "on"}, follow_redirects=True)
    assert "不能确认为有效" in answer.get_data(as_text=True)
    db.session.refresh(report)
    db.session.refresh(handler)
    assert report.state == ReportState.HANDLED and handler.points_balance == 0


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        digest.update(repr(db.session.execute(select(table).order_by(*table.primary_key.columns)).all()).encode())
    db.session.rollback()
    return digest.hexdigest()


def test_reading_pages_writes_nothing_even_for_overdue_reports(client, login, make_volunteer, make_coordinator,
                                                               manhole, team):
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    reporter = make_volunteer()
    with time_machine.travel(start, tick=False):
        report = pr.file_report(reporter, category_id=manhole.id, description="x", latitude=LAT, longitude=LON,
                                photos=[png_bytes()])
    street_handler = make_coordinator("赵敏", managed=[team.parent])
    photo_id = db.session.scalar(select(ReportPhoto.id))
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        before = _fingerprint()
        login(street_handler)
        for url in ("/home", "/reports/queue", f"/reports/{report.id}", f"/reports/photos/{photo_id}",
                    "/reports/mine", "/reports/new",
                    f"/reports/nearby?category_id={manhole.id}&latitude={LAT}&longitude={LON}"):
            assert client.get(url).status_code == 200, url
        queue = client.get("/reports/queue").get_data(as_text=True)
        assert "已升级" in queue  # escalated from 宝石社区 to the street
        assert _fingerprint() == before


def test_a_handler_of_another_street_cannot_open_or_act(client, login, make_volunteer, make_coordinator,
                                                        make_team, manhole, team):
    from volunteer.models import TeamKind

    report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT, longitude=LON,
                            photos=[png_bytes()])
    photo_id = db.session.scalar(select(ReportPhoto.id))
    lingyin = make_team("灵隐街道", TeamKind.STREET, team.parent.parent)
    login(make_coordinator("周涛", managed=[lingyin]))
    assert client.get(f"/reports/{report.id}").status_code == 404
    assert client.get(f"/reports/photos/{photo_id}").status_code == 404
    for step in ("sign", "reject", "merge", "close"):
        assert client.post(f"/reports/{report.id}/{step}", data={"reason": "invalid", "note": "x",
                                                                 "into_report_id": "1"}).status_code == 404, step
    assert f"/reports/{report.id}" not in client.get("/reports/queue").get_data(as_text=True)
    db.session.refresh(report)
    assert report.state == ReportState.NEW


def test_an_admin_sets_a_team_area_and_a_category_clock(client, login, make_admin, manhole, team):
    login(make_admin())
    assert client.get("/reports/admin/categories").status_code == 200
    client.post("/reports/admin/areas", data={"team_id": str(team.id), "area_polygon": f"{LAT - 0.01}, {LON - 0.01}\n"
                f"{LAT - 0.01}, {LON + 0.01}\n{LAT + 0.01}, {LON + 0.01}\n{LAT + 0.01}, {LON - 0.01}"})
    db.session.refresh(team)
    assert len(team.area_polygon) == 4 and team.area_radius_m is None
    bad = client.post("/reports/admin/areas", data={"team_id": str(team.id), "area_latitude": str(LAT)},
                      follow_redirects=True)
    assert "半径" in bad.get_data(as_text=True)
    client.post(f"/reports/admin/categories/{manhole.id}", data={
        "points": "30", "sign_seconds": "120", "dispatch_seconds": "600", "close_seconds": "7200", "is_active": "on"})
    db.session.refresh(manhole)
    assert (manhole.points, manhole.sign_seconds, manhole.dispatch_seconds, manhole.close_seconds) == (30, 120, 600,
                                                                                                      7200)
    wrong = client.post(f"/reports/admin/categories/{manhole.id}", data={
        "points": "30", "sign_seconds": "900", "dispatch_seconds": "600", "close_seconds": "7200"},
        follow_redirects=True)
    assert "签收 ≤ 交办 ≤ 结案" in wrong.get_data(as_text=True)


def test_report_pages_do_not_grow_with_rows(client, login, make_volunteer, make_coordinator, manhole, team):
    """The queue, my reports and a report's page: the same number of statements with 3 reports or 40."""
    from tests.test_query_counts import statements_for

    reporter, handler = make_volunteer(), make_coordinator()
    street_handler = make_coordinator("赵敏", managed=[team.parent])

    def grow(count: int) -> None:
        start = datetime.now(UTC) - timedelta(hours=3)  # overdue: escalated to the street as well
        with time_machine.travel(start, tick=False):
            for i in range(count):
                report = pr.file_report(reporter, category_id=manhole.id, description=f"第 {i} 处",
                                        latitude=LAT + i * 0.001, longitude=LON, photos=[png_bytes()])
                pr.sign_report(handler, report.id)
                pr.dispatch_report(handler, report.id, team_id=team.id, user_id=None, note="去看看")

    def measure() -> dict:
        counts = {}
        for user, paths in ((reporter, ("/reports/mine", "/reports/1")), (handler, ("/reports/queue", "/reports/1")),
                            (street_handler, ("/reports/queue", "/home"))):
            client.post("/logout")
            login(user)
            counts.update({(user.name, p): statements_for(client, p) for p in paths})
        return counts

    grow(3)
    small = measure()
    grow(37)
    assert measure() == small


# --- on a phone, for a new user (the phone probe) ------------------------------------------------------------

def _form_tag(page: str) -> str:
    return page.split("<form", 1)[1].split(">", 1)[0] if "data-report-form" in page else ""


def _report_form(page: str) -> str:
    return page.split("data-report-form", 1)[1].split("</form>", 1)[0]


def test_the_place_comes_from_the_phone_and_typing_it_is_tucked_away(client, login, make_volunteer, manhole):
    login(make_volunteer())
    page = client.get("/reports/new").get_data(as_text=True)
    form_part = _report_form(page)
    assert "WGS-84" not in form_part and "纬度（" not in form_part
    manual = form_part.split("<details", 1)[1].split("</details>", 1)[0]
    assert manual.split(">", 1)[0].find(" open") == -1  # closed until needed
    assert "<summary>手动输入位置</summary>" in manual
    assert 'name="latitude"' in manual and 'name="longitude"' in manual
    assert 'name="latitude"' not in form_part.split("<details", 1)[0]
    assert "已取得您的位置（精确到约 {m} 米）" in form_part
    # no bare "Open311" in what the reporter reads; no empty map to drag a pin on without tiles
    assert "政府公开平台（Open311）" in form_part and "（Open311，" not in page
    assert "data-pin-map" not in page and "leaflet.js" not in page


@pytest.mark.app_config(MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png")
def test_with_tiles_the_pin_map_is_offered_with_translated_zoom_buttons(client, login, make_volunteer, manhole):
    login(make_volunteer())
    page = client.get("/reports/new").get_data(as_text=True)
    assert "data-pin-map" in page and "leaflet.js" in page
    assert 'data-zoom-in="放大"' in page and 'data-zoom-out="缩小"' in page


def test_an_empty_report_gets_every_message_once_from_the_server(client, login, make_volunteer, manhole):
    login(make_volunteer())
    assert "novalidate" in _form_tag(client.get("/reports/new").get_data(as_text=True))  # the server's messages show
    sent = client.post("/reports/new", data={"location_source": "gps", "accuracy_m": ""})
    page = sent.get_data(as_text=True)
    assert sent.status_code == 400
    assert "请选择您发现的问题" in page or 'id="e-category_id"' in page
    assert 'id="e-category_id"' in page and 'id="e-description"' in page
    place = "请提供位置"
    assert page.count(place) == 1, page.count(place)  # not once under latitude and again under longitude
    manual = _report_form(page).split("<details", 1)[1]
    assert manual.split(">", 1)[0].endswith(" open")  # the messages concern the typed place: it is open
    assert 'aria-describedby="e-location-1"' in manual
    assert db.session.scalar(select(Report.id)) is None


def test_a_bad_typed_latitude_opens_the_typed_place_with_its_message(client, login, make_volunteer, manhole):
    login(make_volunteer())
    page = client.post("/reports/new", data=form(manhole, latitude="123", location_source="pin")).get_data(
        as_text=True)
    manual = _report_form(page).split("<details", 1)[1]
    assert manual.split(">", 1)[0].endswith(" open") and 'aria-invalid="true"' in manual
    # a message about the description alone leaves it closed
    page = client.post("/reports/new", data=form(manhole, description="")).get_data(as_text=True)
    assert not _report_form(page).split("<details", 1)[1].split(">", 1)[0].endswith(" open")


def test_the_reporter_reads_their_own_deadline_wording_and_handlers_theirs(client, login, make_volunteer,
                                                                          make_coordinator, manhole, team):
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    reporter, handler = make_volunteer(), make_coordinator()
    with time_machine.travel(start, tick=False):
        report = pr.file_report(reporter, category_id=manhole.id, description="x", latitude=LAT, longitude=LON)
    due = report.due_at
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        login(reporter)
        page = client.get(f"/reports/{report.id}").get_data(as_text=True)
        clock = page.split("data-clock>", 1)[1].split("</p>", 1)[0]
        assert "处置队伍将在" in clock and "前签收" in clock and "请在" not in page
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        login(reporter)
        page = client.get(f"/reports/{report.id}").get_data(as_text=True)
        assert "已提醒上级队伍跟进" in page
        assert "已超时" not in page and "已升级" not in page and 'class="overdue"' not in page  # calm, no red
        client.post("/logout")
        login(handler)
        page = client.get(f"/reports/{report.id}").get_data(as_text=True)
        assert "已升级到上级队伍" in page and 'class="overdue"' in page


@pytest.mark.parametrize(("late", "said"), [
    (timedelta(seconds=20), "签收刚刚超时"),
    (timedelta(minutes=1, seconds=5), "签收已超时 1 分钟"),
    (timedelta(hours=3, minutes=10), "签收已超时 3 小时"),
    (timedelta(days=3, hours=1), "签收已超时 3 天"),
])
def test_the_queue_says_how_late_in_words_a_person_reads(client, login, make_volunteer, make_coordinator, manhole,
                                                         late, said):
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT,
                                longitude=LON)
    handler = make_coordinator()
    with time_machine.travel(report.due_at + late, tick=False):
        login(handler)
        queue = client.get("/reports/queue").get_data(as_text=True)
    assert said in queue and "超时 0 分钟" not in queue


def test_the_queue_in_english_counts_minutes_hours_and_days(client, login, make_volunteer, make_coordinator,
                                                           manhole):
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        report = pr.file_report(make_volunteer(), category_id=manhole.id, description="x", latitude=LAT,
                                longitude=LON)
    handler = make_coordinator()
    handler.locale = "en"
    db.session.commit()
    english = {"Accept-Language": "en"}
    with time_machine.travel(report.due_at + timedelta(seconds=10), tick=False):
        login(handler)
        assert "just overdue (to sign for)" in client.get("/reports/queue", headers=english).get_data(as_text=True)
    with time_machine.travel(report.due_at + timedelta(minutes=1, seconds=1), tick=False):
        login(handler)
        assert "overdue by 1 minute (to sign for)" in client.get("/reports/queue", headers=english).get_data(
            as_text=True)
    with time_machine.travel(report.due_at + timedelta(hours=26), tick=False):
        login(handler)
        page = client.get("/reports/queue", headers=english).get_data(as_text=True)
        assert "overdue by 26 hours (to sign for)" in page
        assert "new — waiting for the team" in page and "waiting to be signed for" not in page

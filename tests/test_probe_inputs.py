"""The probe's unchecked inputs that gave a 500 (issue 12), each now a clear 4xx or an ignored filter."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from volunteer.extensions import db
from volunteer.models import FaceTemplate, Voucher

HUGE = "100000000000000000000"  # 10^20: beyond every database's integer


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 170, 150)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("method, path", [
    ("POST", f"/volunteer/rewards/{HUGE}/redeem"),
    ("GET", f"/volunteer/vouchers/{HUGE}"),
    ("GET", f"/volunteer/rewards/{HUGE}"),
    ("POST", f"/volunteer/shifts/{HUGE}/signup"),
])
def test_ids_beyond_the_database_are_not_found(client, login, make_volunteer, method, path):
    login(make_volunteer())
    assert client.open(path, method=method, data={"key": "k1"}).status_code == 404
    assert db.session.scalar(select(func.count(Voucher.id))) == 0


@pytest.mark.parametrize("query", [f"team={HUGE}", "team=²", "start=0001-01-01", "end=9999-12-31",
                                   "start=2026-02-30", "team=-1"])
def test_export_filters_out_of_range_are_ignored(client, login, make_admin, query):
    login(make_admin())
    response = client.get(f"/admin/exports/ledger.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"


@pytest.mark.parametrize("query", ["start=0001-01-01", "end=9999-12-31", f"reward={HUGE}"])
def test_merchant_history_filters_out_of_range_are_ignored(client, login, make_staff, query):
    login(make_staff())
    assert client.get(f"/merchant/history?{query}").status_code == 200


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "2026-13", "²"])
def test_settlement_month_out_of_range_shows_this_month(client, login, make_staff, month):
    login(make_staff())
    assert client.get(f"/merchant/settlement?month={month}").status_code == 200
    assert client.get(f"/merchant/settlement.csv?month={month}").status_code == 200


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_shift_list_day_out_of_range_is_a_message(client, login, make_volunteer, day):
    login(make_volunteer())
    client.post("/language/en")
    response = client.get(f"/volunteer/shifts?day={day}")
    assert response.status_code == 200 and "Please choose a valid date." in response.get_data(as_text=True)


def test_a_10000_by_1_picture_is_refused_with_a_message(client, login, make_volunteer):
    login(make_volunteer())
    client.post("/language/en")
    client.post("/faces/consent", data={"decision": "accept"})
    strip = _png(10_000, 1)
    response = client.post("/faces/enrol", data={"photo": [(io.BytesIO(strip), f"p{i}.png") for i in range(3)]},
                           headers={"Accept": "application/json"})
    assert 400 <= response.status_code < 500 and response.json["message"].startswith("Picture 1:")
    assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0


def test_admin_user_form_with_a_superscript_team_is_a_message(client, login, make_admin):
    login(make_admin())
    client.post("/language/en")
    response = client.post("/admin/users", data={"name": "新协调员", "mobile": "13712345601",
                                                 "password": "Qiantang-River-9", "role": "coordinator",
                                                 "team_ids": "²"})
    assert response.status_code == 400 and "Unknown team." in response.get_data(as_text=True)

"""Every CSV export goes through one writer: a BOM for Excel, and no cell that a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from volunteer.extensions import db
from volunteer.localtime import format_local
from volunteer.models import TeamKind, User
from volunteer.services import attendance, csvfile, merchants, points, rewards, shifts

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")

HOSTILE = '=HYPERLINK("http://evil.example","点我")'


def _rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(("typed", "written"), [
    ("=1+1", "'=1+1"),
    ("-1+1", "'-1+1"),
    ("+1", "'+1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-100", "'-100"),  # text that looks like a number is still text (see csvfile's docstring)
    (HOSTILE, "'" + HOSTILE),
    ("张建华", "张建华"),
    ("1+1", "1+1"),
    ("a=1", "a=1"),
    ("", ""),
])
def test_text_that_a_spreadsheet_would_evaluate_gets_a_quote(typed, written):
    assert _rows(csvfile.to_csv(["h"], [[typed]])) == [["h"], [written]]


def test_numbers_stay_numbers():
    assert _rows(csvfile.to_csv(["amount", "hours", "none"], [[-100, -1.5, None], [0, 2.0, None]])) == [
        ["amount", "hours", "none"], ["-100", "-1.5", ""], ["0", "2.0", ""]]


def test_a_large_export_is_written_in_pieces():
    pieces = list(csvfile.csv_chunks(["n"], ([i] for i in range(1200))))
    assert pieces[0] == "\ufeff".encode() and len(pieces) == 4  # BOM, 500 rows, 500 rows, the rest
    assert _rows(b"".join(pieces))[1:] == [[str(i)] for i in range(1200)]


@pytest.fixture
def hostile(app, make_team, make_volunteer, make_coordinator, make_shift, make_staff, make_reward, end_shift):
    """A volunteer, a shift, a team, a reward and a merchant all named to run in Excel, and a redemption."""
    district = make_team("西湖区", TeamKind.DISTRICT)
    street = make_team("北山街道", TeamKind.STREET, district)
    community = make_team("@SUM(A1)", TeamKind.COMMUNITY, street)
    coordinator = make_coordinator(managed=[district])
    volunteer = make_volunteer(HOSTILE, teams=[community], points=500)
    shift = make_shift(team_=community, title="+1", creator=coordinator)
    shifts.sign_up(volunteer, shift.id)
    end_shift(shift)
    record = attendance.record_manual(coordinator, shift.id, volunteer.id)
    attendance.approve_attendance(coordinator, record.id)
    points.adjust_points(coordinator, volunteer.id, 5, "-1+1")
    staff = make_staff()
    reward = make_reward(merchant=staff.merchant, cost=100, title=HOSTILE)
    voucher = rewards.redeem_reward(volunteer.id, reward.id, "k1")
    merchants.honour_voucher(staff, voucher.code)
    return coordinator, volunteer, staff, voucher


def test_every_export_neutralises_names_and_titles(app, client, login, hostile, make_admin):
    coordinator, volunteer, staff, voucher = hostile
    login(make_admin())
    volunteers = _rows(client.get("/admin/exports/volunteers.csv").get_data())
    assert volunteers[1][1:4] == ["'" + HOSTILE, volunteer.mobile, "'@SUM(A1)"]

    attendance_rows = _rows(client.get("/admin/exports/attendance.csv").get_data())
    assert [attendance_rows[1][i] for i in (1, 2, 4)] == ["'+1", "'@SUM(A1)", "'" + HOSTILE]

    ledger = _rows(client.get("/admin/exports/ledger.csv").get_data())
    assert [(r[2], r[5], r[6]) for r in ledger[1:]] == [
        ("'" + HOSTILE, "500", "test"),
        ("'" + HOSTILE, "20", "'+1"),  # the award's note is the shift's title
        ("'" + HOSTILE, "5", "'-1+1"),  # a typed note is text
        ("'" + HOSTILE, "-100", "'" + HOSTILE),  # the amount is a number, left as it is; the note a title
    ]

    redemptions = _rows(client.get("/admin/exports/redemptions.csv").get_data())
    assert [redemptions[1][i] for i in (0, 2, 4)] == [str(voucher.id), "'" + HOSTILE, "'" + HOSTILE]


def test_the_settlement_neutralises_reward_titles(app, client, login, hostile):
    _, _, staff, voucher = hostile
    month = format_local(voucher.redeemed_at, "%Y-%m")
    login(db.session.get(User, staff.id))
    rows = _rows(client.get(f"/merchant/settlement.csv?month={month}").get_data())
    assert rows[1] == [month, str(voucher.reward_id), "'" + HOSTILE, "1", "100"]
    assert rows[2] == [month, "", "合计", "1", "100"]

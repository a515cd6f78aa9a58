"""The legacy import at any size (batches, one transaction), hostile fields, and hours only for the named person."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from tests.conftest import both_databases
from volunteer.extensions import db
from volunteer.models import AuditEvent, HourEntry, TeamKind, User
from volunteer.services import ledger, legacy_import

pytestmark = pytest.mark.app_config(BABEL_DEFAULT_LOCALE="en")

HEADER = "record_id,name,mobile,team,hours,service_date\n"


@pytest.fixture
def community(app, make_team):
    district = make_team("西湖区", TeamKind.DISTRICT)
    street = make_team("北山街道", TeamKind.STREET, district)
    return make_team("宝石社区", TeamKind.COMMUNITY, street)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _imported_people() -> int:
    return db.session.scalar(select(func.count(User.id)).where(User.mobile.like("136%")))


def _big_file(rows: int, people: int) -> bytes:
    """``rows`` records of 1.5 hours for ``people`` volunteers; a person's records are spread over the file."""
    lines = [HEADER]
    for i in range(rows):
        person = i % people
        lines.append(f"R-{i},志愿者{person},136{person:08d},宝石社区,1.5,2019-05-01\n")
    return "".join(lines).encode()


@pytest.mark.slow
@both_databases
def test_a_hundred_thousand_rows_in_one_transaction_then_nothing_twice(app, community, runner, tmp_path):
    # 100,000 rows: the old importer sent every source key in one IN (...) and PostgreSQL refused the statement
    # ("number of parameters must be between 0 and 65535"); nothing was imported
    path = tmp_path / "history.csv"
    path.write_bytes(_big_file(100_000, 25_000))
    result = runner.invoke(args=["import-legacy", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [*(f"validated {n * 10_000} rows…" for n in range(1, 11)),
                                          "imported 100000 rows (25000 new volunteers, 0 already imported)"]
    assert _count(HourEntry) == 100_000 and _imported_people() == 25_000
    last = db.session.scalar(select(User).where(User.mobile == "13600024999"))
    assert (last.name, last.service_minutes, [t.name for t in last.teams]) == ("志愿者24999", 4 * 90, ["宝石社区"])
    assert ledger.find_mismatches() == []  # every cached balance equals its entries

    again = runner.invoke(args=["import-legacy", str(path)])
    assert again.output.splitlines()[-1] == "imported 0 rows (0 new volunteers, 100000 already imported)"
    assert _count(HourEntry) == 100_000


@both_databases
def test_a_failure_in_the_last_batch_leaves_nothing(app, community, make_admin, monkeypatch):
    admin = make_admin()
    data = _big_file(35, 7)
    last = data.decode().splitlines()[-1]
    # the last row was imported by someone else after this import checked it (a concurrent import)
    assert legacy_import.import_legacy(admin, (HEADER + last + "\n").encode()).hour_rows == 1
    monkeypatch.setattr(legacy_import, "BATCH_ROWS", 10)  # four batches; the fourth fails on the unique key
    monkeypatch.setattr(legacy_import, "_imported_keys", lambda keys: set())
    with pytest.raises(legacy_import.ImportConflictError):
        legacy_import.import_legacy(admin, data)
    assert _count(HourEntry) == 1 and _imported_people() == 1  # the three batches written before are gone
    assert db.session.scalar(select(User.service_minutes).where(User.mobile == "13600000006")) == 90
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "import.legacy")) == 1


NUL_AND_HUGE = (HEADER
                + "A-1,王秀兰,13600000001,宝石社区,2,2019-05-01\n"
                + "A-2,王\x00秀兰,13600000001,宝石社区,2,2019-05-01\n"
                + "A-3,陈立新,13600000002,宝石\x00社区,2,2019-05-01\n"
                + "A-4," + "长" * 200_000 + ",13600000003,宝石社区,2,2019-05-01\n"
                + "A-5,赵六,13600000005,宝石社区,1\x00,2019-05-01\n"
                + "A-6,钱七,13600000006," + "社" * 150 + ",2,2019-05-01\n"
                + "A-7,孙八,13600000007,宝石社区,0.001,\n"
                + "A-8,周九,13600000008,宝石社区,3,2019-05-01\x00\n")


@both_databases
def test_nul_and_huge_fields_are_reported_by_line(app, community, make_admin):
    report = legacy_import.import_legacy(make_admin(), NUL_AND_HUGE.encode())
    assert report.errors == [
        (3, "name: Please remove the invisible control characters from this field."),
        (4, "team: Please remove the invisible control characters from this field."),
        (5, "This row cannot be read: a field is longer than 100 characters."),
        (6, "hours: Please remove the invisible control characters from this field."),
        (7, "team: At most 100 characters."),
        (8, "hours 0.001 is less than a minute"),
        (9, "service_date: Please remove the invisible control characters from this field."),
    ]
    assert _count(HourEntry) == 0 and _imported_people() == 0


@both_databases
def test_the_import_page_lists_a_huge_field_instead_of_failing(app, client, login, community, make_admin):
    login(make_admin())
    client.post("/language/en")
    response = client.post("/admin/import", data={"file": (io.BytesIO(NUL_AND_HUGE.encode()), "old.csv")})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was imported: 7 rows have problems." in body
    assert "长长长" not in body and "\x00" not in body  # neither the 200 KB field nor a NUL is echoed


def test_hours_go_only_to_the_volunteer_the_row_names(app, community, make_admin, make_volunteer,
                                                      make_coordinator, make_staff):
    admin, volunteer = make_admin(), make_volunteer("张建华")
    coordinator, staff = make_coordinator(), make_staff()
    data = (HEADER
            + f"A-1,王芳,{admin.mobile},宝石社区,5,2019-05-01\n"  # the admin's own name and mobile
            + f"A-2,李强,{coordinator.mobile},宝石社区,5,2019-05-01\n"
            + f"A-3,陈静,{staff.mobile},宝石社区,5,2019-05-01\n"
            + f"A-4,李四,{volunteer.mobile},宝石社区,5,2019-05-01\n"  # a volunteer of another name
            + f"A-5,张建华,{volunteer.mobile},宝石社区,5,2019-05-01\n"  # right: credited once the file is clean
            + "A-6,王五,13600000009,宝石社区,5,2019-05-01\n"
            + "A-7,王六,13600000009,宝石社区,5,2019-05-01\n")  # the same new mobile, another name
    report = legacy_import.import_legacy(admin, data.encode())
    assert report.errors == [
        (2, f"mobile {admin.mobile} belongs to an account that is not a volunteer"),
        (3, f"mobile {coordinator.mobile} belongs to an account that is not a volunteer"),
        (4, f"mobile {staff.mobile} belongs to an account that is not a volunteer"),
        (5, f"name 李四 does not match the account of mobile {volunteer.mobile}"),
        (8, "name 王六 differs from 王五 on line 7 for the same mobile"),
    ]
    assert db.session.scalar(select(func.sum(User.service_minutes))) == 0 and _count(HourEntry) == 0

    clean = HEADER + f"A-5,张建华,{volunteer.mobile},宝石社区,5,2019-05-01\n"
    report = legacy_import.import_legacy(admin, clean.encode())
    assert (report.errors, report.hour_rows, report.created_users) == ([], 1, 0)
    assert db.session.get(User, volunteer.id).service_minutes == 300


def test_a_wrong_file_lists_its_first_problems_and_counts_them_all(app, client, login, community, make_admin):
    data = HEADER + "".join(f"B-{i},赵{i},1360000{i:04d},不存在的社区,1,\n" for i in range(600))
    report = legacy_import.import_legacy(make_admin(), data.encode())
    assert report.error_count == 600 and len(report.errors) == 500
    assert report.errors[-1] == (501, "team 不存在的社区 does not exist")
    login(make_admin("另一位管理员"))
    client.post("/language/en")
    body = client.post("/admin/import", data={"file": (io.BytesIO(data.encode()), "old.csv")}).get_data(as_text=True)
    assert "Nothing was imported: 600 rows have problems. The first 500 are listed." in body


def test_the_command_lists_problems_and_exits_1(app, community, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "A-1,王秀兰,13600000001,宝石社区,abc,\n", encoding="utf-8")
    result = runner.invoke(args=["import-legacy", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == ["line 2: hours abc is not a number between 0 and 10000",
                                          "nothing imported: 1 rows have problems"]
    assert _count(HourEntry) == 0


def test_the_import_page_says_when_someone_else_wrote_the_same_records(app, client, login, community, make_admin,
                                                                     monkeypatch):
    admin = make_admin()
    row = "A-1,王秀兰,13600000001,宝石社区,2,2019-05-01\n"
    legacy_import.import_legacy(admin, (HEADER + row).encode())
    monkeypatch.setattr(legacy_import, "_imported_keys", lambda keys: set())  # as if it came in after our check
    login(admin)
    client.post("/language/en")
    data = HEADER + "A-0,陈立新,13600000002,宝石社区,2,2019-05-01\n" + row
    response = client.post("/admin/import", data={"file": (io.BytesIO(data.encode()), "old.csv")})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "Someone else changed the same records during the import, so nothing was imported." in body
    assert _count(HourEntry) == 1 and _imported_people() == 1

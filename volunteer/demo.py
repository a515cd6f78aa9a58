"""Demo data for `make run`: a team tree, one of each role, shifts and a rewards catalog."""

from __future__ import annotations


from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from volunteer.demo_data import seed_activity, seed_merchants, seed_reports
from volunteer.extensions import db
from volunteer.models import Role, TeamKind, User
from volunteer.db import utcnow
from volunteer.services.teams import add_team

DEMO_PASSWORD = "Pingan-2026"
DEMO_PEOPLE = [
    # (role, name, mobile)
    (Role.ADMIN, "管理员 王芳", "13800000001"),
    (Role.COORDINATOR, "协调员 李强", "13800000002"),
    (Role.MERCHANT, "商户 陈静", "13800000003"),
    (Role.VOLUNTEER, "张建华", "13800000004"),
    (Role.VOLUNTEER, "赵秀英", "13800000005"),
    (Role.VOLUNTEER, "刘国平", "13800000006"),
]


def has_users() -> bool:
    """Whether anything was loaded already."""
    return bool(db.session.scalar(select(func.count(User.id))))


def seed() -> None:
    """Load the demo data in one transaction."""
    xihu = add_team("西湖区", TeamKind.DISTRICT, None)
    beishan = add_team("北山街道", TeamKind.STREET, xihu)
    lingyin = add_team("灵隐街道", TeamKind.STREET, xihu)
    community = add_team("宝石社区", TeamKind.COMMUNITY, beishan)
    add_team("曙光社区", TeamKind.COMMUNITY, beishan)
    add_team("玉泉社区", TeamKind.COMMUNITY, lingyin)
    merchants = seed_merchants()
    merchant = merchants["parking"]
    password_hash = generate_password_hash(DEMO_PASSWORD)
    people = {}
    for role, name, mobile in DEMO_PEOPLE:
        user = User(name=name, mobile=mobile, password_hash=password_hash, role=role,
                    merchant=merchant if role == Role.MERCHANT else None)
        if role == Role.VOLUNTEER:
            user.teams = [community]
        if role == Role.COORDINATOR:
            user.managed_teams = [beishan]
        db.session.add(user)
        people[mobile] = user
    db.session.flush()
    _seed_more(people, community, merchants)
    seed_reports(people, beishan, community, utcnow())
    db.session.commit()


def _seed_more(people: dict[str, User], community, merchants) -> None:
    """Shifts, rewards and a starting balance."""
    seed_activity(people, community, merchants, utcnow())


def login_lines(port: int) -> list[str]:
    """What `make run` prints: the logins, and the address the app is served on."""
    lines = ["", "Demo logins (password for all: %s):" % DEMO_PASSWORD]
    for role, name, mobile in DEMO_PEOPLE:
        lines.append(f"  {role.value:<12} {mobile}  {name}")
    lines.append(f"Open http://127.0.0.1:{port}")
    return lines

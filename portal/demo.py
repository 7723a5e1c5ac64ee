"""Demo data: two communities, a team of every category, the README's accounts, and hour
logs (approved and pending) so that every page has something to show."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.clock import today_local
from portal.extensions import db
from portal.models import Community, Member, Service, Team
from portal.services import credits, family, hours, ledger, members, teams

DEMO_PASSWORD = "timebank-demo"

COMMUNITIES = [
    ("幸福里社区", "Xingfuli Community"),
    ("和平社区", "Heping Community"),
]

TEAMS = [
    ("助老服务队", "elder_care"),
    ("心理关爱队", "psychological"),
    ("扶贫帮困队", "poverty_relief"),
    ("应急救援队", "emergency"),
    ("环境卫生队", "sanitation"),
    ("治安巡查队", "patrol"),
]

SERVICES = [
    ("陪伴聊天", "Companionship", "psychological", 60),
    ("助餐送餐", "Meal delivery", "elder_care", 45),
    ("陪同就医", "Escort to hospital", "elder_care", 120),
    ("居家保洁", "Home cleaning", "sanitation", 90),
    ("理发", "Haircut", "elder_care", 30),
    ("心理疏导", "Psychological talk", "psychological", 60),
    ("社区巡逻", "Neighbourhood patrol", "patrol", 120),
    ("物资帮扶", "Relief supplies", "poverty_relief", 60),
    ("应急演练", "Emergency drill", "emergency", 120),
]

# phone, name, birth year offset (age), role
PEOPLE = [
    ("13800000000", "赵管理", 55, "admin"),
    ("13800000001", "钱协调", 62, "coordinator"),
    ("13800000002", "孙志愿", 64, "volunteer"),
    ("13800000003", "李奶奶", 82, "resident"),
    ("13800000004", "周志愿", 66, "volunteer"),
    ("13800000005", "李女儿", 52, "daughter"),
    ("13800000006", "吴网格", 45, "grid_worker"),
    ("13800000007", "冯街道", 50, "street_admin"),
]

# The home community cut into 2 grids of 2 micro-grids each (about 50 households a
# micro-grid): name, buildings, micro-grids (name, buildings).
GRIDS = [
    ("东区网格", [("东一微网格", ["1号楼", "2号楼"]), ("东二微网格", ["3号楼", "4号楼"])]),
    ("西区网格", [("西一微网格", ["5号楼", "6号楼"]), ("西二微网格", ["7号楼", "8号楼"])]),
]
STREET_OFFICE = "银州街道"


def load_demo() -> str:
    today = today_local()
    password_hash = members.hash_secret(DEMO_PASSWORD)
    created = []
    for name, name_en in COMMUNITIES:
        community = db.session.scalar(select(Community).where(Community.name == name))
        if community is None:
            community = Community(
                name=name, name_en=name_en, redemption_min_age=60, gift_yearly_cap_minutes=6000
            )
            db.session.add(community)
            db.session.flush()
        created.append(community)
        for s_name, s_en, category, minutes in SERVICES:
            db.session.add(
                Service(
                    community_id=community.id,
                    name=s_name,
                    name_en=s_en,
                    category=category,
                    typical_minutes=minutes,
                )
            )
        for t_name, category in TEAMS:
            db.session.add(Team(community_id=community.id, name=t_name, category=category))
    db.session.flush()
    home = created[0]

    people: dict[str, Member] = {}
    for phone, name, age, role in PEOPLE:
        member = members.register(
            members.Registration(
                name=name,
                phone=phone,
                password="",
                community_id=home.id,
                birth_year=today.year - age,
                elder_mode=role == "resident",
            ),
            password_hash=password_hash,
        )
        people[role if role not in people else role + "2"] = member
    admin = people["admin"]
    members.make_admin(admin)

    home_teams = db.session.scalars(
        select(Team).where(Team.community_id == home.id).order_by(Team.id)
    ).all()
    elder_team, care_team = home_teams[0], home_teams[1]
    for team in (elder_team, care_team):
        teams.add_member(team, people["coordinator"], role="coordinator")
        teams.add_member(team, people["volunteer"])
        teams.add_member(team, people["volunteer2"])
    teams.add_member(elder_team, people["daughter"])

    services = db.session.scalars(
        select(Service).where(Service.community_id == home.id).order_by(Service.id)
    ).all()
    companionship, meals = services[0], services[1]

    # Approved history and a pending queue.
    history = [
        (people["volunteer"], elder_team, meals, 12, 60, True),
        (people["volunteer"], care_team, companionship, 9, 90, True),
        (people["volunteer2"], elder_team, meals, 8, 120, True),
        (people["volunteer"], elder_team, meals, 2, 45, False),
        (people["volunteer2"], care_team, companionship, 1, 60, False),
    ]
    for volunteer, team, service, days_ago, minutes, approve in history:
        log = hours.log_hours(
            volunteer,
            hours.LogRequest(
                team_id=team.id,
                service_id=service.id,
                service_date=today - timedelta(days=days_ago),
                minutes=minutes,
                note="演示记录",
            ),
            today=today,
        )
        if approve:
            hours.approve_log(people["coordinator"], log.id)

    # The daughter served, banked her hours and gave five of them to her mother, so the
    # 82-year-old can try redemption at once.
    daughter, mother = people["daughter"], people["resident"]
    for days_ago in (5, 4):
        log = hours.log_hours(
            daughter,
            hours.LogRequest(
                team_id=elder_team.id,
                service_id=meals.id,
                service_date=today - timedelta(days=days_ago),
                minutes=180,
                note="演示记录",
            ),
            today=today,
        )
        hours.approve_log(people["coordinator"], log.id)
    link = family.propose(daughter, mother.phone)
    family.decide(mother, link.id, accept=True)
    family.gift(daughter, mother.id, 300, key="demo-daughter-to-mother")
    # The admin has visited 李奶奶, so her confirmations credit volunteers directly.
    credits.verify_member(admin, mother.id)
    kiosk_note = _demo_kiosk(admin, people, elder_team, meals, companionship, care_team)
    _demo_grids(admin, people, home, home_teams)
    db.session.flush()
    return (
        f"Loaded {len(created)} communities, {len(TEAMS) * len(created)} teams, "
        f"{len(PEOPLE)} demo accounts (password {DEMO_PASSWORD}); "
        f"ledger has {ledger.verify().entries} entries.\n{kiosk_note}"
    )


def _demo_grids(admin: Member, people: dict[str, Member], home: Community, home_teams) -> None:  # type: ignore[no-untyped-def]
    """Grids, their grid worker, homes, party members (孙志愿 shows the badge), a shock
    team, the register's households, and a street office above the community."""
    from portal.models import StreetOffice
    from portal.services import grids

    made = {}
    for name, micros in GRIDS:
        buildings = "\n".join(b for _m, bs in micros for b in bs)
        top = grids.create_grid(admin, grids.GridFields(name, "", buildings, None))
        made[name] = top
        for micro, bs in micros:
            made[micro] = grids.create_grid(
                admin, grids.GridFields(micro, "", "\n".join(bs), top.id)
            )
    grids.appoint(admin, made["东区网格"].id, people["grid_worker"].id, "grid_worker", "")
    grids.appoint(admin, made["东一微网格"].id, people["coordinator"].id, "building_head", "2号楼")
    for role, building, unit in (
        ("resident", "2号楼", "1单元"),
        ("volunteer", "1号楼", "2单元"),
        ("volunteer2", "3号楼", "1单元"),
        ("daughter", "5号楼", "3单元"),
        ("grid_worker", "1号楼", "1单元"),
    ):
        grids.set_home(admin, people[role].id, building, unit)
    for role in ("volunteer", "volunteer2", "coordinator"):
        grids.confirm_party(admin, people[role].id, confirmed=True)
    # 亮身份 is each member's choice: 孙志愿 shows the badge, 周志愿 does not.
    people["volunteer"].shows_party_badge = True
    for team in home_teams:
        if team.category == "emergency":
            team.kind = "shock"
    register = [
        ("东一微网格", "2号楼", "1单元", "301", "李奶奶", ["alone", "over_80"], people["resident"]),
        ("东一微网格", "1号楼", "3单元", "502", "张爷爷", ["over_80", "disabled"], None),
        ("东二微网格", "4号楼", "2单元", "101", "王阿姨", ["low_income"], None),
        ("西一微网格", "6号楼", "1单元", "202", "赵大爷", ["alone"], None),
    ]
    for grid_name, building, unit, door, name, categories, member in register:
        grids.add_household(
            admin,
            made[grid_name],
            grids.HouseholdFields(
                building, unit, door, "", name, categories, member.member_no if member else ""
            ),
        )
    office = StreetOffice(name=STREET_OFFICE)
    db.session.add(office)
    db.session.flush()
    home.street_office_id = office.id
    street = people["street_admin"]
    street.role, street.street_office_id = "street_admin", office.id


KIOSK_PLACE = "社区党群服务中心"
# The demo volunteers' kiosk PINs (README): 孙志愿 and 周志愿.
DEMO_PINS = {"volunteer": "2468", "volunteer2": "1357"}


def _demo_kiosk(admin, people, elder_team, meals, companionship, care_team) -> str:  # type: ignore[no-untyped-def]
    """A kiosk at the community centre, today's and tomorrow's activities there, and the
    volunteers' PINs: a newcomer can try the kiosk at once."""
    from flask import url_for

    from portal.clock import now_local
    from portal.models import Activity
    from portal.services import cards, devices

    elder_team.kiosk_auto_approve = True
    today = now_local().replace(minute=0, second=0)
    for day in (0, 1):
        base = today.replace(hour=9) + timedelta(days=day)
        for team, service, title, start, length in (
            (elder_team, meals, "长者食堂助餐", base, 3),
            (care_team, companionship, "陪伴聊天室", base.replace(hour=14), 2),
            # Open all day for trying the kiosk whenever the demo is loaded.
            (elder_team, companionship, "全天志愿服务", base.replace(hour=0), 23),
        ):
            db.session.add(
                Activity(
                    team_id=team.id,
                    service_id=service.id,
                    title=title,
                    starts_at=start,
                    ends_at=start + timedelta(hours=length),
                    place=KIOSK_PLACE,
                    capacity=30,
                    created_by_id=people["coordinator"].id,
                )
            )
    lines = []
    for role, pin in DEMO_PINS.items():
        member = people[role]
        cards.set_pin(member, pin)
        lines.append(
            f"  {member.name}: member number {member.member_no}, PIN {pin}, "
            f"card token {cards.card_token(member)}"
        )
    _device, enrol_token = devices.register_device(admin, KIOSK_PLACE)
    try:
        link = url_for("kiosk.enrol_page", token=enrol_token, _external=True)
    except RuntimeError:  # no request or SERVER_NAME: print the path
        link = f"/kiosk/enrol/{enrol_token}"
    return (
        f"Kiosk at {KIOSK_PLACE}: open {link} once in the kiosk's browser (one-time link).\n"
        + "\n".join(lines)
    )

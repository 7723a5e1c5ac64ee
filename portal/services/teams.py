"""Teams: who belongs to and coordinates which team, joining, rosters, admin set-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import BindParameter, Select, and_, exists, func, or_, select
from sqlalchemy.orm import selectinload

from portal.clock import today_local
from portal.extensions import db
from portal.models import HourLog, Member, MonthlyHours, Team, TeamMembership
from portal.models.community import CATEGORIES
from portal.services import audit, notifications
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

# --- who is who -----------------------------------------------------------------------


def active_teams_of(member: Member) -> list[Team]:
    return list(
        db.session.scalars(
            select(Team)
            .join(TeamMembership, TeamMembership.team_id == Team.id)
            .where(
                TeamMembership.member_id == member.id,
                TeamMembership.status == "active",
                Team.archived.is_(False),
            )
            .order_by(Team.name)
        )
    )


def in_a_team_select(member_id: int | BindParameter[int]) -> Select:
    """Whether the member is in an active team (`active_teams_of` is not empty), as a select
    that can ride in the top bar's statement (the dashboard)."""
    return select(
        exists().where(
            TeamMembership.member_id == member_id,
            TeamMembership.status == "active",
            TeamMembership.team_id == Team.id,
            Team.archived.is_(False),
        )
    )


def coordinated_team_ids(member: Member) -> list[int]:
    return list(
        db.session.scalars(
            select(TeamMembership.team_id).where(
                TeamMembership.member_id == member.id,
                TeamMembership.status == "active",
                TeamMembership.role == "coordinator",
            )
        )
    )


def is_coordinator(member: Member, team_id: int) -> bool:
    return team_id in coordinated_team_ids(member)


def membership_of(member: Member, team_id: int) -> TeamMembership | None:
    return db.session.scalar(
        select(TeamMembership).where(
            TeamMembership.team_id == team_id, TeamMembership.member_id == member.id
        )
    )


def is_active_member(member: Member, team_id: int) -> bool:
    membership = membership_of(member, team_id)
    return membership is not None and membership.status == "active"


def is_admin_of(member: Member, community_id: int) -> bool:
    return member.is_admin and member.community_id == community_id


def check_admin(actor: Member, community_id: int) -> None:
    if not is_admin_of(actor, community_id):
        raise Forbidden(_l("Only an admin of this community may do this."))


def check_coordinator(actor: Member, team: Team) -> None:
    if not is_coordinator(actor, team.id):
        raise Forbidden(_l("Only a coordinator of this team may do this."))


def add_member(team: Team, member: Member, role: str = "member") -> TeamMembership:
    """Direct, already-accepted membership (demo data, admin set-up)."""
    membership = TeamMembership(team_id=team.id, member_id=member.id, role=role, status="active")
    db.session.add(membership)
    db.session.flush()
    return membership


# --- listings ---------------------------------------------------------------------------


def month_start(today: date | None = None) -> date:
    return (today or today_local()).replace(day=1)


@dataclass(frozen=True)
class TeamRow:
    team: Team
    members: int
    minutes_this_month: int


def teams_of_community(community_id: int, *, include_archived: bool = False) -> list[TeamRow]:
    stmt = select(Team).where(Team.community_id == community_id).order_by(Team.id)
    if not include_archived:
        stmt = stmt.where(Team.archived.is_(False))
    teams = list(db.session.scalars(stmt.limit(200)))
    ids = [t.id for t in teams]
    counts = dict(
        db.session.execute(
            select(TeamMembership.team_id, func.count(TeamMembership.id))
            .where(TeamMembership.team_id.in_(ids), TeamMembership.status == "active")
            .group_by(TeamMembership.team_id)
        ).all()
    )
    # This month's approved minutes from the monthly rollup (exact: portal/services/
    # rollups.py), not the month's logs (~10 ms a team of 4,000 at 10M entries).
    minutes = dict(
        db.session.execute(
            select(MonthlyHours.team_id, func.sum(MonthlyHours.minutes))
            .where(
                # The key's order: the community's months from this one, then the teams.
                MonthlyHours.community_id == community_id,
                MonthlyHours.month >= month_start(),
                MonthlyHours.team_id.in_(ids),
            )
            .group_by(MonthlyHours.team_id)
        ).all()
    )
    return [TeamRow(t, counts.get(t.id, 0), minutes.get(t.id) or 0) for t in teams]


def team_choices(community_id: int) -> list[tuple[int, str]]:
    """(id, name) of the community's active teams, for a choice list: one light statement
    (`teams_of_community` also counts members and this month's minutes, 9 ms at 5,000
    members a team, for a page that shows only the names)."""
    return [
        (team_id, name)
        for team_id, name in db.session.execute(
            select(Team.id, Team.name)
            .where(Team.community_id == community_id, Team.archived.is_(False))
            .order_by(Team.id)
            .limit(200)
        )
    ]


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One line of a team's roster, as plain columns: hydrating each membership and its
    member (every column of `members`) was half the roster's CPU (3.8 -> 1.8 ms for the
    benchmark's 107 rows)."""

    membership_id: int
    member_id: int
    name: str
    role: str
    party_badge: bool
    minutes_this_month: int
    last_service: date | None


# Coordinators after members, each group in joining order: the order the roster always had.
_ROSTER_ORDER = (TeamMembership.role.desc(), TeamMembership.id)


def roster(team: Team, *, after: int | None, size: int) -> tuple[list[RosterRow], int | None]:
    """A page of the team's active members by keyset (`after` a membership id of this team,
    else the first page), and the membership id to continue after, if there is more."""
    stmt = (
        select(
            TeamMembership.id,
            TeamMembership.member_id,
            Member.name,
            TeamMembership.role,
            # Member.party_badge, in SQL.
            and_(Member.party_member, Member.shows_party_badge).label("badge"),
        )
        .join(Member, Member.id == TeamMembership.member_id)
        .where(TeamMembership.team_id == team.id, TeamMembership.status == "active")
    )
    if after is not None:
        # The cursor's place is its row's role and id, read now, as the grid register reads
        # its cursor's household: if that very row was promoted since the page was drawn,
        # "More" goes on among the coordinators and the members after it wait for a reload.
        # A cursor of another team, or of no row, gives the first page, as elsewhere.
        last_role = db.session.scalar(
            select(TeamMembership.role).where(
                TeamMembership.id == after, TeamMembership.team_id == team.id
            )
        )
        if last_role is not None:
            stmt = stmt.where(
                or_(
                    TeamMembership.role < last_role,
                    and_(TeamMembership.role == last_role, TeamMembership.id > after),
                )
            )
    page = stmt.order_by(*_ROSTER_ORDER).limit(size + 1).subquery()
    # Each member's latest service in this team, for the page's rows only (computed for all
    # of a team's members before the sort it cost 210 ms for a team of 4,132 at 10M
    # entries): newest first on the (member_id, service_date, team_id, status) index,
    # stopping at the first of this team's, from the index alone.
    latest = (
        select(HourLog.service_date)
        .where(
            HourLog.member_id == page.c.member_id,
            HourLog.team_id == team.id,
            HourLog.status.in_(("pending", "approved")),
        )
        .order_by(HourLog.service_date.desc())
        .limit(1)
        .correlate(page)
        .scalar_subquery()
    )
    rows = db.session.execute(select(*page.c, latest).order_by(page.c.role.desc(), page.c.id)).all()
    more = rows[size - 1][0] if len(rows) > size else None
    rows = rows[:size]
    ids = [member_id for _id, member_id, *_rest in rows]
    minutes: dict[int, int] = {}
    if ids:
        minutes = dict(
            db.session.execute(
                select(HourLog.member_id, func.sum(HourLog.minutes))
                .where(
                    HourLog.team_id == team.id,
                    HourLog.member_id.in_(ids),
                    HourLog.status == "approved",
                    HourLog.service_date >= month_start(),
                )
                .group_by(HourLog.member_id)
            ).all()
        )
    return [
        RosterRow(
            membership_id,
            member_id,
            name,
            role,
            bool(badge),
            minutes.get(member_id) or 0,
            last,
        )
        for membership_id, member_id, name, role, badge, last in rows
    ], more


def coordinators_of(team: Team) -> list[Member]:
    return list(
        db.session.scalars(
            select(Member)
            .join(TeamMembership, TeamMembership.member_id == Member.id)
            .where(
                TeamMembership.team_id == team.id,
                TeamMembership.status == "active",
                TeamMembership.role == "coordinator",
            )
            .order_by(Member.id)
        )
    )


def join_requests(team: Team) -> list[TeamMembership]:
    return list(
        db.session.scalars(
            select(TeamMembership)
            .where(TeamMembership.team_id == team.id, TeamMembership.status == "pending")
            .order_by(TeamMembership.id)
            .limit(200)
            .options(selectinload(TeamMembership.member))
        )
    )


# --- admin: teams and coordinators ------------------------------------------------------


@dataclass(frozen=True)
class TeamFields:
    name: str
    category: str
    description: str = ""
    kiosk_auto_approve: bool = False
    # ordinary, or a party members' 党员先锋岗 (vanguard) / 党员突击队 (shock).
    kind: str = "ordinary"


def _check_fields(fields: TeamFields, community_id: int, team_id: int | None = None) -> None:
    name = fields.name.strip()
    if not 1 <= len(name) <= 100:
        raise DomainError(_l("Give the team a name (up to 100 characters)."), field="name")
    if fields.category not in CATEGORIES:
        raise DomainError(_l("Choose a category from the list."), field="category")
    if len(fields.description) > 2000:
        raise DomainError(_l("Keep the description under 2000 characters."), field="description")
    if fields.kind not in ("ordinary", "vanguard", "shock"):
        raise DomainError(_l("Choose a kind of team from the list."), field="kind")
    clash = db.session.scalar(
        select(Team.id).where(Team.community_id == community_id, Team.name == name)
    )
    if clash is not None and clash != team_id:
        raise DomainError(_l("This community already has a team of that name."), field="name")


def create_team(admin: Member, fields: TeamFields) -> Team:
    check_admin(admin, admin.community_id)
    _check_fields(fields, admin.community_id)
    team = Team(
        community_id=admin.community_id,
        name=fields.name.strip(),
        category=fields.category,
        description=fields.description.strip(),
        kiosk_auto_approve=fields.kiosk_auto_approve,
        kind=fields.kind,
    )
    db.session.add(team)
    db.session.flush()
    audit.record(admin, "team.create", team, community_id=team.community_id, name=team.name)
    return team


def update_team(admin: Member, team: Team, fields: TeamFields) -> Team:
    check_admin(admin, team.community_id)
    _check_fields(fields, team.community_id, team.id)
    before = {
        "name": team.name,
        "category": team.category,
        "kiosk_auto_approve": team.kiosk_auto_approve,
        "kind": team.kind,
    }
    team.name = fields.name.strip()
    team.category = fields.category
    team.description = fields.description.strip()
    team.kiosk_auto_approve = fields.kiosk_auto_approve
    team.kind = fields.kind
    audit.record(admin, "team.update", team, community_id=team.community_id, before=before)
    return team


def set_archived(admin: Member, team: Team, archived: bool) -> None:
    check_admin(admin, team.community_id)
    team.archived = archived
    audit.record(
        admin,
        "team.archive" if archived else "team.unarchive",
        team,
        community_id=team.community_id,
    )


def find_member_by_phone(phone: str, community_id: int) -> Member:
    from portal.services.members import normalise_phone

    member = db.session.scalar(select(Member).where(Member.phone == normalise_phone(phone)))
    if member is None or member.community_id != community_id:
        raise DomainError(_l("No member of this community has that mobile number."), field="phone")
    return member


def appoint_coordinator(admin: Member, team: Team, member: Member) -> TeamMembership:
    check_admin(admin, team.community_id)
    if member.community_id != team.community_id:
        raise DomainError(_l("No member of this community has that mobile number."), field="phone")
    membership = membership_of(member, team.id)
    if membership is None:
        membership = TeamMembership(team_id=team.id, member_id=member.id)
        db.session.add(membership)
    membership.role = "coordinator"
    membership.status = "active"
    db.session.flush()
    audit.record(
        admin, "team.appoint_coordinator", team, community_id=team.community_id, member_id=member.id
    )
    notifications.notify(member.id, "coordinator_appointed", f"/teams/{team.id}", team=team.name)
    return membership


def remove_coordinator(admin: Member, team: Team, member: Member) -> None:
    check_admin(admin, team.community_id)
    membership = membership_of(member, team.id)
    if membership is None or membership.role != "coordinator":
        raise DomainError(_l("That member is not a coordinator of this team."))
    membership.role = "member"
    audit.record(
        admin, "team.remove_coordinator", team, community_id=team.community_id, member_id=member.id
    )


# --- members and coordinators ---------------------------------------------------------


def request_join(member: Member, team: Team) -> TeamMembership:
    if team.community_id != member.community_id or team.archived:
        raise DomainError(_l("You can only join the open teams of your own community."))
    membership = membership_of(member, team.id)
    if membership is not None and membership.status in ("pending", "active"):
        raise DomainError(
            _l("You are already in this team.")
            if membership.status == "active"
            else _l("You have already asked to join; the coordinator will reply.")
        )
    if membership is None:
        membership = TeamMembership(team_id=team.id, member_id=member.id)
        db.session.add(membership)
    membership.status = "pending"
    membership.role = "member"
    db.session.flush()
    audit.record(member, "team.join_request", team, community_id=team.community_id)
    # Tell the coordinators, or the request waits unseen until one happens to open the team.
    notifications.notify_each(
        (c.id for c in coordinators_of(team)),
        "join_requested",
        f"/teams/{team.id}",
        name=member.name,
        team=team.name,
    )
    return membership


def _locked_membership(team: Team, membership_id: int) -> TeamMembership:
    membership = lock_row(TeamMembership, membership_id)
    if membership is None or membership.team_id != team.id:
        raise DomainError(_l("That member is not in this team."))
    return membership


def decide_join(coordinator: Member, team: Team, membership_id: int, *, accept: bool) -> None:
    check_coordinator(coordinator, team)
    membership = _locked_membership(team, membership_id)
    if membership.status != "pending":
        raise DomainError(_l("This request has already been answered."))
    membership.status = "active" if accept else "declined"
    audit.record(
        coordinator,
        "team.join_accept" if accept else "team.join_decline",
        team,
        community_id=team.community_id,
        member_id=membership.member_id,
    )
    notifications.notify(
        membership.member_id,
        "join_accepted" if accept else "join_declined",
        f"/teams/{team.id}",
        team=team.name,
    )


def remove_member(coordinator: Member, team: Team, membership_id: int) -> None:
    check_coordinator(coordinator, team)
    membership = _locked_membership(team, membership_id)
    if membership.status != "active":
        raise DomainError(_l("That member is not in this team."))
    if membership.role == "coordinator":
        raise DomainError(_l("A coordinator is removed by a community admin."))
    membership.status = "removed"
    audit.record(
        coordinator,
        "team.remove_member",
        team,
        community_id=team.community_id,
        member_id=membership.member_id,
    )


def promote(coordinator: Member, team: Team, membership_id: int) -> None:
    check_coordinator(coordinator, team)
    membership = _locked_membership(team, membership_id)
    if membership.status != "active":
        raise DomainError(_l("That member is not in this team."))
    if membership.role == "coordinator":
        raise DomainError(_l("That member is already a coordinator."))
    membership.role = "coordinator"
    audit.record(
        coordinator,
        "team.promote",
        team,
        community_id=team.community_id,
        member_id=membership.member_id,
    )
    notifications.notify(
        membership.member_id, "coordinator_appointed", f"/teams/{team.id}", team=team.name
    )

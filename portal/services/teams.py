"""Who belongs to and coordinates which team."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Member, Team, TeamMembership


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


def is_active_member(member: Member, team_id: int) -> bool:
    return (
        db.session.scalar(
            select(TeamMembership.id).where(
                TeamMembership.team_id == team_id,
                TeamMembership.member_id == member.id,
                TeamMembership.status == "active",
            )
        )
        is not None
    )


def add_member(team: Team, member: Member, role: str = "member") -> TeamMembership:
    """Direct, already-accepted membership (demo data, admin set-up)."""
    membership = TeamMembership(team_id=team.id, member_id=member.id, role=role, status="active")
    db.session.add(membership)
    db.session.flush()
    return membership

"""The community's service catalogue (服务项目), managed by its admins."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.extensions import db
from portal.models import Member, Service, Team
from portal.models.community import CATEGORIES
from portal.services import audit
from portal.services.errors import DomainError
from portal.services.teams import check_admin


@dataclass(frozen=True)
class ServiceFields:
    name: str
    name_en: str
    category: str
    description: str
    typical_minutes: int | None
    redeemable: bool
    active: bool


def services_of(community_id: int) -> list[Service]:
    return list(
        db.session.scalars(
            select(Service).where(Service.community_id == community_id).order_by(Service.id)
        )
    )


def active_services(community_id: int) -> list[Service]:
    """What a member may choose from: the community's active services."""
    return list(
        db.session.scalars(
            select(Service)
            .where(Service.community_id == community_id, Service.active.is_(True))
            .order_by(Service.id)
        )
    )


def services_for_team(team: Team) -> list[Service]:
    """The services a team gives: the active ones of the team's category (助老 → 陪伴聊天,
    助餐…). A team whose category has none in the catalogue yet offers the whole catalogue,
    so its volunteers can still log their hours."""
    active = active_services(team.community_id)
    return [s for s in active if s.category == team.category] or active


def _check(fields: ServiceFields) -> None:
    if not 1 <= len(fields.name.strip()) <= 100:
        raise DomainError(_l("Give the service a name (up to 100 characters)."), field="name")
    if len(fields.name_en) > 100:
        raise DomainError(_l("Keep the English name under 100 characters."), field="name_en")
    if fields.category not in CATEGORIES:
        raise DomainError(_l("Choose a category from the list."), field="category")
    if fields.typical_minutes is None or not 1 <= fields.typical_minutes <= 720:
        raise DomainError(_l("Enter between 1 and 720 minutes."), field="typical_minutes")
    if len(fields.description) > 2000:
        raise DomainError(_l("Keep the description under 2000 characters."), field="description")


def _apply(service: Service, fields: ServiceFields) -> None:
    service.name = fields.name.strip()
    service.name_en = fields.name_en.strip() or None
    service.category = fields.category
    service.description = fields.description.strip()
    service.typical_minutes = fields.typical_minutes  # type: ignore[assignment]
    service.redeemable = fields.redeemable
    service.active = fields.active


def create(admin: Member, fields: ServiceFields) -> Service:
    check_admin(admin, admin.community_id)
    _check(fields)
    service = Service(community_id=admin.community_id)
    _apply(service, fields)
    db.session.add(service)
    db.session.flush()
    audit.record(admin, "service.create", service, community_id=admin.community_id)
    return service


def update(admin: Member, service: Service, fields: ServiceFields) -> Service:
    check_admin(admin, service.community_id)
    _check(fields)
    _apply(service, fields)
    audit.record(admin, "service.update", service, community_id=service.community_id)
    return service

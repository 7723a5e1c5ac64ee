"""Grids (网格): defining them, who looks after them, members' homes, the party mark, and
the grid register (一网格一档), which only the grid's worker, the community's coordinators
and its admins see — every view of it audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select, tuple_
from sqlalchemy.orm import aliased

from portal.clock import utc_now
from portal.extensions import db
from portal.models import (
    CallUpGroup,
    CarePerson,
    Community,
    Grid,
    GridAppointment,
    Household,
    Member,
    ServiceRequest,
    StreetOffice,
)
from portal.models.grid import CARE_CATEGORIES
from portal.models.requests import ACTIVE_STATUSES
from portal.services import audit, teams
from portal.services.errors import DomainError, Forbidden
from portal.services.locking import lock_row

# --- the grids of a community ----------------------------------------------------------


def grids_of(community_id: int) -> list[Grid]:
    """Grids first, each followed by its micro-grids."""
    rows = list(
        db.session.scalars(select(Grid).where(Grid.community_id == community_id).order_by(Grid.id))
    )
    tops = [g for g in rows if g.parent_id is None]
    ordered: list[Grid] = []
    for top in tops:
        ordered.append(top)
        ordered.extend(g for g in rows if g.parent_id == top.id)
    return ordered


def family_ids(grid: Grid) -> list[int]:
    """The grid a (micro-)grid belongs to and all that grid's micro-grids: "the same grid"."""
    top = grid.top_id
    return [top, *db.session.scalars(select(Grid.id).where(Grid.parent_id == top))]


def family_ids_of(grid_id: int) -> tuple[bool, list[int]]:
    """`family_ids` by a grid's id, without loading it: whether it is a micro-grid, and its
    family (the grid first) — one statement instead of two."""
    this = aliased(Grid)
    top = func.coalesce(this.parent_id, this.id)
    rows = db.session.execute(
        select(Grid.id, Grid.parent_id, this.parent_id)
        .join(this, this.id == grid_id)
        .where(or_(Grid.id == top, Grid.parent_id == top))
        .order_by(Grid.parent_id.is_not(None), Grid.id)
    ).all()
    if not rows:
        return False, []
    return rows[0][2] is not None, [row[0] for row in rows]


@dataclass(frozen=True)
class GridFields:
    name: str
    description: str
    buildings: str
    parent_id: int | None


def _clean_buildings(raw: str) -> str:
    names = []
    for line in raw.replace("，", "\n").replace(",", "\n").splitlines():
        name = line.strip()
        if name and name not in names:
            if len(name) > 50:
                raise DomainError(_l("A building name is at most 50 characters."), "buildings")
            names.append(name)
    return "\n".join(names)


def create_grid(admin: Member, fields: GridFields) -> Grid:
    teams.check_admin(admin, admin.community_id)
    name = fields.name.strip()
    if not 1 <= len(name) <= 100:
        raise DomainError(_l("Enter a name (up to 100 characters)."), field="name")
    if len(fields.description) > 2000:
        raise DomainError(_l("Keep the description under 2,000 characters."), "description")
    parent = db.session.get(Grid, fields.parent_id) if fields.parent_id else None
    if fields.parent_id and (
        parent is None or parent.community_id != admin.community_id or parent.parent_id
    ):
        raise DomainError(_l("Choose a grid of this community."), field="parent")
    if db.session.scalar(
        select(Grid.id).where(Grid.community_id == admin.community_id, Grid.name == name)
    ):
        raise DomainError(_l("This community already has a grid of that name."), field="name")
    grid = Grid(
        community_id=admin.community_id,
        parent_id=parent.id if parent else None,
        name=name,
        description=fields.description.strip(),
        buildings=_clean_buildings(fields.buildings),
    )
    db.session.add(grid)
    db.session.flush()
    audit.record(admin, "grid.create", grid, community_id=grid.community_id, name=name)
    return grid


def _grid_of_admin(admin: Member, grid_id: int) -> Grid:
    grid = lock_row(Grid, grid_id)
    if grid is None or not teams.is_admin_of(admin, grid.community_id):
        raise Forbidden(_l("Only an admin of this community may do this."))
    return grid


def update_grid(admin: Member, grid_id: int, fields: GridFields) -> Grid:
    """An admin renames a grid or micro-grid, rewrites its description or the buildings it
    covers. A building that members live in or the register lists cannot be dropped: they
    would belong to no grid."""
    grid = _grid_of_admin(admin, grid_id)
    name = fields.name.strip()
    if not 1 <= len(name) <= 100:
        raise DomainError(_l("Enter a name (up to 100 characters)."), field="name")
    if len(fields.description) > 2000:
        raise DomainError(_l("Keep the description under 2,000 characters."), "description")
    if db.session.scalar(
        select(Grid.id).where(
            Grid.community_id == grid.community_id, Grid.name == name, Grid.id != grid.id
        )
    ):
        raise DomainError(_l("This community already has a grid of that name."), field="name")
    buildings = _clean_buildings(fields.buildings)
    dropped = [b for b in grid.building_list if b not in buildings.split("\n")]
    if dropped:
        in_use = db.session.scalar(
            select(Member.building).where(Member.grid_id == grid.id, Member.building.in_(dropped))
        ) or db.session.scalar(
            select(Household.building).where(
                Household.grid_id == grid.id, Household.building.in_(dropped)
            )
        )
        if in_use:
            raise DomainError(
                _l(
                    "%(building)s still has members or households of the register. "
                    "Move them to another grid first.",
                    building=in_use,
                ),
                field="buildings",
            )
    grid.name = name
    grid.description = fields.description.strip()
    grid.buildings = buildings
    audit.record(admin, "grid.update", grid, community_id=grid.community_id, name=name)
    return grid


def remove_grid(admin: Member, grid_id: int) -> str:
    """An admin removes a grid or micro-grid that nothing belongs to yet (no micro-grids,
    members, requests, register households or call-ups); its appointments go with it.
    Returns the removed grid's name."""
    grid = _grid_of_admin(admin, grid_id)
    uses = (
        (select(Grid.id).where(Grid.parent_id == grid.id), _l("Remove its micro-grids first.")),
        (
            select(Member.id).where(Member.grid_id == grid.id),
            _l("Members live in this grid. Move them to another grid first."),
        ),
        (
            select(ServiceRequest.id).where(ServiceRequest.grid_id == grid.id),
            _l("This grid has requests, which keep their grid: it cannot be removed."),
        ),
        (
            select(Household.id).where(Household.grid_id == grid.id),
            _l("The grid register lists households of this grid: it cannot be removed."),
        ),
        (
            select(CallUpGroup.id).where(CallUpGroup.grid_id == grid.id),
            _l("A call-up calls this grid's party members: it cannot be removed."),
        ),
    )
    for stmt, refusal in uses:
        if db.session.scalar(stmt.limit(1)) is not None:
            raise DomainError(refusal)
    name = grid.name
    db.session.execute(delete(GridAppointment).where(GridAppointment.grid_id == grid.id))
    audit.record(admin, "grid.remove", grid, community_id=grid.community_id, name=name)
    db.session.delete(grid)
    db.session.flush()
    return name


def grid_for_building(community_id: int, building: str) -> Grid | None:
    """The micro-grid covering a building, else the grid covering it."""
    building = building.strip()
    if not building:
        return None
    found = [g for g in grids_of(community_id) if building in g.building_list]
    micro = [g for g in found if g.parent_id is not None]
    return (micro or found or [None])[0]


# --- appointments ------------------------------------------------------------------------


def appoint(admin: Member, grid_id: int, member_id: int | None, role: str, building: str) -> None:
    grid = db.session.get(Grid, grid_id)
    if grid is None or not teams.is_admin_of(admin, grid.community_id):
        raise Forbidden(_l("Only an admin of this community may do this."))
    member = db.session.get(Member, member_id) if member_id else None
    if member is None or member.community_id != grid.community_id or member.pending_resident:
        raise DomainError(_l("No member of this community has that mobile number."), "phone")
    if role not in ("grid_worker", "building_head"):
        raise DomainError(_l("Choose grid worker or building head."), field="role")
    building = building.strip() if role == "building_head" else ""
    if role == "building_head" and building not in grid.building_list:
        raise DomainError(_l("Choose one of the grid's buildings."), field="building")
    exists = db.session.scalar(
        select(GridAppointment.id).where(
            GridAppointment.grid_id == grid.id,
            GridAppointment.member_id == member.id,
            GridAppointment.role == role,
            GridAppointment.building == building,
        )
    )
    if exists:
        return
    db.session.add(
        GridAppointment(
            grid_id=grid.id,
            member_id=member.id,
            role=role,
            building=building,
            appointed_by_id=admin.id,
        )
    )
    audit.record(
        admin,
        f"grid.appoint.{role}",
        member,
        community_id=grid.community_id,
        grid=grid.id,
        building=building,
    )


def appointments_of(grid: Grid) -> list[tuple[GridAppointment, Member]]:
    return list(
        db.session.execute(
            select(GridAppointment, Member)
            .join(Member, Member.id == GridAppointment.member_id)
            .where(GridAppointment.grid_id == grid.id)
            .order_by(GridAppointment.role.desc(), GridAppointment.id)
        ).all()
    )


def worker_grid_ids(member: Member) -> set[int]:
    """The grids a grid worker looks after: those they are appointed to and their micro-grids
    (one statement; every grid page and dispatch check asks)."""
    appointed = select(GridAppointment.grid_id).where(
        GridAppointment.member_id == member.id, GridAppointment.role == "grid_worker"
    )
    return set(
        db.session.scalars(
            select(Grid.id).where(or_(Grid.id.in_(appointed), Grid.parent_id.in_(appointed)))
        )
    )


def is_grid_worker_of(member: Member, grid_id: int | None) -> bool:
    return grid_id is not None and grid_id in worker_grid_ids(member)


def workers_of(grid: Grid) -> list[int]:
    """Member ids of the workers of a grid: appointed to it or to the grid above it."""
    ids = {grid.id, grid.top_id}
    return list(
        db.session.scalars(
            select(GridAppointment.member_id)
            .where(GridAppointment.grid_id.in_(ids), GridAppointment.role == "grid_worker")
            .distinct()
        )
    )


def headed_buildings(member: Member) -> list[tuple[int, str]]:
    """(grid id, building) for each building this member heads (楼长)."""
    return [
        (g, b)
        for g, b in db.session.execute(
            select(GridAppointment.grid_id, GridAppointment.building).where(
                GridAppointment.member_id == member.id, GridAppointment.role == "building_head"
            )
        )
    ]


def my_grids(member: Member) -> list[Grid]:
    ids = worker_grid_ids(member) | {g for g, _b in headed_buildings(member)}
    if not ids:
        return []
    return list(db.session.scalars(select(Grid).where(Grid.id.in_(ids)).order_by(Grid.id)))


# --- homes and the party mark -----------------------------------------------------------


def set_home(actor: Member, member_id: int, building: str, unit: str) -> Member:
    """A member's building and unit, and so their (micro-)grid: set by themselves, their
    community's admin, or a grid worker of the grid the building is in."""
    member = lock_row(Member, member_id)
    if member is None:
        raise DomainError(_l("No member has that member number."), field="member")
    building, unit = building.strip(), unit.strip()
    if len(building) > 50 or len(unit) > 20:
        raise DomainError(_l("Building up to 50 characters, unit up to 20."), field="building")
    grid = grid_for_building(member.community_id, building)
    allowed = (
        actor.id == member.id
        or teams.is_admin_of(actor, member.community_id)
        or (grid is not None and is_grid_worker_of(actor, grid.id))
        or is_grid_worker_of(actor, member.grid_id)
    )
    if not allowed:
        raise Forbidden(_l("Only the member, an admin or the grid worker can set a home."))
    member.building = building or None
    member.unit = unit or None
    member.grid_id = grid.id if grid else None
    if actor.id != member.id:
        audit.record(
            actor,
            "member.home",
            member,
            community_id=member.community_id,
            building=building,
            unit=unit,
        )
    return member


def confirm_party(admin: Member, member_id: int, *, confirmed: bool) -> Member:
    """An admin confirms (or withdraws) a member's party mark (党员)."""
    member = lock_row(Member, member_id)
    if member is None or not teams.is_admin_of(admin, member.community_id):
        raise Forbidden(_l("Only an admin of this community may do this."))
    member.party_member = confirmed
    member.party_confirmed_at = utc_now() if confirmed else None
    member.party_confirmed_by_id = admin.id if confirmed else None
    audit.record(
        admin,
        "member.party" if confirmed else "member.party_withdrawn",
        member,
        community_id=member.community_id,
    )
    return member


def party_members(community_id: int, grid: Grid | None = None) -> list[Member]:
    """Confirmed party members of a community, or of one grid (with its micro-grids)."""
    stmt = select(Member).where(
        Member.community_id == community_id,
        Member.party_member.is_(True),
        Member.active.is_(True),
    )
    if grid is not None:
        stmt = stmt.where(Member.grid_id.in_(family_ids(grid)))
    return list(db.session.scalars(stmt.order_by(Member.name).limit(1000)))


# --- the grid register (一网格一档) -------------------------------------------------------


def may_see_register(actor: Member, grid: Grid) -> bool:
    if actor.community_id != grid.community_id:
        return False
    return (
        actor.is_admin
        or bool(teams.coordinated_team_ids(actor))
        or is_grid_worker_of(actor, grid.id)
    )


@dataclass(frozen=True)
class RegisterHousehold:
    """A household as the register page shows it (read as columns: 50 ORM objects, their
    people and detaching them all cost more than the page's queries)."""

    id: int
    building: str
    unit: str
    door: str
    note: str
    last_visit_at: datetime | None


@dataclass(frozen=True)
class RegisterPerson:
    name: str
    category_list: list[str]


@dataclass(frozen=True)
class RegisterRow:
    household: RegisterHousehold
    people: list[RegisterPerson]
    open_requests: int


def record_register_view(actor: Member, grid: Grid) -> None:
    """Refuse anyone but the grid's worker, the community's coordinators and admins; write
    the view to the audit log (committed before the page reads the register)."""
    if not may_see_register(actor, grid):
        raise Forbidden(_l("Only the grid's worker, coordinators and admins see the register."))
    audit.record(actor, "grid.register.view", grid, community_id=grid.community_id)


REGISTER_PAGE = 50


def register_rows(
    grid: Grid, *, category: str | None = None, after: int | None = None, size: int = REGISTER_PAGE
) -> tuple[list[RegisterRow], int | None]:
    """A page of the grid's households (its micro-grids' too, for a grid) in building, unit
    and door order, by keyset (`after` a household id), with the people who need looking
    after and their open requests; and the id to continue after, if there is more.
    Two statements: the households by `ix_households_grid`, then their people, each with
    a count of their open requests (by `ix_service_requests_requester`)."""
    if grid.parent_id is None:
        family = select(Grid.id).where(or_(Grid.id == grid.id, Grid.parent_id == grid.id))
        in_grid = Household.grid_id.in_(family)
    else:
        in_grid = Household.grid_id == grid.id
    order = (Household.building, Household.unit, Household.door, Household.id)
    stmt = select(
        Household.id,
        Household.building,
        Household.unit,
        Household.door,
        Household.note,
        Household.last_visit_at,
    ).where(in_grid)
    if category in CARE_CATEGORIES:
        stmt = stmt.where(
            select(CarePerson.id)
            .where(
                CarePerson.household_id == Household.id,
                CarePerson.categories.contains(category),
            )
            .exists()
        )
    if after is not None:
        last = db.session.get(Household, after)
        if last is not None and last.grid_id in (
            family_ids(grid) if grid.parent_id is None else [grid.id]
        ):
            stmt = stmt.where(tuple_(*order) > tuple_(last.building, last.unit, last.door, last.id))
    households = [
        RegisterHousehold(*row) for row in db.session.execute(stmt.order_by(*order).limit(size + 1))
    ]
    more = households[size - 1].id if len(households) > size else None
    households = households[:size]
    people: dict[int, list[RegisterPerson]] = {h.id: [] for h in households}
    open_requests: dict[int, int] = dict.fromkeys(people, 0)
    if households:
        requests_open = (
            select(func.count(ServiceRequest.id))
            .where(
                ServiceRequest.requester_id == CarePerson.member_id,
                ServiceRequest.status.in_(ACTIVE_STATUSES),
            )
            .scalar_subquery()
        )
        for household_id, name, categories, count in db.session.execute(
            select(CarePerson.household_id, CarePerson.name, CarePerson.categories, requests_open)
            .where(CarePerson.household_id.in_(list(people)))
            .order_by(CarePerson.id)
        ):
            people[household_id].append(
                RegisterPerson(name, [c for c in categories.split(",") if c])
            )
            open_requests[household_id] += int(count or 0)
    rows = [RegisterRow(h, people[h.id], open_requests[h.id]) for h in households]
    return rows, more


def register(
    actor: Member, grid: Grid, *, category: str | None = None, after: int | None = None
) -> tuple[list[RegisterRow], int | None]:
    """`record_register_view` and a page of the register (the first, or the one after the
    household `after`), with the id to continue after."""
    record_register_view(actor, grid)
    return register_rows(grid, category=category, after=after)


@dataclass(frozen=True)
class HouseholdFields:
    building: str
    unit: str
    door: str
    note: str
    person: str
    categories: list[str]
    member_no: str


def add_household(actor: Member, grid: Grid, fields: HouseholdFields) -> Household:
    if not may_see_register(actor, grid):
        raise Forbidden(_l("Only the grid's worker, coordinators and admins see the register."))
    if fields.building.strip() not in grid.building_list:
        raise DomainError(_l("Choose one of the grid's buildings."), field="building")
    if len(fields.unit) > 20 or len(fields.door) > 20:
        raise DomainError(_l("Unit and door up to 20 characters each."), field="door")
    if len(fields.note) > 1000:
        raise DomainError(_l("Keep the note under 1,000 characters."), field="note")
    name = fields.person.strip()
    if not 1 <= len(name) <= 50:
        raise DomainError(_l("Enter the name of the person who needs looking after."), "person")
    wrong = [c for c in fields.categories if c not in CARE_CATEGORIES]
    if wrong or not fields.categories:
        raise DomainError(_l("Choose at least one category."), field="categories")
    member_id = None
    if fields.member_no.strip():
        member_id = db.session.scalar(
            select(Member.id).where(
                Member.member_no == fields.member_no.strip(),
                Member.community_id == grid.community_id,
            )
        )
        if member_id is None:
            raise DomainError(_l("No member has that member number."), field="member_no")
    household = Household(
        grid_id=grid.id,
        building=fields.building.strip(),
        unit=fields.unit.strip(),
        door=fields.door.strip(),
        note=fields.note.strip(),
    )
    db.session.add(household)
    db.session.flush()
    db.session.add(
        CarePerson(
            household_id=household.id,
            name=name,
            categories=",".join(c for c in CARE_CATEGORIES if c in fields.categories),
            member_id=member_id,
        )
    )
    audit.record(actor, "grid.register.add", household, community_id=grid.community_id)
    return household


def record_visit(actor: Member, household_id: int, when: datetime | None = None) -> Household:
    household = lock_row(Household, household_id)
    if household is None:
        raise DomainError(_l("That household is not in the register."))
    grid = db.session.get(Grid, household.grid_id)
    assert grid is not None
    if not may_see_register(actor, grid):
        raise Forbidden(_l("Only the grid's worker, coordinators and admins see the register."))
    household.last_visit_at = when or utc_now()
    household.last_visit_by_id = actor.id
    audit.record(actor, "grid.register.visit", household, community_id=grid.community_id)
    return household


# --- street offices and the city -------------------------------------------------------


def is_city_admin(member: Member) -> bool:
    return member.role == "city_admin"


def overseen_community_ids(member: Member) -> list[int]:
    """The communities a street-office admin (their office's) or city admin (all) oversees."""
    if member.role == "city_admin":
        return list(db.session.scalars(select(Community.id)))
    if member.role == "street_admin" and member.street_office_id:
        return list(
            db.session.scalars(
                select(Community.id).where(Community.street_office_id == member.street_office_id)
            )
        )
    return []


def create_street_office(actor: Member, name: str) -> StreetOffice:
    if not is_city_admin(actor):
        raise Forbidden(_l("Only a city admin may do this."))
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise DomainError(_l("Enter a name (up to 100 characters)."), field="name")
    if db.session.scalar(select(StreetOffice.id).where(StreetOffice.name == name)):
        raise DomainError(_l("A street office of that name exists."), field="name")
    office = StreetOffice(name=name)
    db.session.add(office)
    db.session.flush()
    audit.record(actor, "street_office.create", office, name=name)
    return office


def place_community(actor: Member, community_id: int, office_id: int | None) -> Community:
    if not is_city_admin(actor):
        raise Forbidden(_l("Only a city admin may do this."))
    community = db.session.get(Community, community_id)
    if community is None:
        raise DomainError(_l("Choose a community."), field="community")
    if office_id and db.session.get(StreetOffice, office_id) is None:
        raise DomainError(_l("Choose a street office."), field="office")
    community.street_office_id = office_id or None
    audit.record(
        actor, "community.street_office", community, community_id=community.id, office=office_id
    )
    return community


def appoint_street_admin(actor: Member, member_id: int | None, office_id: int | None) -> Member:
    if not is_city_admin(actor):
        raise Forbidden(_l("Only a city admin may do this."))
    member = lock_row(Member, member_id) if member_id else None
    if member is None or member.role not in ("member", "street_admin"):
        raise DomainError(_l("No member has that mobile number."), field="phone")
    if not office_id or db.session.get(StreetOffice, office_id) is None:
        raise DomainError(_l("Choose a street office."), field="office")
    member.role = "street_admin"
    member.street_office_id = office_id
    audit.record(actor, "member.street_admin", member, office=office_id)
    return member


def street_offices() -> list[StreetOffice]:
    return list(db.session.scalars(select(StreetOffice).order_by(StreetOffice.id)))


def communities_overview() -> list[Community]:
    return list(db.session.scalars(select(Community).order_by(Community.id).limit(500)))


def members_by_phone_or_no(community_id: int | None, key: str) -> Member | None:
    key = key.strip()
    if not key:
        return None
    stmt = select(Member).where(or_(Member.phone == key, Member.member_no == key))
    if community_id is not None:
        stmt = stmt.where(Member.community_id == community_id)
    return db.session.scalar(stmt)

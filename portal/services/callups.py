"""Emergency call-ups (紧急召集): call groups of people to a place by a time, escalate to the
next group when too few say yes, stand the rest down, and credit who came.

Every step is an audit line on the call-up (subject "callups"): that is its timeline.
Times are the city's wall-clock time from `portal.clock` (tests move it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, select, update

from portal import clock
from portal.extensions import db
from portal.models import (
    AuditEvent,
    CallUp,
    CallUpGroup,
    CallUpPerson,
    Grid,
    HourLog,
    Member,
    Service,
    Team,
    TeamMembership,
)
from portal.models.callup import LATE_MINUTES
from portal.models.hours import MAX_LOG_MINUTES
from portal.services import audit, hours, notifications, teams
from portal.services.errors import AlreadyDecided, DomainError, Forbidden
from portal.services.locking import lock_row

YES = ("coming", "late")
MAX_NEEDED = 500

# --- groups: who each kind calls -------------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    """A group to call: `kind` from GROUP_KINDS, with the team for kind "team", and for kind
    "party" optionally the grid (None: the party members of the whole community)."""

    kind: str
    team_id: int | None = None
    grid_id: int | None = None

    @classmethod
    def parse(cls, raw: str | None) -> GroupSpec | None:
        """ "team:12", "community", "party" or "party:3" (a form's value); None for anything
        else."""
        raw = (raw or "").strip()
        if raw in ("community", "party"):
            return cls(raw)
        kind, _, number = raw.partition(":")
        if not (number.isdigit() and len(number) < 10):
            return None
        if kind == "team":
            return cls("team", int(number))
        if kind == "party":
            return cls("party", grid_id=int(number))
        return None

    @property
    def value(self) -> str:
        if self.kind == "team":
            return f"team:{self.team_id}"
        if self.kind == "party" and self.grid_id is not None:
            return f"party:{self.grid_id}"
        return self.kind


def grid_with_micro_grids(grid_id: int) -> list[int]:
    """A grid and its micro-grids (a micro-grid has none: just itself)."""
    return [grid_id, *db.session.scalars(select(Grid.id).where(Grid.parent_id == grid_id))]


def _member_ids(group: CallUpGroup, community_id: int) -> list[int]:
    """Who a group calls: active members of a team, every volunteer of the community (an
    active member of any of its teams), or the community's confirmed party members — of one
    grid and its micro-grids when the group names a grid."""
    if group.kind == "party":
        party = select(Member.id).where(
            Member.community_id == community_id,
            Member.party_member.is_(True),
            Member.active.is_(True),
        )
        if group.grid_id is not None:
            party = party.where(Member.grid_id.in_(grid_with_micro_grids(group.grid_id)))
        return sorted(db.session.scalars(party))
    stmt = (
        select(TeamMembership.member_id)
        .join(Member, Member.id == TeamMembership.member_id)
        .where(TeamMembership.status == "active", Member.active.is_(True))
        .distinct()
    )
    if group.kind == "team":
        stmt = stmt.where(TeamMembership.team_id == group.team_id)
    else:
        stmt = stmt.join(Team, Team.id == TeamMembership.team_id).where(
            Team.community_id == community_id, Team.archived.is_(False)
        )
    return sorted(db.session.scalars(stmt))


# --- who runs a call-up ----------------------------------------------------------------


def teams_to_lead(actor: Member) -> list[Team]:
    """The teams `actor` may start a call-up for: those they coordinate; an admin, all of
    the community's teams."""
    stmt = select(Team).where(Team.community_id == actor.community_id, Team.archived.is_(False))
    if not actor.is_admin:
        stmt = stmt.where(Team.id.in_(teams.coordinated_team_ids(actor) or [0]))
    return list(db.session.scalars(stmt.order_by(Team.name)))


def may_start(actor: Member) -> bool:
    return actor.is_admin or bool(teams.coordinated_team_ids(actor))


def may_run(actor: Member, callup: CallUp) -> bool:
    """The coordinators of the call-up's team and the community's admins."""
    if actor.community_id != callup.community_id:
        return False
    return actor.is_admin or teams.is_coordinator(actor, callup.team_id)


def check_may_run(actor: Member, callup: CallUp) -> None:
    if not may_run(actor, callup):
        raise Forbidden(_l("Only a coordinator of the team or an admin can run this call-up."))


def minimum_minutes() -> int:
    """Credited to anyone who came, even when stood down on arrival (CALLUP_MINIMUM_MINUTES)."""
    if has_app_context():
        return int(current_app.config.get("CALLUP_MINIMUM_MINUTES", 30))
    return 30


# --- starting a call-up ----------------------------------------------------------------


@dataclass(frozen=True)
class CallUpFields:
    team_id: int | None
    service_id: int | None
    what: str
    place: str
    needed_by: datetime | None
    needed: int | None
    escalate_after: int | None
    then: list[GroupSpec] = field(default_factory=list)


def _check(actor: Member, fields: CallUpFields) -> tuple[Team, Service]:
    team = db.session.get(Team, fields.team_id) if fields.team_id else None
    if team is None or team not in teams_to_lead(actor):
        raise DomainError(_l("Choose one of your teams."), field="team")
    service = db.session.get(Service, fields.service_id) if fields.service_id else None
    if service is None or service.community_id != team.community_id or not service.active:
        raise DomainError(_l("Choose a service from the list."), field="service")
    if not fields.what.strip() or len(fields.what) > 200:
        raise DomainError(_l("Say in a few words what is needed."), field="what")
    if not fields.place.strip() or len(fields.place) > 200:
        raise DomainError(_l("Say where people should come."), field="place")
    if fields.needed_by is None:
        raise DomainError(_l("Enter when people are needed."), field="needed_by")
    if fields.needed is None or not 1 <= fields.needed <= MAX_NEEDED:
        raise DomainError(_l("Ask for between 1 and 500 people."), field="needed")
    if fields.escalate_after is None or not 1 <= fields.escalate_after <= 1440:
        raise DomainError(_l("Enter between 1 and 1440 minutes."), field="escalate_after")
    for spec in fields.then:
        _check_spec(spec, team.community_id, field="then")
    return team, service


def _check_spec(spec: GroupSpec, community_id: int, *, field: str) -> None:
    """A team or grid of a group must be the community's own."""
    if spec.kind == "team":
        other = db.session.get(Team, spec.team_id)
        if other is None or other.community_id != community_id or other.archived:
            raise DomainError(_l("Choose teams of your community."), field=field)
    if spec.kind == "party" and spec.grid_id is not None:
        grid = db.session.get(Grid, spec.grid_id)
        if grid is None or grid.community_id != community_id:
            raise DomainError(_l("Choose a grid of your community."), field=field)


def create(actor: Member, fields: CallUpFields) -> CallUp:
    """Start a call-up: its first group (the team) is called at once; the others wait for
    the escalation rule or a "call more"."""
    team, service = _check(actor, fields)
    callup = CallUp(
        community_id=team.community_id,
        team_id=team.id,
        service_id=service.id,
        what=fields.what.strip(),
        place=fields.place.strip(),
        needed_by=fields.needed_by,
        needed=fields.needed,
        escalate_after=fields.escalate_after,
        status="open",
        created_by_id=actor.id,
    )
    db.session.add(callup)
    db.session.flush()
    specs: list[GroupSpec] = [GroupSpec("team", team.id)]
    for spec in fields.then:
        if spec not in specs:
            specs.append(spec)
    groups = [
        CallUpGroup(
            callup_id=callup.id, position=i, kind=s.kind, team_id=s.team_id, grid_id=s.grid_id
        )
        for i, s in enumerate(specs, start=1)
    ]
    db.session.add_all(groups)
    db.session.flush()
    audit.record(
        actor,
        "callup.create",
        callup,
        community_id=callup.community_id,
        needed=callup.needed,
        needed_by=callup.needed_by,
        groups=[s.value for s in specs],
        escalate_after=callup.escalate_after,
    )
    now = clock.now_local()
    if _claim(groups[0].id, now, "start"):
        _call(callup, groups[0], actor, now, "start")
    return callup


# --- calling a group: exactly once -----------------------------------------------------


def _claim(group_id: int, now: datetime, how: str, *, guard: object = None) -> bool:
    """Mark the group called — only if nobody has yet (and `guard`, a SQL condition, holds).
    Two processes racing here: one UPDATE changes the row, the other finds called_at set
    (PostgreSQL re-checks the WHERE after the first commits; SQLite serialises writers)."""
    stmt = update(CallUpGroup).where(CallUpGroup.id == group_id, CallUpGroup.called_at.is_(None))
    if guard is not None:
        stmt = stmt.where(guard)  # type: ignore[arg-type]
    result = db.session.execute(
        stmt.values(called_at=now, called_how=how).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def _call(callup: CallUp, group: CallUpGroup, actor: Member | None, now: datetime, how: str) -> int:
    """Call everyone in the group not called before (never the one who started it)."""
    already = set(
        db.session.scalars(
            select(CallUpPerson.member_id).where(CallUpPerson.callup_id == callup.id)
        )
    )
    new_ids = [
        m
        for m in _member_ids(group, callup.community_id)
        if m not in already and m != callup.created_by_id
    ]
    db.session.add_all(
        CallUpPerson(
            callup_id=callup.id, member_id=m, group_id=group.id, called_at=now, answer="none"
        )
        for m in new_ids
    )
    notifications.notify_each(
        new_ids,
        "callup_called",
        "callups.index",
        what=callup.what,
        place=callup.place,
        time=callup.needed_by.strftime("%H:%M"),
    )
    db.session.flush()
    audit.record(
        actor,
        "callup.escalate" if how == "escalation" else "callup.call",
        callup,
        community_id=callup.community_id,
        group=group.position,
        kind=group.kind,
        team_id=group.team_id,
        grid_id=group.grid_id,
        called=new_ids,
    )
    return len(new_ids)


def yes_count(callup_id: int) -> int:
    return db.session.scalar(
        select(func.count(CallUpPerson.id)).where(
            CallUpPerson.callup_id == callup_id, CallUpPerson.answer.in_(YES)
        )
    )


@dataclass(frozen=True)
class Due:
    """An escalation that looks due, read in one transaction and claimed in another."""

    callup_id: int
    group_id: int
    needed: int


def due(callup_ids: Iterable[int], now: datetime | None = None) -> list[Due]:
    """The next group of each open call-up whose last group was called at least
    `escalate_after` minutes ago while fewer than `needed` have said yes. Reads only."""
    now = now or clock.now_local()
    found: list[Due] = []
    ids = list(callup_ids)
    if not ids:
        return found
    rows = db.session.execute(
        select(CallUp.id, CallUp.needed, CallUp.escalate_after).where(
            CallUp.id.in_(ids), CallUp.status == "open"
        )
    ).all()
    for callup_id, needed, after in rows:
        groups = db.session.execute(
            select(CallUpGroup.id, CallUpGroup.called_at)
            .where(CallUpGroup.callup_id == callup_id)
            .order_by(CallUpGroup.position)
        ).all()
        called = [g for g in groups if g.called_at is not None]
        waiting = [g for g in groups if g.called_at is None]
        if not called or not waiting:
            continue
        last = max(g.called_at for g in called)
        if last + timedelta(minutes=after) > now:
            continue
        if yes_count(callup_id) >= needed:
            continue
        found.append(Due(callup_id, waiting[0].id, needed))
    return found


def escalate(item: Due, now: datetime | None = None) -> bool:
    """Call the next group if it is still due. The conditional UPDATE is the first statement,
    and re-checks in SQL what may have changed since `due` read it (still open, still too
    few yes), so it is safe in a fresh transaction on SQLite and under PostgreSQL's row lock.
    True for the one caller that fired it."""
    now = now or clock.now_local()
    still_open = exists().where(CallUp.id == item.callup_id, CallUp.status == "open")
    too_few = (
        select(func.count(CallUpPerson.id))
        .where(CallUpPerson.callup_id == item.callup_id, CallUpPerson.answer.in_(YES))
        .scalar_subquery()
        < item.needed
    )
    if not _claim(item.group_id, now, "escalation", guard=and_(still_open, too_few)):
        return False
    callup = db.session.get(CallUp, item.callup_id)
    group = db.session.get(CallUpGroup, item.group_id)
    assert callup is not None and group is not None
    _call(callup, group, None, now, "escalation")
    return True


def open_callup_ids(community_id: int | None = None) -> list[int]:
    stmt = select(CallUp.id).where(CallUp.status == "open")
    if community_id is not None:
        stmt = stmt.where(CallUp.community_id == community_id)
    return list(db.session.scalars(stmt.order_by(CallUp.id)))


def call_more(actor: Member, callup_id: int, target: GroupSpec | None) -> int:
    """Call a group now, by hand: the next waiting group (`target` None), or a team or
    all volunteers or party members (added as a new group when not in the call-up yet)."""
    callup = _locked(callup_id)
    check_may_run(actor, callup)
    if callup.status != "open":
        raise AlreadyDecided(_l("This call-up is no longer open."))
    groups = list(
        db.session.scalars(
            select(CallUpGroup)
            .where(CallUpGroup.callup_id == callup.id)
            .order_by(CallUpGroup.position)
        )
    )
    if target is None:
        group = next((g for g in groups if g.called_at is None), None)
        if group is None:
            raise DomainError(_l("Everyone in the call-up's groups has been called."))
    else:
        _check_spec(target, callup.community_id, field="target")
        group = next((g for g in groups if _spec_of(g) == target), None)
        if group is None:
            group = CallUpGroup(
                callup_id=callup.id,
                position=groups[-1].position + 1,
                kind=target.kind,
                team_id=target.team_id,
                grid_id=target.grid_id,
            )
            db.session.add(group)
            db.session.flush()
    now = clock.now_local()
    if group.called_at is None and not _claim(group.id, now, "hand"):
        raise AlreadyDecided(_l("That group has just been called."))
    if group.called_at is None:
        db.session.refresh(group)
    return _call(callup, group, actor, now, "hand")


def _spec_of(group: CallUpGroup) -> GroupSpec:
    return GroupSpec(group.kind, group.team_id, group.grid_id)


# --- answering -------------------------------------------------------------------------

CHOICES = {"coming": ("coming", None), "cannot": ("cannot", None)} | {
    f"late{m}": ("late", m) for m in LATE_MINUTES
}


def _locked(callup_id: int) -> CallUp:
    callup = lock_row(CallUp, callup_id)
    if callup is None:
        raise DomainError(_l("That call-up does not exist."))
    return callup


def answer(member: Member, callup_id: int, choice: str) -> CallUpPerson:
    """我来 / 晚到 10–30 分钟 / 来不了 — changeable until the call-up closes."""
    callup = _locked(callup_id)
    person = db.session.scalar(
        select(CallUpPerson).where(
            CallUpPerson.callup_id == callup.id, CallUpPerson.member_id == member.id
        )
    )
    if person is None:
        raise Forbidden(_l("You were not called for this."))
    if callup.status == "closed":
        raise AlreadyDecided(_l("This call-up has closed; answers are no longer taken."))
    if choice not in CHOICES:
        raise DomainError(_l("Choose one of the answers."))
    kind, late = CHOICES[choice]
    if (person.answer, person.late_minutes) == (kind, late):
        return person
    person.answer, person.late_minutes = kind, late
    person.answered_at = clock.now_local()
    audit.record(
        member, "callup.answer", callup, community_id=callup.community_id, answer=kind, late=late
    )
    return person


@dataclass(frozen=True)
class Call:
    """A call-up as the person called sees it in the banner."""

    callup: CallUp
    person: CallUpPerson


def calls_for(member: Member) -> list[Call]:
    """The call-ups `member` was called to and that still want an answer: not closed, and
    not stood down for them."""
    return calls_for_id(member.id)


def calls_for_id(member_id: int) -> list[Call]:
    """`calls_for` by the member's id (the top bar has only the id)."""
    rows = db.session.execute(
        select(CallUp, CallUpPerson)
        .join(CallUpPerson, CallUpPerson.callup_id == CallUp.id)
        .where(
            CallUpPerson.member_id == member_id,
            CallUpPerson.stood_down_at.is_(None),
            CallUp.status != "closed",
        )
        .order_by(CallUp.needed_by)
        .limit(5)
    ).all()
    return [Call(c, p) for c, p in rows]


def running(actor: Member) -> list[CallUp]:
    """Call-ups `actor` runs that are not closed, and the last ten closed."""
    stmt = select(CallUp).where(CallUp.community_id == actor.community_id)
    if not actor.is_admin:
        stmt = stmt.where(CallUp.team_id.in_(teams.coordinated_team_ids(actor) or [0]))
    return list(db.session.scalars(stmt.order_by(CallUp.id.desc()).limit(20)))


# --- the board -------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    """One person on the board: plain values, not ORM objects (200 rows hydrate in ~1 ms)."""

    id: int
    member_id: int
    name: str
    answer: str
    late_minutes: int | None
    stood_down: bool


@dataclass
class Board:
    callup: CallUp
    coming: list[BoardRow]
    late: list[BoardRow]
    cannot: list[BoardRow]
    waiting: list[BoardRow]
    groups: list[CallUpGroup]

    @property
    def yes(self) -> int:
        return len(self.coming) + len(self.late)

    @property
    def people(self) -> list[BoardRow]:
        return self.coming + self.late + self.waiting + self.cannot


def board(callup: CallUp) -> Board:
    """Everyone called, by answer (first answers first), with names: one query of plain
    columns. A call of 200 people: benchmarks/callups.py."""
    rows = [
        BoardRow(*row[:5], stood_down=row[5] is not None)
        for row in db.session.execute(
            select(
                CallUpPerson.id,
                CallUpPerson.member_id,
                Member.name,
                CallUpPerson.answer,
                CallUpPerson.late_minutes,
                CallUpPerson.stood_down_at,
            )
            .join(Member, Member.id == CallUpPerson.member_id)
            .where(CallUpPerson.callup_id == callup.id)
            .order_by(CallUpPerson.answered_at.is_(None), CallUpPerson.answered_at, Member.name)
        )
    ]
    groups = list(
        db.session.scalars(
            select(CallUpGroup)
            .where(CallUpGroup.callup_id == callup.id)
            .order_by(CallUpGroup.position)
        )
    )
    return Board(
        callup,
        coming=[p for p in rows if p.answer == "coming"],
        late=[p for p in rows if p.answer == "late"],
        cannot=[p for p in rows if p.answer == "cannot"],
        waiting=[p for p in rows if p.answer == "none"],
        groups=groups,
    )


def timeline(callup: CallUp, *, answers: bool = True) -> list[AuditEvent]:
    """The call-up's audit lines, oldest first; without the answers (the board lists them by
    name) for its page."""
    stmt = select(AuditEvent).where(
        AuditEvent.subject_type == "callups", AuditEvent.subject_id == callup.id
    )
    if not answers:
        stmt = stmt.where(AuditEvent.action != "callup.answer")
    return list(db.session.scalars(stmt.order_by(AuditEvent.id)))


# --- standing down and closing ---------------------------------------------------------


def stand_down(actor: Member, callup_id: int) -> int:
    """ "Enough": no more calls; everyone who has not said yes is told they are not needed."""
    callup = _locked(callup_id)
    check_may_run(actor, callup)
    if callup.status != "open":
        raise AlreadyDecided(_l("This call-up is no longer open."))
    callup.status = "stood_down"
    now = clock.now_local()
    callup.stood_down_at = now
    told = list(
        db.session.scalars(
            select(CallUpPerson).where(
                CallUpPerson.callup_id == callup.id,
                CallUpPerson.answer.not_in(YES),
                CallUpPerson.stood_down_at.is_(None),
            )
        )
    )
    for person in told:
        person.stood_down_at = now
        notifications.notify(person.member_id, "callup_stood_down", what=callup.what)
    audit.record(
        actor,
        "callup.stand_down",
        callup,
        community_id=callup.community_id,
        told=[p.member_id for p in told],
    )
    return len(told)


def close(actor: Member, callup_id: int, came: dict[int, int | None]) -> list[HourLog]:
    """The coordinator ticks who came (person id → minutes, None for "stood down on
    arrival"): each gets an hour log of at least the minimum, approved with the coordinator as
    witness — pending for another coordinator when the closer is their relative. The day limit
    holds for every one. Once: a second close is refused and credits nothing."""
    callup = _locked(callup_id)
    check_may_run(actor, callup)
    if callup.status == "closed":
        raise AlreadyDecided(_l("This call-up is already closed."))
    people = {
        p.id: p
        for p in db.session.scalars(select(CallUpPerson).where(CallUpPerson.callup_id == callup.id))
    }
    if any(pid not in people for pid in came):
        raise DomainError(_l("Only people who were called can be ticked."), field="came")
    now = clock.now_local()
    minimum = minimum_minutes()
    logs: list[HourLog] = []
    for person_id in sorted(came):
        person = people[person_id]
        minutes = min(max(came[person_id] or 0, minimum), MAX_LOG_MINUTES)
        member = db.session.get(Member, person.member_id)
        assert member is not None
        try:
            log = hours.log_callup(actor, member, callup, minutes=minutes, service_date=now.date())
        except DomainError as error:
            raise DomainError(f"{member.name}: {error.message}", field="came") from error
        person.arrived_at = person.arrived_at or now
        person.minutes = minutes
        person.hour_log_id = log.id
        logs.append(log)
    # The status column is the once-guard, checked under the row lock above; the unique
    # hour_log_id per person backs it up.
    callup.status = "closed"
    callup.closed_at = now
    callup.closed_by_id = actor.id
    audit.record(
        actor,
        "callup.close",
        callup,
        community_id=callup.community_id,
        came={people[p].member_id: people[p].minutes for p in sorted(came)},
    )
    return logs

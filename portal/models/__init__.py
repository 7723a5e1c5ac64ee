"""Typed SQLAlchemy models. Import from here: `from portal.models import Member`."""

from portal.models.activity import Activity, ActivitySignup, Notification
from portal.models.audit import AuditEvent
from portal.models.community import Community, Service
from portal.models.grid import CarePerson, Grid, GridAppointment, Household, StreetOffice
from portal.models.hours import HourLog
from portal.models.idempotency import FormKey
from portal.models.kiosk import CheckIn, KioskDevice
from portal.models.ledger import Account, JournalEntry, LedgerHead, Posting
from portal.models.member import Member
from portal.models.requests import FamilyLink, RequestEvent, ServiceRequest
from portal.models.team import Team, TeamMembership

__all__ = [
    "Account",
    "Activity",
    "ActivitySignup",
    "Notification",
    "AuditEvent",
    "CarePerson",
    "CheckIn",
    "Grid",
    "GridAppointment",
    "Household",
    "StreetOffice",
    "KioskDevice",
    "Community",
    "FormKey",
    "HourLog",
    "JournalEntry",
    "LedgerHead",
    "FamilyLink",
    "Member",
    "RequestEvent",
    "ServiceRequest",
    "Posting",
    "Service",
    "Team",
    "TeamMembership",
]

"""Typed SQLAlchemy models. Import from here: `from portal.models import Member`."""

from portal.models.activity import Activity, ActivitySignup, Notification
from portal.models.audit import AuditEvent
from portal.models.callup import CallUp, CallUpGroup, CallUpPerson
from portal.models.community import Community, Service
from portal.models.grid import CarePerson, Grid, GridAppointment, Household, StreetOffice
from portal.models.hours import HourLog
from portal.models.idempotency import FormKey
from portal.models.kiosk import CheckIn, KioskDevice, PrintedPlaceCode
from portal.models.ledger import Account, JournalEntry, LedgerHead, Posting
from portal.models.member import Member
from portal.models.pool import PoolBeneficiary
from portal.models.requests import FamilyLink, RequestEvent, ServiceRequest
from portal.models.reset import PasswordResetCode
from portal.models.rollups import MemberLastServed, MonthlyBalance, MonthlyHours
from portal.models.team import Team, TeamMembership

__all__ = [
    "Account",
    "Activity",
    "ActivitySignup",
    "Notification",
    "AuditEvent",
    "CallUp",
    "CallUpGroup",
    "CallUpPerson",
    "CarePerson",
    "CheckIn",
    "Grid",
    "GridAppointment",
    "Household",
    "StreetOffice",
    "KioskDevice",
    "PrintedPlaceCode",
    "Community",
    "FormKey",
    "HourLog",
    "JournalEntry",
    "LedgerHead",
    "FamilyLink",
    "Member",
    "MemberLastServed",
    "MonthlyBalance",
    "MonthlyHours",
    "RequestEvent",
    "ServiceRequest",
    "PasswordResetCode",
    "Posting",
    "PoolBeneficiary",
    "Service",
    "Team",
    "TeamMembership",
]

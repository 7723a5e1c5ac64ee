from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError

from portal.forms import choices, parse_local_datetime
from portal.i18n import CATEGORY_LABELS, TEAM_KIND_LABELS
from portal.inputs import choice_id, parse_int


class TeamForm(FlaskForm):
    name = StringField(_l("Team name"))
    category = SelectField(_l("Category"), validate_choice=False)
    description = TextAreaField(_l("Description (optional)"))
    kiosk_auto_approve = BooleanField(_l("Approve kiosk and attendance hours automatically"))
    kind = SelectField(_l("Kind of team"), validate_choice=False)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.category.choices = choices(CATEGORY_LABELS.items())
        self.kind.choices = choices(TEAM_KIND_LABELS.items())


class CoordinatorForm(FlaskForm):
    phone = StringField(_l("Mobile number of the new coordinator"), render_kw={"inputmode": "tel"})


class ActivityForm(FlaskForm):
    title = StringField(_l("Title"))
    starts_at = StringField(_l("Starts"), render_kw={"type": "datetime-local"})
    ends_at = StringField(_l("Ends"), render_kw={"type": "datetime-local"})
    place = StringField(_l("Place"))
    capacity = StringField(
        _l("Capacity (people)"), render_kw={"type": "number", "inputmode": "numeric", "min": 1}
    )
    service = SelectField(_l("Service"), coerce=choice_id, validate_choice=False)

    parsed_start: datetime | None = None
    parsed_end: datetime | None = None
    parsed_capacity: int | None = None

    def validate_starts_at(self, field: StringField) -> None:
        self.parsed_start = parse_local_datetime(field.data)

    def validate_ends_at(self, field: StringField) -> None:
        self.parsed_end = parse_local_datetime(field.data)

    def validate_capacity(self, field: StringField) -> None:
        self.parsed_capacity = parse_int(field.data)
        if self.parsed_capacity is None:
            raise ValidationError(_l("Enter how many people can take part (1 to 1000)."))


class ServiceForm(FlaskForm):
    name = StringField(_l("Name"))
    name_en = StringField(_l("English name (optional)"))
    category = SelectField(_l("Category"), validate_choice=False)
    description = TextAreaField(_l("Description (optional)"))
    typical_minutes = StringField(
        _l("Typical duration in minutes"), render_kw={"type": "number", "inputmode": "numeric"}
    )
    redeemable = BooleanField(_l("May be paid with banked hours"))
    active = BooleanField(_l("Offered now"))

    parsed_minutes: int | None = None

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.category.choices = choices(CATEGORY_LABELS.items())

    def validate_typical_minutes(self, field: StringField) -> None:
        self.parsed_minutes = parse_int(field.data)
        if self.parsed_minutes is None:
            raise ValidationError(_l("Enter between 1 and 720 minutes."))

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField

from portal.forms import OnceForm, choices, parse_local_datetime, parse_minutes
from portal.inputs import choice_id


class RequestForm(OnceForm):
    service = SelectField(_l("What do you need?"), coerce=choice_id, validate_choice=False)
    when = StringField(_l("When"), render_kw={"type": "datetime-local"})
    place = StringField(_l("Where"), render_kw={"autocomplete": "street-address"})
    minutes = StringField(
        _l("About how long, in minutes"),
        render_kw={"type": "number", "inputmode": "numeric", "min": 1, "max": 720},
    )
    note = TextAreaField(_l("Anything the volunteer should know (optional)"))
    pay_with_hours = BooleanField(_l("Pay with my banked hours"))
    for_member = StringField(
        _l("For another person: their member number (optional)"),
        render_kw={"inputmode": "numeric"},
    )

    parsed_when: datetime | None = None
    parsed_minutes: int | None = None

    def validate_when(self, field: StringField) -> None:
        self.parsed_when = parse_local_datetime(field.data)

    def validate_minutes(self, field: StringField) -> None:
        self.parsed_minutes = parse_minutes(field.data)


class DispatchForm(FlaskForm):
    volunteer = SelectField(_l("Volunteer"), coerce=choice_id, validate_choice=False)


class DoneForm(FlaskForm):
    minutes = StringField(
        _l("Minutes spent"),
        render_kw={"type": "number", "inputmode": "numeric", "min": 1, "max": 720},
    )
    parsed_minutes: int | None = None

    def validate_minutes(self, field: StringField) -> None:
        self.parsed_minutes = parse_minutes(field.data)


class ConfirmForm(OnceForm):
    rating = RadioField(
        _l("How was it?"),
        choices=choices([(str(n), _l("%(n)s stars", n=n)) for n in range(5, 0, -1)]),
        validate_choice=False,
    )
    comment = TextAreaField(_l("Comment (optional)"))


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validate_choice=False)

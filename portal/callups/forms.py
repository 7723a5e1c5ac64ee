from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import ValidationError

from portal.forms import OnceForm, parse_local_datetime
from portal.inputs import choice_id, parse_int


class CallUpForm(FlaskForm):
    team = SelectField(_l("Team"), coerce=choice_id, validate_choice=False)
    what = StringField(_l("What is needed"))
    place = StringField(_l("Where"))
    needed_by = StringField(_l("Needed by"), render_kw={"type": "datetime-local"})
    needed = StringField(
        _l("How many people"), render_kw={"type": "number", "inputmode": "numeric", "min": 1}
    )
    service = SelectField(_l("Service (for the hours)"), coerce=choice_id, validate_choice=False)
    escalate_after = StringField(
        _l("If too few say yes after this many minutes, call the next group"),
        default="15",
        render_kw={"type": "number", "inputmode": "numeric", "min": 1},
    )
    then1 = SelectField(_l("Then call"), validate_choice=False)
    then2 = SelectField(_l("After that call"), validate_choice=False)

    parsed_needed_by: datetime | None = None
    parsed_needed: int | None = None
    parsed_after: int | None = None

    def validate_needed_by(self, field: StringField) -> None:
        self.parsed_needed_by = parse_local_datetime(field.data)

    def validate_needed(self, field: StringField) -> None:
        self.parsed_needed = parse_int(field.data, high=500)
        if not self.parsed_needed:
            raise ValidationError(_l("Ask for between 1 and 500 people."))

    def validate_escalate_after(self, field: StringField) -> None:
        self.parsed_after = parse_int(field.data, high=1440)
        if not self.parsed_after:
            raise ValidationError(_l("Enter between 1 and 1440 minutes."))


class CallMoreForm(FlaskForm):
    target = SelectField(_l("Call"), validate_choice=False)


class CloseForm(OnceForm):
    """Who came (ticked person ids) and for how long (minutes_<person id>)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from portal.forms import AsksUnit, OnceForm, minutes_or_hours
from portal.inputs import choice_id


class GiftForm(AsksUnit, OnceForm):
    to = SelectField(_l("To"), coerce=choice_id, validate_choice=False)
    minutes = StringField(_l("Minutes"), render_kw={"inputmode": "numeric", "autocomplete": "off"})
    hours = StringField(
        _l("Or hours"), render_kw={"type": "number", "inputmode": "decimal", "step": 0.1}
    )
    parsed_minutes: int | None = None

    def validate_minutes(self, field: StringField) -> None:
        self.parsed_minutes = self.minutes_from(
            lambda meant: minutes_or_hours(
                field.data,
                self.hours.data,
                missing=_l("Enter how many minutes to gift, such as 60."),
                meant=meant,
            )
        )


class LinkForm(FlaskForm):
    phone = StringField(_l("Your relative's mobile number"), render_kw={"inputmode": "tel"})

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import ValidationError

from portal.forms import OnceForm


class GiftForm(OnceForm):
    to = SelectField(_l("To"), coerce=int, validate_choice=False)
    minutes = StringField(
        _l("Minutes"), render_kw={"type": "number", "inputmode": "numeric", "min": 1}
    )
    hours = StringField(
        _l("Or hours"), render_kw={"type": "number", "inputmode": "decimal", "step": 0.1}
    )
    parsed_minutes: int | None = None

    def validate_minutes(self, field: StringField) -> None:
        raw_minutes = (field.data or "").strip()
        raw_hours = (self.hours.data or "").strip()
        if raw_minutes:
            if not raw_minutes.isdigit():
                raise ValidationError(_l("Enter whole minutes, such as 90."))
            self.parsed_minutes = int(raw_minutes)
        elif raw_hours:
            try:
                value = Decimal(raw_hours)
            except InvalidOperation as exc:
                raise ValidationError(_l("Enter hours as a number, such as 1.5.")) from exc
            if not value.is_finite() or value <= 0:
                raise ValidationError(_l("Enter hours as a number, such as 1.5."))
            self.parsed_minutes = int((value * 60).to_integral_value())
        else:
            raise ValidationError(_l("Enter how many minutes to gift, such as 60."))


class LinkForm(FlaskForm):
    phone = StringField(_l("Your relative's mobile number"), render_kw={"inputmode": "tel"})

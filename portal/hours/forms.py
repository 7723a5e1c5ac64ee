from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.forms import AsksUnit, OnceForm, choices, minutes_or_hours
from portal.inputs import choice_id


class HourLogForm(AsksUnit, OnceForm):
    # 今天 / 昨天 / 前天 as big buttons before the date picker: most service is logged within
    # a day or two, and a date picker is hard work on a small phone.
    day = RadioField(_l("Date of service"), validate_choice=False)
    date = StringField(_l("Another date"), render_kw={"type": "date"})
    minutes = StringField(
        _l("Minutes"),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
        description=_l("Or fill in hours instead, such as 1.5."),
    )
    hours = StringField(
        _l("Hours"),
        render_kw={"inputmode": "decimal", "type": "number", "min": 0.1, "max": 12, "step": 0.1},
    )
    team = SelectField(
        _l("Team"),
        coerce=choice_id,
        validate_choice=False,
        validators=[DataRequired(_l("Choose one of your teams."))],
    )
    service = SelectField(
        _l("Service"),
        coerce=choice_id,
        validate_choice=False,
        validators=[DataRequired(_l("Choose a service from the list."))],
    )
    beneficiary = StringField(
        _l("Member number of the person served (optional)"),
        render_kw={"inputmode": "numeric"},
        description=_l("If they are registered, they can confirm your service."),
    )
    note = TextAreaField(
        _l("Note (optional)"),
        validators=[Length(max=500, message=_l("Keep the note under 500 characters."))],
    )

    parsed_date: date | None = None
    parsed_minutes: int | None = None

    def offer_days(self, today: date) -> None:
        """今天, 昨天, 前天, then "another date" (the picker)."""
        labels = (_l("Today"), _l("Yesterday"), _l("The day before"))
        self.day.choices = choices(
            [
                *(((today - timedelta(days=n)).isoformat(), labels[n]) for n in range(3)),
                ("other", _l("Another date")),
            ]
        )

    def validate_date(self, field: StringField) -> None:
        chosen = self.day.data if self.day.data not in (None, "", "other") else field.data
        try:
            self.parsed_date = date.fromisoformat((chosen or "").strip())
        except ValueError as exc:
            raise ValidationError(_l("Enter the date of the service.")) from exc

    def validate_minutes(self, field: StringField) -> None:
        self.parsed_minutes = self.minutes_from(
            lambda meant: minutes_or_hours(
                field.data,
                self.hours.data,
                missing=_l("Enter how long you served, in minutes or hours."),
                meant=meant,
            )
        )
        if not 1 <= self.parsed_minutes <= 720:
            raise ValidationError(_l("Enter between 1 and 720 minutes (12 hours) for one log."))


class CorrectionForm(AsksUnit, OnceForm):
    """Reverse an approved record, with a reason; optionally enter what it should have said."""

    reason = TextAreaField(
        _l("Reason for the correction"),
        validators=[Length(max=300, message=_l("Keep the reason under 300 characters."))],
        description=_l("Required. The member sees it on their statement."),
    )
    minutes = StringField(
        _l("Correct minutes (optional)"),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
        description=_l("Fill in to enter the corrected record in the same step."),
    )
    member_no = StringField(
        _l("Member number of the right person (optional)"),
        render_kw={"inputmode": "numeric"},
        description=_l("Leave empty if the person was right."),
    )
    date = StringField(
        _l("Correct date of service (optional)"),
        render_kw={"type": "date"},
    )

    parsed_date: date | None = None
    parsed_minutes: int | None = None

    def validate_reason(self, field: TextAreaField) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Give a reason for the correction."))

    def validate_minutes(self, field: StringField) -> None:
        self.parsed_minutes = None
        if (field.data or "").strip():
            self.parsed_minutes = self.minutes_from(
                lambda meant: minutes_or_hours(field.data, None, missing="", meant=meant)
            )
            if not 1 <= self.parsed_minutes <= 720:
                raise ValidationError(_l("Enter between 1 and 720 minutes (12 hours) for one log."))

    def validate_date(self, field: StringField) -> None:
        self.parsed_date = None
        raw = (field.data or "").strip()
        if raw:
            try:
                self.parsed_date = date.fromisoformat(raw)
            except ValueError as exc:
                raise ValidationError(_l("Enter the date of the service.")) from exc

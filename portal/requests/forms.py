from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, ValidationError

from portal.forms import AsksUnit, OnceForm, choices, parse_local_datetime, parse_minutes
from portal.inputs import choice_id, parse_int

QUICK_ESTIMATES = ("30", "60", "90", "120", "240")


class RequestForm(AsksUnit, OnceForm):
    # Every rule a person can get wrong is checked here, so one submission shows every
    # message at once (an empty form used to take three rounds: service, time, place).
    service = SelectField(
        _l("What do you need?"),
        coerce=choice_id,
        validate_choice=False,
        validators=[DataRequired(_l("Choose a service from the list."))],
    )
    # When, as people say it: a day, 上午/下午/晚上 and an hour — not a bare date-time box.
    day = RadioField(_l("Which day?"), validate_choice=False)
    other_day = StringField(_l("Another day"), render_kw={"type": "date"})
    period = RadioField(
        _l("What time of day?"),
        choices=choices(
            [("morning", _l("Morning")), ("afternoon", _l("Afternoon")), ("evening", _l("Evening"))]
        ),
        validate_choice=False,
    )
    hour = SelectField(
        _l("At about"),
        choices=choices(
            [("", _l("Choose…"))] + [(str(h), _l("%(h)s o'clock", h=h)) for h in range(1, 13)]
        ),
        validate_choice=False,
    )
    # The date-time in one value, as earlier clients and the API send it.
    when = StringField(_l("When"), render_kw={"type": "datetime-local"})
    place = StringField(
        _l("Where"),
        render_kw={"autocomplete": "street-address"},
        validators=[
            DataRequired(_l("Enter where (up to 200 characters).")),
            Length(max=200, message=_l("Enter where (up to 200 characters).")),
        ],
    )
    # Quick choices first, so "2小时" can never become 2 minutes; the box is for the rest.
    estimate = RadioField(
        _l("About how long?"),
        choices=choices(
            [
                ("30", _l("30 minutes")),
                ("60", _l("1 hour")),
                ("90", _l("1.5 hours")),
                ("120", _l("2 hours")),
                ("240", _l("Half a day (4 hours)")),
                ("other", _l("Another length")),
            ]
        ),
        validate_choice=False,
    )
    minutes = StringField(
        _l("Another length, such as 3 小时 or 45 分钟"),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    note = TextAreaField(
        _l("Anything the volunteer should know (optional)"),
        validators=[Length(max=500, message=_l("Keep the note under 500 characters."))],
    )
    pay_with_hours = BooleanField(_l("Pay with my banked hours"))
    # The public-welfare pool (公益池) pays for residents the community named, once a
    # coordinator approves.
    ask_pool = BooleanField(_l("Ask the community's public-welfare pool to pay"))
    # 通存通兑: the community where the service is wanted (where the resident lives now).
    community = HiddenField()
    for_member = StringField(
        _l("For another person: their member number (optional)"),
        render_kw={"inputmode": "numeric"},
    )

    # Set by a building poster's link (点单 by QR code): the grid the need is in.
    grid = HiddenField()

    parsed_when: datetime | None = None
    parsed_minutes: int | None = None

    def offer_days(self, today: date) -> None:
        labels = (_l("Today"), _l("Tomorrow"), _l("The day after tomorrow"))
        self.day.choices = choices(
            [
                *(((today + timedelta(days=n)).isoformat(), labels[n]) for n in range(3)),
                ("other", _l("Another day")),
            ]
        )

    def validate_when(self, field: StringField) -> None:
        if (field.data or "").strip():
            self.parsed_when = parse_local_datetime(field.data)
            return
        chosen = self.day.data if self.day.data not in (None, "", "other") else self.other_day.data
        try:
            day = date.fromisoformat((chosen or "").strip())
        except ValueError as exc:
            raise ValidationError(_l("Choose the day you need the service.")) from exc
        hour = parse_int(self.hour.data, low=1, high=12)
        if self.period.data not in ("morning", "afternoon", "evening") or hour is None:
            raise ValidationError(_l("Choose morning, afternoon or evening, and the hour."))
        # 上午 8 点 is 08:00; 下午 3 点 and 晚上 7 点 are 15:00 and 19:00; 下午 12 点 is noon.
        if self.period.data != "morning" and hour < 12:
            hour += 12
        elif self.period.data == "morning" and hour == 12:
            hour = 0
        self.parsed_when = datetime.combine(day, time(hour % 24))

    def validate_minutes(self, field: StringField) -> None:
        choice = self.estimate.data
        if choice in QUICK_ESTIMATES:
            self.parsed_minutes = int(choice)
            return
        if choice in (None, "", "other") and (field.data or "").strip():
            self.parsed_minutes = self.minutes_from(
                lambda meant: parse_minutes(field.data, meant=meant)
            )
            return
        raise ValidationError(_l("Choose about how long, or write it in the box."))


class DispatchForm(FlaskForm):
    volunteer = SelectField(_l("Volunteer"), coerce=choice_id, validate_choice=False)


class DoneForm(AsksUnit, FlaskForm):
    minutes = StringField(
        _l("Minutes spent"),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    parsed_minutes: int | None = None

    def validate_minutes(self, field: StringField) -> None:
        self.parsed_minutes = self.minutes_from(
            lambda meant: parse_minutes(field.data, meant=meant)
        )


class ConfirmForm(OnceForm):
    rating = RadioField(
        _l("How was it?"),
        choices=choices([(str(n), _l("%(n)s stars", n=n)) for n in range(5, 0, -1)]),
        validate_choice=False,
    )
    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[Length(max=500, message=_l("Keep the comment under 500 characters."))],
    )


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validate_choice=False)

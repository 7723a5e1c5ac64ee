from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class CardForm(FlaskForm):
    """The start screen: a USB scanner types the card's token and Enter here."""

    card = StringField(_l("Scan your member card"), validators=[DataRequired(), Length(max=200)])


class KeypadForm(FlaskForm):
    """Member number, then PIN, typed by tapping keys; the digits so far ride along."""

    number = HiddenField()
    pin = HiddenField()
    stage = HiddenField(default="number")


class WhoForm(FlaskForm):
    """Every form after identification carries who was identified (signed, 20 s) and a
    one-time key, so a double tap or a replay acts once."""

    who = HiddenField()
    key = HiddenField()


class CheckInForm(WhoForm):
    activity = IntegerField(validators=[Optional()])
    team = SelectField(_l("Team"), coerce=int, validators=[Optional()], validate_choice=False)
    service = SelectField(_l("Service"), coerce=int, validators=[Optional()], validate_choice=False)


class CheckOutForm(WhoForm):
    visit = IntegerField(validators=[DataRequired()])
    short = HiddenField()


class CorrectForm(WhoForm):
    visit = IntegerField(validators=[DataRequired()])
    earlier = IntegerField(validators=[Optional()])


class PinForm(FlaskForm):
    pin = PasswordField(
        _l("New kiosk PIN (4 to 6 digits)"), validators=[DataRequired(), Length(min=4, max=6)]
    )


class PlaceForm(FlaskForm):
    place = StringField(
        _l("Place (as written on its activities)"), validators=[DataRequired(), Length(max=200)]
    )


class MemberNoForm(FlaskForm):
    member_no = StringField(_l("Member number"), validators=[DataRequired(), Length(max=12)])

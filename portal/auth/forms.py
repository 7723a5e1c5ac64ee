from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange

from portal.forms import choices
from portal.inputs import choice_id


class RegisterForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[
            InputRequired(_l("Enter your name.")),
            Length(max=50, message=_l("Enter your name (up to 50 characters).")),
        ],
    )
    phone = StringField(
        _l("Mobile number"),
        validators=[InputRequired(_l("Enter your mobile number."))],
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Choose a password of at least 8 characters."))],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 8 characters."),
    )
    community = SelectField(
        _l("Community"),
        coerce=choice_id,
        validate_choice=False,
        validators=[InputRequired(_l("Choose your community."))],
    )
    birth_year = IntegerField(
        _l("Year of birth"),
        validators=[InputRequired(_l("Enter your year of birth, such as 1950."))],
        render_kw={"inputmode": "numeric"},
        description=_l("Four digits, such as 1950."),
    )
    # Optional: the home building and unit put the member in their (micro-)grid.
    building = StringField(
        _l("Building (optional)"),
        validators=[Length(max=50)],
        description=_l("Such as 3号楼: your grid worker can then reach you."),
    )
    unit = StringField(_l("Unit (optional)"), validators=[Length(max=20)])

    def validate_birth_year(self, field: IntegerField) -> None:
        NumberRange(
            min=1900,
            max=date.today().year,
            message=_l("Enter your year of birth, such as 1950."),
        )(self, field)


class LoginForm(FlaskForm):
    phone = StringField(
        _l("Mobile number"),
        validators=[InputRequired(_l("Enter your mobile number."))],
        render_kw={"inputmode": "tel", "autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[InputRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a password of at least 8 characters."))],
        render_kw={"autocomplete": "new-password"},
    )


class LanguageForm(FlaskForm):
    locale = SelectField(
        _l("Language"),
        choices=choices([("zh_CN", "中文"), ("en", "English")]),
        validate_choice=True,
    )


class ElderModeForm(FlaskForm):
    elder = SelectField(
        _l("Elder mode (长辈版)"),
        choices=choices([("1", _l("On")), ("0", _l("Off"))]),
        validate_choice=True,
    )


class ForgotPasswordForm(FlaskForm):
    """A member types the code someone they trust read out to them (no SMS here)."""

    phone = StringField(
        _l("Mobile number"),
        validators=[InputRequired(_l("Enter your mobile number."))],
        render_kw={"inputmode": "tel", "autocomplete": "username"},
    )
    code = StringField(
        _l("Reset code (8 digits)"),
        validators=[InputRequired(_l("Enter the 8-digit code you were given."))],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
        description=_l(
            "Ask a linked relative, your team's coordinator or your community to give you one."
        ),
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a password of at least 8 characters."))],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 8 characters."),
    )

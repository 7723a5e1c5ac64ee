from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms import choices
from portal.i18n import CARE_CATEGORY_LABELS
from portal.inputs import choice_id
from portal.requests.forms import RequestForm


class GridForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(_l("Enter a name."))])
    parent = SelectField(
        _l("Part of grid (for a micro-grid)"), coerce=choice_id, validate_choice=False
    )
    buildings = TextAreaField(
        _l("Buildings it covers, one a line"), description=_l("Such as 3号楼, one a line.")
    )
    description = TextAreaField(_l("Description (optional)"))


class GridEditForm(FlaskForm):
    """Name, buildings and description of an existing grid (its place stays)."""

    name = StringField(_l("Name"), validators=[InputRequired(_l("Enter a name."))])
    buildings = TextAreaField(
        _l("Buildings it covers, one a line"), description=_l("Such as 3号楼, one a line.")
    )
    description = TextAreaField(_l("Description (optional)"))


class AppointForm(FlaskForm):
    phone = StringField(
        _l("Mobile number or member number"),
        validators=[InputRequired(_l("Enter a mobile number or member number."))],
        render_kw={"inputmode": "tel"},
    )
    role = SelectField(
        _l("Appoint as"),
        choices=choices(
            [("grid_worker", _l("Grid worker")), ("building_head", _l("Building head"))]
        ),
        validate_choice=False,
    )
    building = StringField(_l("Building (for a building head)"))


class HomeForm(FlaskForm):
    member = StringField(
        _l("Member number or mobile number"),
        validators=[InputRequired(_l("Enter a mobile number or member number."))],
    )
    building = StringField(_l("Building"))
    unit = StringField(_l("Unit"))


class HouseholdForm(FlaskForm):
    building = SelectField(_l("Building"), validate_choice=False)
    unit = StringField(_l("Unit"), validators=[Length(max=20)])
    door = StringField(_l("Door"), validators=[Length(max=20)])
    person = StringField(
        _l("Who needs looking after"), validators=[InputRequired(_l("Enter a name."))]
    )
    categories = SelectMultipleField(
        _l("Why"),
        choices=choices(list(CARE_CATEGORY_LABELS.items())),
        validate_choice=False,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    member_no = StringField(_l("Their member number, if they are a member (optional)"))
    note = TextAreaField(_l("Note (optional)"), validators=[Length(max=1000)])


class RouteForm(FlaskForm):
    team = SelectField(_l("Team"), coerce=choice_id, validate_choice=False)


class ComplaintForm(FlaskForm):
    complaint = TextAreaField(
        _l("What went wrong?"),
        validators=[InputRequired(_l("Say what went wrong (up to 500 characters)."))],
    )


class OutcomeForm(FlaskForm):
    outcome = TextAreaField(
        _l("Outcome of the follow-up"),
        validators=[InputRequired(_l("Write what was done (up to 1,000 characters)."))],
    )


class PosterRequestForm(RequestForm):
    """点单 from a building poster, by a resident without an account."""

    name = StringField(
        _l("Your name"),
        validators=[InputRequired(_l("Enter your name.")), Length(max=50)],
        render_kw={"autocomplete": "name"},
    )
    phone = StringField(
        _l("Mobile number"),
        validators=[InputRequired(_l("Enter your mobile number."))],
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )
    birth_year = IntegerField(
        _l("Year of birth"),
        validators=[Optional()],
        render_kw={"inputmode": "numeric"},
        description=_l("Four digits, such as 1950."),
    )
    unit = StringField(_l("Unit (optional)"), validators=[Length(max=20)])


class TrackForm(FlaskForm):
    class Meta:
        csrf = False

    number = StringField(_l("Follow-up number"), render_kw={"inputmode": "numeric"})
    phone_tail = StringField(
        _l("Last four digits of your mobile number"), render_kw={"inputmode": "numeric"}
    )


class TrackConfirmForm(FlaskForm):
    number = StringField()
    phone_tail = StringField()
    rating = RadioField(
        _l("How was it?"),
        choices=choices([(str(n), _l("%(n)s stars", n=n)) for n in range(5, 0, -1)]),
        validate_choice=False,
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Length(max=500)])


class OfficeForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(_l("Enter a name."))])


class PlaceForm(FlaskForm):
    office = SelectField(_l("Street office"), coerce=choice_id, validate_choice=False)


class StreetAdminForm(FlaskForm):
    phone = StringField(
        _l("Mobile number or member number"),
        validators=[InputRequired(_l("Enter a mobile number or member number."))],
    )
    office = SelectField(_l("Street office"), coerce=choice_id, validate_choice=False)

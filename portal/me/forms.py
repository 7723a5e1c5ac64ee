"""Forms of the member's own settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

from portal.forms import choices


class SharePhoneForm(FlaskForm):
    share = SelectField(
        _l("When I take a request, the resident may see my mobile number"),
        choices=choices([("1", _l("Yes")), ("0", _l("No"))]),
        validate_choice=True,
    )


class DonateExcessForm(FlaskForm):
    donate = SelectField(
        _l("When my banked time reaches the community's cap, the time above it"),
        choices=choices(
            [
                ("0", _l("is refused (I will use or gift my hours first)")),
                ("1", _l("is donated to the community's public-welfare pool")),
            ]
        ),
        validate_choice=True,
    )

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField


class CategoryForm(FlaskForm):
    category = SelectField(_l("A category of the grid register"), validate_choice=False)


class MemberForm(FlaskForm):
    member = StringField(
        _l("One resident: their member number"), render_kw={"inputmode": "numeric"}
    )

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models._time import utcnow


class FormKey(db.Model):
    """A one-time key carried by a form that moves hours.

    The row is inserted in the same transaction as the work the form asks for, so a
    replayed POST finds it and is answered with the first result instead of acting again.
    """

    __tablename__ = "form_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    result_url: Mapped[str] = mapped_column(String(255), default="")
    # What was submitted with the key (sha256 of the fields): the same key with other
    # content is a different submission, not a replay.
    digest: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

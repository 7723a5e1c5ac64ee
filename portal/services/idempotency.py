"""One-time form keys: a replayed POST gets the first answer and does nothing again."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import FormKey, Member
from portal.services.errors import DomainError, KeyReused

KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def new_key() -> str:
    return uuid.uuid4().hex


def digest(fields: Mapping[str, object]) -> str:
    """A fingerprint of what a form sent (its one-time key and CSRF token left out)."""
    content = {k: v for k, v in fields.items() if k not in ("once", "csrf_token")}
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


def claim(key: str | None, member: Member, content: str = "") -> FormKey | None:
    """Claim `key` for this request. Returns None when it is fresh (go ahead and act),
    or the earlier claim when the same form was already submitted (answer with its result).

    The claim commits or rolls back with the work it guards: a failed attempt leaves the
    key free for a corrected resubmission.
    """
    if not key or not KEY_PATTERN.match(key):
        raise DomainError(_l("This form has expired. Please open the page again and retry."))
    existing = db.session.get(FormKey, key)
    if existing is None:
        try:
            with db.session.begin_nested():
                db.session.add(FormKey(key=key, member_id=member.id, digest=content))
        except IntegrityError:
            # A concurrent request with the same key committed first.
            existing = db.session.get(FormKey, key, populate_existing=True)
            if existing is None:  # pragma: no cover - it just committed
                raise
        else:
            return None
    if existing.member_id != member.id:
        raise DomainError(_l("This form has expired. Please open the page again and retry."))
    if content and existing.digest and existing.digest != content:
        raise KeyReused(
            _l(
                "This form was already sent once, with other details. What you have just "
                "filled in is shown below: check it and send it again."
            )
        )
    return existing


def remember_result(key: str, url: str) -> None:
    # An UPDATE by key: the claimed FormKey is seldom still in the session (it is held only
    # weakly once flushed), and finding it again cost a SELECT before the UPDATE.
    db.session.execute(update(FormKey).where(FormKey.key == key).values(result_url=url))

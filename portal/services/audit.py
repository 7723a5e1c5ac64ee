from __future__ import annotations

import json
from typing import Any

from portal.extensions import db
from portal.models import AuditEvent, Member


def record(
    actor: Member | None,
    action: str,
    subject: Any,
    *,
    reason: str = "",
    community_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    """Write one audit line for a decision; flushed with the decision it describes."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        subject_type=type(subject).__tablename__,
        subject_id=subject.id,
        community_id=community_id,
        reason=reason,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
    )
    db.session.add(event)
    db.session.flush()
    return event

"""The statement page's rows, as the texts its template shows.

The page shows 50 lines; each asked the template for its date (a filter call through the
user's timezone), its kind's label, its description, its link and two duration cells: about
half the page's own time went to those calls. Here each is done once per line in plain
Python, with what a page shares (the timezone, the labels, the link's parts) found once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from markupsafe import Markup

from portal import i18n
from portal.services.statement import StatementLine
from portal.templating import duration_cells, row_url


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One line of the statement as the page shows it."""

    day: str  # the entry's date in the reader's timezone, yyyy-MM-dd
    description: str
    url: str | None  # the hour log's page, for a line that credits or corrects one
    sign: str  # "plus" or "minus": the amount cell's class
    minutes: Markup
    balance: Markup


def statement_rows(
    lines: Sequence[StatementLine], kind_labels: dict[str, str], locale: str
) -> list[StatementRow]:
    """The page's rows, in the reader's locale (`locale` and `kind_labels` as the template
    knows them: `locale`, `entry_kind_labels`)."""
    timezone = i18n.user_timezone()
    show_url = row_url("hours.show", "log_id")
    rows = []
    for line in lines:
        created = line.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        rows.append(
            StatementRow(
                created.astimezone(timezone).strftime("%Y-%m-%d"),
                line.description(kind_labels[line.kind], locale),
                show_url(line.log_id) if line.log_id else None,
                "plus" if line.minutes > 0 else "minus",
                duration_cells(line.minutes, signed=True),
                duration_cells(line.balance_after),
            )
        )
    return rows

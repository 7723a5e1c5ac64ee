"""Durations as people type them: "90", "90分钟", "2小时", "1小时30分", "1.5h", "半小时".

A bare number in a minutes box that looks like hours ("2") is not guessed: the form asks
"您是说 2 小时吗？" with two buttons, and the answer (`meant`) comes back with the form.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

from portal.inputs import FULL_WIDTH

# A bare number up to this many minutes may well be hours: ask which.
ASK_UP_TO = 12

_HOUR_UNITS = r"(?:个)?(?:小时|钟头|钟|hours?|hrs?|h)"
_MINUTE_UNITS = r"(?:分钟|分|minutes?|mins?|m)"
_PATTERN = re.compile(
    rf"^(?:(?P<hours>[0-9]{{1,4}}(?:\.[0-9]{{1,3}})?|\.[0-9]{{1,3}}|半){_HOUR_UNITS}(?P<half>半)?)?"
    rf"(?:(?P<minutes>[0-9]{{1,6}})(?P<unit>{_MINUTE_UNITS})?)?$"
)


_DECIMAL = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,3})?|\.[0-9]{1,3}")


class UnitQuestion(ValidationError):
    """A bare small number in a minutes box: hours or minutes? `number` is what was typed."""

    def __init__(self, number: int) -> None:
        super().__init__(_l("Did you mean %(n)s hours?", n=number))
        self.number = number


def _normalise(raw: str) -> str:
    text = re.sub(r"\s+", "", raw.translate(FULL_WIDTH).replace("．", ".").lower())
    # "1个半小时" is one and a half hours.
    return re.sub(r"([0-9]+)个?半(小时|钟头)", r"\1.5\2", text)


def parse(raw: str | None, *, bare: str = "minutes", meant: str | None = None) -> int | None:
    """Whole minutes from `raw`, or None when it is empty.

    `bare` says what a number without a unit counts as ("minutes" in a minutes box, "hours"
    in an hours box). In a minutes box a bare number up to ASK_UP_TO raises UnitQuestion,
    unless `meant` ("hours" or "minutes") already answers it. Anything else unreadable
    raises ValidationError with a message for the field."""
    text = _normalise(raw or "")
    if not text:
        return None
    if text in ("半小时", "半个小时"):
        return 30
    if bare == "hours" and _DECIMAL.fullmatch(text):
        return int((Decimal(text) * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    match = _PATTERN.fullmatch(text)
    if match is None or not (match["hours"] or match["minutes"]):
        raise ValidationError(_l("Write how long, such as 90 分钟, 2 小时 or 1 小时 30 分."))
    minutes = Decimal(0)
    if match["hours"]:
        hours = Decimal("0.5") if match["hours"] == "半" else Decimal(match["hours"])
        minutes += hours * 60 + (30 if match["half"] else 0)
    if match["minutes"]:
        number = int(match["minutes"])
        if match["hours"] or match["unit"]:
            minutes += number
        elif bare == "hours" or meant == "hours":
            minutes += number * 60
        elif meant == "minutes" or number == 0 or number > ASK_UP_TO:
            minutes += number
        else:
            raise UnitQuestion(number)
    return int(minutes.quantize(Decimal(1), rounding=ROUND_HALF_UP))

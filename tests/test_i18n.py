"""Every string a user sees has a Chinese translation, and the catalogue is up to date."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog():  # type: ignore[no-untyped-def]
    with PO.open("rb") as handle:
        return read_po(handle)


def _source_messages() -> set[str]:
    method_map = [("portal/**.py", "python"), ("templates/**.html", "jinja2")]
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT),
        method_map=method_map,
        keywords={"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)},
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_source_string_is_in_the_chinese_catalogue() -> None:
    catalog = _catalog()
    missing = sorted(m for m in _source_messages() if m not in catalog)
    assert not missing, f"run `make extract-messages` and translate: {missing}"


def test_every_chinese_translation_is_filled_and_keeps_placeholders() -> None:
    problems = []
    for message in _catalog():
        if not message.id:
            continue
        if not message.string:
            problems.append(f"untranslated: {message.id!r}")
        elif set(PLACEHOLDER.findall(str(message.id))) != set(
            PLACEHOLDER.findall(str(message.string))
        ):
            problems.append(f"placeholders differ: {message.id!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
    assert not problems, problems


def test_waiting_times_read_as_babel_words_them(app) -> None:  # type: ignore[no-untyped-def]
    """`timedeltaformat` keeps its words per (locale, unit, amount): the same words as
    Babel's, at each unit's edges too."""
    from datetime import timedelta

    from babel.dates import format_timedelta as babel_format
    from flask_babel import force_locale, get_locale

    from portal.i18n import format_timedelta

    seconds = [0, 1, 29, 30, 50, 51, 59, 60, 89, 90, 149, 150, 3059, 3060, 3600, 5399, 5400]
    seconds += [73_440, 86_400, 129_600, 514_080, 604_800, 2_203_200, 2_592_000, 26_784_000]
    seconds += [31_536_000, 47_304_000, 400_000_000]
    with app.test_request_context():
        for language in ("zh_CN", "en"):
            with force_locale(language):
                for n in seconds:
                    for delta in (timedelta(seconds=n), timedelta(seconds=-n, microseconds=-1)):
                        # Twice: the first fills the memo, the second reads it.
                        for _ in range(2):
                            expected = babel_format(delta, locale=get_locale())
                            assert format_timedelta(delta) == expected, (language, delta)
        assert app.jinja_env.filters["timedeltaformat"] is format_timedelta


def test_a_memo_of_shared_texts_never_outgrows_its_bound() -> None:
    """The per-process memos (translations, durations, row URLs, fragments) may see any
    number of keys over a worker's life; they forget and start again instead of growing."""
    from portal.memo import Memo

    memo: Memo[int, str] = Memo(3)
    for n in range(10):
        assert memo.keep(n, str(n)) == str(n)
        assert len(memo) <= 3 and memo.get(n) == str(n)
    assert memo.get(0) is None

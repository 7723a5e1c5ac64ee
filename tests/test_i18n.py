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

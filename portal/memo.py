"""Per-process memos of what many requests share: translations, durations, row URLs, page
fragments, form attributes. Each is a plain dict to read (a C-level `get` on every hot
path) that forgets everything once it holds `limit` entries, so a stream of new keys can
never grow a worker's memory without bound."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Store and return `value`; start afresh first when full."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value

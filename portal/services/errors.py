from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `message` is shown to the user (a lazy translated string);
    `field` names the form field it belongs next to, if any."""

    def __init__(self, message: object, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Forbidden(DomainError):
    """The actor may not do this (maps to 403)."""


class InsufficientBalance(DomainError):
    pass


class StorageCapReached(DomainError):
    """A credit would take a member past their community's storage cap (存储上限)."""


class AlreadyDecided(DomainError):
    pass


class KeyReused(DomainError):
    """A one-time key came back with different content: a page restored by Back and filled
    in anew. Refused, so that the new content is shown again rather than lost."""

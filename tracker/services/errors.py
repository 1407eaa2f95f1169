"""Domain exceptions raised by services; views turn them into messages or status codes."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the operation; `message` is shown to the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


class PermissionDenied(DomainError):
    """The acting user may not do this."""


class InvalidTransition(DomainError):
    """The object is not in a state that allows the operation."""


class DuplicateValue(DomainError):
    """A value that must be unique is already taken."""


class ValidationFailed(DomainError):
    """Input broke a rule that a form could not check by itself."""

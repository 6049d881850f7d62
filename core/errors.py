"""Why a command was refused before it changed anything (the API turns these into 404/409/422)."""

from __future__ import annotations

from enum import StrEnum


class RejectionKind(StrEnum):
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"


class CommandRejected(Exception):
    """A command that cannot apply to the floor as it is. Raised before any state was touched."""

    def __init__(self, kind: RejectionKind, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field


def not_found(message: str, *, field: str | None = None) -> CommandRejected:
    return CommandRejected(RejectionKind.NOT_FOUND, message, field=field)


def conflict(message: str, *, field: str | None = None) -> CommandRejected:
    return CommandRejected(RejectionKind.CONFLICT, message, field=field)


def invalid(message: str, *, field: str | None = None) -> CommandRejected:
    return CommandRejected(RejectionKind.INVALID, message, field=field)

"""API roles and the permissions each one grants, as one explicit table."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class Permission(enum.StrEnum):
    READ = "read"
    RESOLVE = "resolve"
    OVERRIDE = "override"
    WRITE_MASTER_DATA = "write_master_data"
    WRITE_ORDERS = "write_orders"
    START_COUNTS = "start_counts"
    RECOUNT = "recount"
    REPLAY = "replay"
    ADMIN = "admin"


class Role(enum.StrEnum):
    """The role a bearer token acts in; the values are the names used in the site file."""

    VIEWER = "viewer"
    SUPERVISOR = "supervisor"
    ERP = "erp"
    ADMIN = "admin"

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self]

    def allows(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self]


# The roles are not a ladder: the ERP integration writes master data and orders but must not
# resolve floor exceptions or accept a failed weight check, which only a person on the floor may do.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.VIEWER: frozenset({Permission.READ}),
        Role.SUPERVISOR: frozenset(
            {
                Permission.READ,
                Permission.RESOLVE,
                Permission.OVERRIDE,
                Permission.REPLAY,
                Permission.START_COUNTS,
                Permission.RECOUNT,
            }
        ),
        Role.ERP: frozenset(
            {Permission.READ, Permission.WRITE_MASTER_DATA, Permission.WRITE_ORDERS, Permission.START_COUNTS}
        ),
        Role.ADMIN: frozenset(Permission),
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Caller:
    """Who a request comes from: the role its token acts in and, for a named token, whose it is."""

    role: Role
    name: str | None = None

    @property
    def by(self) -> str:
        """What a write records as its author: the token's name (a person or a system), else its role."""
        return self.name or self.role.value

"""Who may do what: the roles and the hospital scope, one rule for the API, the finance view
and the registries.

admin and finance keys see every hospital; a hospital key acts for, and sees, its own
hospital only. Each route names the roles it admits with `require_roles`; anything that
belongs to a hospital is checked with `may_see_hospital` (through `authorize_hospital` or
`scope_hospital`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api.core.problems import forbidden, invalid_request, item

Role = Literal["admin", "hospital", "finance"]
ROLES: tuple[Role, ...] = ("admin", "finance", "hospital")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's role, its hospital (for hospital keys) and its prefix."""

    role: str
    hospital_id: str | None
    key_prefix: str

    @property
    def actor(self) -> str:
        """How the audit names this caller: `key:<prefix>` (never the key itself)."""
        return f"key:{self.key_prefix}"


def require_roles(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise forbidden(f"The {principal.role} role may not do this (needs {' or '.join(roles)}).")


def may_see_hospital(principal: Principal, hospital_id: str) -> bool:
    """The one scope rule: a hospital key sees its own hospital; admin and finance see all."""
    return principal.role != "hospital" or principal.hospital_id == hospital_id


def authorize_hospital(principal: Principal, hospital_id: str) -> None:
    """A hospital key may act only for its own hospital; admin and finance see all."""
    if not may_see_hospital(principal, hospital_id):
        raise forbidden(f"This key belongs to hospital {principal.hospital_id}, not {hospital_id}.")


def scope_hospital(
    principal: Principal, hospital_id: str | None, *, required: bool = False
) -> str | None:
    """The hospital a finance query covers: a hospital key's own (and no other), or the
    filter given (None: every hospital; refused when `required`)."""
    require_roles(principal, "finance", "admin", "hospital")
    if principal.role == "hospital":
        if hospital_id is not None and not may_see_hospital(principal, hospital_id):
            raise forbidden(f"This key belongs to hospital {principal.hospital_id}.")
        return principal.hospital_id
    if required and hospital_id is None:
        raise invalid_request(
            "hospital_id is required for this key.",
            [item(["query", "hospital_id"], "required", "missing")],
        )
    return hospital_id

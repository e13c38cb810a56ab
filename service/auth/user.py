"""The authenticated user: a leaf type every layer may import."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    full_name: str | None
    is_admin: bool
    created_at: datetime

    def public(self) -> dict:
        return {"id": self.id, "email": self.email, "full_name": self.full_name,
                "is_admin": self.is_admin, "created_at": self.created_at}

    @property
    def scope(self) -> UUID | None:
        """The owner filter for this user's queries: None lets an admin see all."""
        return None if self.is_admin else self.id

    @property
    def scope_name(self) -> str:
        return "admin" if self.is_admin else str(self.id)

"""Every table model, imported so SQLModel.metadata (and Alembic) sees them all."""

from app.models.hours import VolunteerHour
from app.models.idempotency import IdempotencyRecord
from app.models.media import Media, MediaAttachment
from app.models.org import Org, OrgLevel
from app.models.user import Role, RoleGrant, User

__all__ = [
    "IdempotencyRecord",
    "Media",
    "MediaAttachment",
    "Org",
    "OrgLevel",
    "Role",
    "RoleGrant",
    "User",
    "VolunteerHour",
]

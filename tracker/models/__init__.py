"""The domain model; importing this package registers every table on the metadata."""

from tracker.models.audit import AuditEvent, AuditHead
from tracker.models.base import Base
from tracker.models.unit import Unit, UnitKind
from tracker.models.user import Role, User

__all__ = ["AuditEvent", "AuditHead", "Base", "Role", "Unit", "UnitKind", "User"]

"""The domain model; importing this package registers every table on the metadata."""

from tracker.models.api_token import ApiToken
from tracker.models.audit import AuditEvent, AuditHead
from tracker.models.base import Base
from tracker.models.calendar import Holiday, HolidayYear
from tracker.models.case import Case
from tracker.models.catalogue import (
    AppliesTo,
    Cadence,
    Family,
    Requirement,
    RequirementKind,
    RequirementVersion,
    Trigger,
)
from tracker.models.checklist import ChecklistItem, ItemStatus, ItemTally, UnitFamilyTally
from tracker.models.evidence import Blob, Evidence, EvidenceKind
from tracker.models.inspection import (
    AuditSample,
    AuditSampleItem,
    InspectorExclusion,
    ReturnReasonTemplate,
    SampleResult,
)
from tracker.models.notification import (
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
)
from tracker.models.reminders import NotificationPreference, ReminderPolicy
from tracker.models.reporting import CalendarFeed, ReportNarrative
from tracker.models.review import Comment, EvidenceRemark, Review, ReviewDecision, Submission
from tracker.models.scheduling import JobRun, JobRunStatus
from tracker.models.scoring import ScoreWeights
from tracker.models.unit import Unit, UnitKind
from tracker.models.user import Role, SignIn, User

__all__ = [
    "ApiToken",
    "AppliesTo",
    "AuditEvent",
    "AuditHead",
    "AuditSample",
    "AuditSampleItem",
    "Base",
    "Blob",
    "Cadence",
    "CalendarFeed",
    "Case",
    "ChecklistItem",
    "Comment",
    "Evidence",
    "EvidenceKind",
    "EvidenceRemark",
    "Family",
    "Holiday",
    "HolidayYear",
    "InspectorExclusion",
    "ItemStatus",
    "ItemTally",
    "JobRun",
    "JobRunStatus",
    "Notification",
    "NotificationChannel",
    "NotificationKind",
    "NotificationPreference",
    "NotificationStatus",
    "ReminderPolicy",
    "ReportNarrative",
    "Requirement",
    "RequirementKind",
    "RequirementVersion",
    "ReturnReasonTemplate",
    "Review",
    "ReviewDecision",
    "Role",
    "SampleResult",
    "ScoreWeights",
    "SignIn",
    "Submission",
    "Trigger",
    "Unit",
    "UnitFamilyTally",
    "UnitKind",
    "User",
]

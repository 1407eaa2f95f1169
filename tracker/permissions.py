"""Who may do what: the one place for role rules, used by view decorators and templates.

Pure functions of the user (and the object when there is one); no database access here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l

from tracker.models import Role, Unit, User

if TYPE_CHECKING:
    from tracker.models import ChecklistItem


class Permission(StrEnum):
    MANAGE_UNITS = "manage_units"
    MANAGE_USERS = "manage_users"
    MANAGE_CATALOGUE = "manage_catalogue"
    MANAGE_CALENDAR = "manage_calendar"
    VIEW_AUDIT_LOG = "view_audit_log"
    VIEW_ITEMS = "view_items"  # the checklist, scoped to the units the user may see
    WORK_ITEMS = "work_items"  # upload evidence, submit (object rules below narrow it)
    ASSIGN_ITEMS = "assign_items"
    REVIEW_ITEMS = "review_items"
    VIEW_CASES = "view_cases"
    REGISTER_CASES = "register_cases"
    MANAGE_REVIEW_SETTINGS = "manage_review_settings"  # return reasons, inspector exclusions
    MANAGE_REMINDERS = "manage_reminders"  # reminder rules (when and to whom)
    MANAGE_OUTBOX = "manage_outbox"  # reminder messages: delivery state, retry of failures
    VIEW_REPORTS = "view_reports"  # the reports page and ledger export (chiefs: their units)
    VIEW_ANNUAL_REPORT = "view_annual_report"  # the draft annual report (bureau-wide figures)
    EDIT_REPORT_NARRATIVE = "edit_report_narrative"  # the annual report's written paragraphs
    VIEW_SCORES = "view_scores"  # assessment scores per unit (chiefs: their subtree)
    MANAGE_SCORE_WEIGHTS = "manage_score_weights"  # the weights of the assessment score
    VIEW_DASHBOARD = "view_dashboard"  # the dashboard (chiefs: their subtree)


_READ = {Permission.VIEW_ITEMS, Permission.VIEW_CASES}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.LEADER: frozenset(
        {
            *_READ,
            Permission.VIEW_REPORTS,
            Permission.VIEW_ANNUAL_REPORT,
            Permission.VIEW_SCORES,
            Permission.VIEW_DASHBOARD,
        }
    ),
    Role.INSPECTOR: frozenset(
        {
            *_READ,
            Permission.VIEW_AUDIT_LOG,
            Permission.REVIEW_ITEMS,
            Permission.VIEW_REPORTS,
            Permission.VIEW_SCORES,
            Permission.VIEW_DASHBOARD,
        }
    ),
    Role.CHIEF: frozenset(
        {
            *_READ,
            Permission.WORK_ITEMS,
            Permission.ASSIGN_ITEMS,
            Permission.REGISTER_CASES,
            Permission.VIEW_REPORTS,
            Permission.VIEW_SCORES,
            Permission.VIEW_DASHBOARD,
        }
    ),
    Role.STAFF: frozenset({*_READ, Permission.WORK_ITEMS, Permission.REGISTER_CASES}),
}

# Roles that see every unit's items; chiefs see their unit's subtree, staff their own unit.
BUREAU_WIDE_ROLES = frozenset({Role.ADMIN, Role.LEADER, Role.INSPECTOR})

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.LEADER: _l("Bureau leader"),
    Role.INSPECTOR: _l("Inspector"),
    Role.CHIEF: _l("Unit chief"),
    Role.STAFF: _l("Officer in charge"),
}


def has_permission(user: User | None, permission: Permission) -> bool:
    """True when an active, signed-in user's role grants the permission."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    return permission in ROLE_PERMISSIONS.get(Role(user.role), frozenset())


def sees_all_units(user: User) -> bool:
    return Role(user.role) in BUREAU_WIDE_ROLES


def can_see_unit(user: User, unit: Unit) -> bool:
    """Whether the user may see objects (items, cases, evidence) of this unit."""
    if not user.active:
        return False
    if sees_all_units(user):
        return True
    if Role(user.role) == Role.CHIEF:
        return unit.path.startswith(user.unit.path)
    return unit.id == user.unit_id


def can_work_item(user: User, item: ChecklistItem) -> bool:
    """Upload evidence to and submit the item: its unit's chief, or the staff assigned to it."""
    if not has_permission(user, Permission.WORK_ITEMS) or not can_see_unit(user, item.unit):
        return False
    if Role(user.role) == Role.STAFF:
        return item.assignee_id == user.id
    return True


def can_assign_item(user: User, item: ChecklistItem) -> bool:
    return has_permission(user, Permission.ASSIGN_ITEMS) and can_see_unit(user, item.unit)


def can_review_item(user: User, item: ChecklistItem) -> bool:
    """Role check only; separation of duties is enforced by the review service."""
    return has_permission(user, Permission.REVIEW_ITEMS) and can_see_unit(user, item.unit)


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: object  # a lazy translated string
    permission: Permission | None  # None: every signed-in user
    group: str | None = None  # entries of a group share one drop-down menu


# Labels of the drop-down menus that group navigation entries.
NAV_GROUPS = {"admin": _l("Administration")}


NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("main.index", _l("Home"), None),
    NavEntry("items.index", _l("My checklist"), Permission.VIEW_ITEMS),
    NavEntry("dashboard.index", _l("Dashboard"), Permission.VIEW_DASHBOARD),
    NavEntry("cases.index", _l("Cases"), Permission.VIEW_CASES),
    NavEntry("reports.index", _l("Reports"), Permission.VIEW_REPORTS),
    NavEntry("dashboard.scores", _l("Assessment"), Permission.VIEW_SCORES),
    NavEntry("review.queue", _l("Review queue"), Permission.REVIEW_ITEMS),
    NavEntry("auditlog.index", _l("Audit log"), Permission.VIEW_AUDIT_LOG),
    NavEntry("admin.requirements", _l("Catalogue"), Permission.MANAGE_CATALOGUE, "admin"),
    NavEntry("admin.calendar", _l("Calendar"), Permission.MANAGE_CALENDAR, "admin"),
    NavEntry("admin.reasons", _l("Return reasons"), Permission.MANAGE_REVIEW_SETTINGS, "admin"),
    NavEntry("admin.reminders", _l("Reminders"), Permission.MANAGE_REMINDERS, "admin"),
    NavEntry("admin.outbox", _l("Outbox"), Permission.MANAGE_OUTBOX, "admin"),
    NavEntry("admin.units", _l("Units"), Permission.MANAGE_UNITS, "admin"),
    NavEntry("admin.users", _l("Users"), Permission.MANAGE_USERS, "admin"),
)


def navigation_for(user: User | None) -> list[NavEntry]:
    """The navigation entries the user may see, in display order."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return [e for e in NAVIGATION if e.permission is None or has_permission(user, e.permission)]


def navigation_menu(user: User | None) -> list[tuple[str | None, list[NavEntry]]]:
    """The entries as the bar shows them: runs of ungrouped links and one menu per group."""
    menu: list[tuple[str | None, list[NavEntry]]] = []
    for entry in navigation_for(user):
        if menu and menu[-1][0] == entry.group and entry.group is not None:
            menu[-1][1].append(entry)
        else:
            menu.append((entry.group, [entry]))
    return menu

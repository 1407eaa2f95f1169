"""The item page: the item's own facts plus the panels other modules contribute.

Assignment, evidence and workflow each register a panel function (item -> template context);
the page renders them all. Views that refuse a form re-render the page through here too, so the
page is assembled in one place without the panel modules importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import render_template
from flask_login import current_user

from tracker.clock import today
from tracker.models import ChecklistItem
from tracker.models.checklist import STATUS_LABELS
from tracker.permissions import can_see_unit

Panel = Callable[[ChecklistItem], dict[str, Any]]
PANELS: list[Panel] = []


def item_panel(panel: Panel) -> Panel:
    """Register a panel; its context keys must not clash with another panel's."""
    PANELS.append(panel)
    return panel


def render_item_page(item: ChecklistItem) -> str:
    """The page of an item the current user may see (the caller has checked visibility)."""
    context: dict[str, Any] = {}
    for panel in PANELS:
        context.update(panel(item))
    case = item.case
    return render_template(
        "items/detail.html",
        item=item,
        requirement=item.requirement,
        case=case,
        case_visible=case is not None and can_see_unit(current_user, case.unit),
        overdue=item.is_overdue(today()),
        status_label=STATUS_LABELS[item.status],
        **context,
    )

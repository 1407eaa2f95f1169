"""Checklist item pages (the item detail; evidence, comments and reviews come with issue 4)."""

from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user

from tracker.clock import today
from tracker.guards import requires
from tracker.items import bp
from tracker.items.evidence_views import evidence_panel
from tracker.items.list_views import assign_panel
from tracker.items.workflow_views import workflow_panel
from tracker.models import ChecklistItem
from tracker.models.checklist import STATUS_LABELS
from tracker.permissions import Permission, can_see_unit


@bp.get("/<int:item_id>")
@requires(Permission.VIEW_ITEMS, item_id=ChecklistItem)
def detail(item: ChecklistItem):
    # Another unit's item is as absent as a missing one: its existence is not revealed.
    if not can_see_unit(current_user, item.unit):
        abort(404)
    case = item.case
    return render_template(
        "items/detail.html",
        item=item,
        requirement=item.requirement,
        case=case,
        case_visible=case is not None and can_see_unit(current_user, case.unit),
        overdue=item.is_overdue(today()),
        status_label=STATUS_LABELS[item.status],
        **assign_panel(item),
        **evidence_panel(item),
        **workflow_panel(item),
    )

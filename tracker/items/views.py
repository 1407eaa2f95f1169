"""The item page route (its panels come from list_views, evidence_views and workflow_views)."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from tracker.guards import requires
from tracker.items import bp
from tracker.items.page import render_item_page
from tracker.models import ChecklistItem
from tracker.permissions import Permission, can_see_unit


@bp.get("/<int:item_id>")
@requires(Permission.VIEW_ITEMS, item_id=ChecklistItem)
def detail(item: ChecklistItem):
    # Another unit's item is as absent as a missing one: its existence is not revealed.
    if not can_see_unit(current_user, item.unit):
        abort(404)
    return render_item_page(item)

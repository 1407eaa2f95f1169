"""Submitting an item for review, resubmitting after a return, comments, reviews and history."""

from __future__ import annotations

from typing import Any

from tracker.items import bp  # noqa: F401
from tracker.models import ChecklistItem


def workflow_panel(item: ChecklistItem) -> dict[str, Any]:
    """Context for templates/items/_workflow_panel.html on the item page."""
    return {}

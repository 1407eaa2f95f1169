"""'My checklist': the item list with filters and traffic lights; assigning items."""

from __future__ import annotations

from typing import Any

from tracker.items import bp  # noqa: F401
from tracker.models import ChecklistItem


def assign_panel(item: ChecklistItem) -> dict[str, Any]:
    """Context for templates/items/_assign_panel.html on the item page."""
    return {}

"""Evidence on an item: upload files, add links, withdraw, download and preview."""

from __future__ import annotations

from typing import Any

from tracker.items import bp  # noqa: F401
from tracker.models import ChecklistItem


def evidence_panel(item: ChecklistItem) -> dict[str, Any]:
    """Context for templates/items/_evidence_panel.html on the item page."""
    return {}

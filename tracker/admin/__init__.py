from flask import Blueprint

bp = Blueprint("admin", __name__)

from tracker.admin import (  # noqa: E402,F401
    calendar_views,
    catalogue_views,
    exclusion_views,
    outbox_views,
    reason_views,
    reminder_views,
    views,
)

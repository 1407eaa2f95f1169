"""reason_views (issue 5)."""

from tracker.admin import bp  # noqa: F401

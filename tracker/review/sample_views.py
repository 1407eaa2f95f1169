"""sample_views (issue 5)."""

from tracker.review import bp  # noqa: F401

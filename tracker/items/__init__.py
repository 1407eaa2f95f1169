from flask import Blueprint

bp = Blueprint("items", __name__)

# views: the item page; list_views: "My checklist" and assignment; evidence_views: uploads,
# links, downloads; workflow_views: submission, comments, reviews and history.
from tracker.items import evidence_views, list_views, views, workflow_views  # noqa: E402,F401

from flask import Blueprint

bp = Blueprint("review", __name__)

# views: the review queue; sample_views: random-sample re-audits; package_views: evidence
# packages for external audits.
from tracker.review import package_views, sample_views, views  # noqa: E402,F401

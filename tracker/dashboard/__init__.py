from flask import Blueprint

bp = Blueprint("dashboard", __name__)

# views: the dashboard; deadlines: the month grid of deadlines; scores: responsibility scores.
from tracker.dashboard import deadlines, scores, views  # noqa: E402,F401

from flask import Blueprint

bp = Blueprint("admin", __name__)

from tracker.admin import calendar_views, catalogue_views, views  # noqa: E402,F401

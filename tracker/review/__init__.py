from flask import Blueprint

bp = Blueprint("review", __name__)

from tracker.review import views  # noqa: E402,F401

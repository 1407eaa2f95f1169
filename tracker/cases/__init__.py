from flask import Blueprint

bp = Blueprint("cases", __name__)

from tracker.cases import views  # noqa: E402,F401

from flask import Blueprint

bp = Blueprint("main", __name__)

# views: home and health; preferences: a user's reminder settings; tokens: personal API tokens.
from tracker.main import preferences, tokens, views  # noqa: E402,F401

from flask import Blueprint

from tracker.guards import refuse_unreadable_input

bp = Blueprint("main", __name__)
# Every web request, not only this blueprint's: a NUL or an out-of-range id is a 400.
bp.before_app_request(refuse_unreadable_input)

# views: home and health; preferences: a user's reminder settings; tokens: personal API tokens.
from tracker.main import preferences, tokens, views  # noqa: E402,F401

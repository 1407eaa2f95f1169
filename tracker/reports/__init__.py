"""Reports: the ledger export, the draft annual report and personal calendar feeds."""

from flask import Blueprint

bp = Blueprint("reports", __name__)

from tracker.reports import feed, views  # noqa: E402,F401

"""Interface language: the user's choice, else the visitor's choice, else Accept-Language."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

SESSION_KEY = "locale"


def select_locale() -> str:
    """Locale for this request (Flask-Babel's locale selector)."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # commands and jobs: the default, unless told otherwise
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get(SESSION_KEY)
    if chosen in languages:
        return chosen
    # zh is listed first so a browser that accepts both gets Chinese.
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"])
    if best and best.startswith("en"):
        return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_locale() -> str:
    """The active locale as a plain string ("zh_CN" or "en")."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])

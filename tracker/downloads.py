"""Tells the page that an export's download has started (see tracker/static/js/ui.js).

An export link carries a random `download_token`; the file's response sets it in a short-lived
cookie that the page's script can read, so the "preparing…" notice ends when the download
begins rather than after a guess.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request

COOKIE = "tracker_download"
_TOKEN = re.compile(r"[0-9]{1,32}")


def echo_download_token(response: Response) -> Response:
    token = request.args.get("download_token", "")
    disposition = response.headers.get("Content-Disposition", "")
    if _TOKEN.fullmatch(token) and disposition.startswith("attachment"):
        # Readable by the script on purpose: it holds nothing but the page's own random number.
        response.set_cookie(
            COOKIE, token, max_age=120, samesite="Lax", secure=request.is_secure, httponly=False
        )
    return response


def init_app(app: Flask) -> None:
    app.after_request(echo_download_token)

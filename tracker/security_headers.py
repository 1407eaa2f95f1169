"""Security headers on every response, and the reverse proxy in front of the app.

Every response (pages, JSON, files, errors) carries a Content-Security-Policy without inline
script, frame denial, nosniff and a referrer policy; HSTS is added only when the request itself
came over HTTPS (directly, or as reported by a trusted proxy through ProxyFix).
"""

from __future__ import annotations

import time

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

# Only the app's own origin. Scripts come from files (Bootstrap, tracker/static/js, Swagger UI):
# no inline script, no event-handler attributes, no eval.
CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",  # tracker.css, Bootstrap's and Swagger UI's files; no inline styles
    "img-src": "'self' data:",  # Bootstrap's and Swagger UI's CSS draw icons as data: SVGs
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in CSP_DIRECTIVES.items())

# Pages that show an e-mail's HTML part in a sandboxed srcdoc frame: the frame inherits the
# page's policy, and e-mails can only be styled inline. Scripts stay forbidden there too.
INLINE_STYLE_ENDPOINTS = frozenset({"admin.outbox_message"})
CONTENT_SECURITY_POLICY_INLINE_STYLES = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)

STATIC_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    """Trust the configured number of proxies, then add the headers to every response."""
    hops = int(app.config.get("TRACKER_PROXY_HOPS") or 0)
    if hops > 0:
        # Only X-Forwarded-For (the client address, used by the rate limits and the logs) and
        # X-Forwarded-Proto (https, for HSTS and Secure cookies), each from exactly `hops`
        # proxies: the values a client sends itself are ignored. The proxy must pass Host through.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    hsts_seconds = int(app.config.get("TRACKER_HSTS_SECONDS") or 0)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        if request.endpoint in INLINE_STYLE_ENDPOINTS:
            response.headers.setdefault(
                "Content-Security-Policy", CONTENT_SECURITY_POLICY_INLINE_STYLES
            )
        for name, value in STATIC_HEADERS.items():
            # setdefault: a view that sets a stricter policy (evidence previews are sandboxed
            # with default-src 'none') keeps its own.
            response.headers.setdefault(name, value)
        if request.is_secure and hsts_seconds > 0:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts_seconds}")
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(_retry_after_seconds())
        return response


def _retry_after_seconds() -> int:
    """Seconds until the limit that refused this request resets (web pages and API alike)."""
    from tracker.extensions import limiter

    current = getattr(limiter, "current_limit", None)
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))

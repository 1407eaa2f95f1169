"""DingTalk group robot: a markdown message posted to the unit's webhook, signed with its secret.

The robot's signature scheme (DingTalk "加签"): timestamp in milliseconds, the string
``f"{timestamp}\\n{secret}"`` signed with HMAC-SHA256 keyed by the secret, base64, URL-encoded,
appended to the webhook as ``&timestamp=...&sign=...``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote_plus, urlsplit

from tracker.notify import PermanentSendError, SendError

DEFAULT_TIMEOUT_SECONDS = 10


# Characters with a meaning in DingTalk markdown (links, images, emphasis, code, headings,
# quotes, tables, strike-through, inline HTML such as <font>): escaped in data.
MARKDOWN_SPECIAL = "\\`*_[]()#>|!~<"


def markdown_text(value: object) -> str:
    """Data (titles, names, notes) as inert markdown text on one line: it cannot add a link,
    an image, emphasis or HTML, nor start a heading or list of its own."""
    text = " ".join(str(value).split())  # a line break in data would start a new block
    for char in MARKDOWN_SPECIAL:
        text = text.replace(char, "\\" + char)
    return text


def sign(secret: str, timestamp_ms: int) -> str:
    """The robot signature: base64(HMAC-SHA256(secret, "ts\\nsecret")), URL-encoded."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def webhook_problem(url: str, *, allow_http: bool) -> str | None:
    """Why this webhook address is not acceptable, or None (https only unless allowed)."""
    parts = urlsplit(url)
    if not parts.netloc:
        return "not an absolute URL"
    if parts.scheme == "https" or (parts.scheme == "http" and allow_http):
        return None
    return "only https:// webhook addresses are accepted"


def signed_url(webhook: str, secret: str | None, timestamp_ms: int | None = None) -> str:
    """The webhook with the timestamp and signature appended (unchanged without a secret)."""
    if not secret:
        return webhook
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    separator = "&" if urlsplit(webhook).query else "?"
    return f"{webhook}{separator}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def send_markdown(
    *,
    webhook: str | None,
    secret: str | None,
    title: str,
    text: str,
    allow_http: bool = False,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Post one markdown message; raises SendError when the robot does not answer errcode 0."""
    if not webhook:
        raise PermanentSendError("the unit has no DingTalk robot webhook configured")
    problem = webhook_problem(webhook, allow_http=allow_http)
    if problem:
        raise PermanentSendError(f"DingTalk webhook refused: {problem}")
    payload = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        signed_url(webhook, secret),
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(64 * 1024)
    except urllib.error.HTTPError as error:
        raise SendError(f"DingTalk: HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        raise SendError(f"DingTalk: {getattr(error, 'reason', error)}") from error
    try:
        answer = json.loads(body)
    except ValueError as error:
        raise SendError("DingTalk: the robot's answer is not JSON") from error
    errcode = answer.get("errcode") if isinstance(answer, dict) else None
    if errcode != 0:
        message = answer.get("errmsg") if isinstance(answer, dict) else None
        raise SendError(f"DingTalk: errcode {errcode}: {message}")

"""Senders for the outbox channels: SMTP email and DingTalk group robots.

Each sender delivers one message or raises `SendError`; the dispatcher
(`tracker.services.dispatch`) decides about retries. `PermanentSendError` marks a message that no
retry can fix (no address, no webhook configured): it fails at once and waits for an admin.
"""

from __future__ import annotations


class SendError(Exception):
    """Delivery failed; retrying later may succeed (server down, timeout, robot refused)."""


class PermanentSendError(SendError):
    """Delivery cannot succeed until someone changes the configuration or the data."""


def short_error(error: BaseException, limit: int = 500) -> str:
    """One line for `Notification.last_error`: the exception's class and message, bounded."""
    # Our own SendError messages already name the channel; anything else names its class.
    text = str(error) if isinstance(error, SendError) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

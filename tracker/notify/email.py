"""Email through SMTP (Flask-Mailman): a multipart message with a text and an HTML part."""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Mapping
from typing import Any

from flask_mailman import EmailMultiAlternatives

from tracker.extensions import mail
from tracker.notify import PermanentSendError, SendError

DEFAULT_TIMEOUT_SECONDS = 10


def mail_configured(config: Mapping[str, Any]) -> bool:
    """Whether an SMTP server is configured (without one, email stays in the outbox)."""
    return bool((config.get("MAIL_SERVER") or "").strip())


class EmailSender:
    """Sends messages over one SMTP connection, opened on first use and reopened after errors.

    The connection settings are read from the configuration when the sender is created (not
    when the extension was initialised), so a changed configuration takes effect at the next
    dispatch.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.sender = config.get("MAIL_DEFAULT_SENDER") or "tracker@localhost"
        self._connection = mail.get_connection(
            backend="smtp",  # never the test-mode "locmem" default: tests use a real server
            host=config.get("MAIL_SERVER"),
            port=int(config.get("MAIL_PORT") or 25),
            username=config.get("MAIL_USERNAME") or "",
            password=config.get("MAIL_PASSWORD") or "",
            use_tls=bool(config.get("MAIL_USE_TLS")),
            use_ssl=bool(config.get("MAIL_USE_SSL")),
            timeout=config.get("MAIL_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS,
        )

    def send(
        self,
        *,
        to: str | None,
        subject: str,
        text: str,
        html: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message; raises SendError (PermanentSendError without an address)."""
        if not to:
            raise PermanentSendError("no email address for this recipient")
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=self.sender,
            to=[to],
            headers=dict(headers or {}),
            connection=self._connection,
        )
        if html:
            message.attach_alternative(html, "text/html")
        try:
            self._connection.open()
            if message.send() != 1:
                raise SendError("the SMTP server did not accept the message")
        except (smtplib.SMTPException, OSError) as error:
            # A broken connection is dropped so the next message starts with a fresh one.
            self._drop_connection()
            raise SendError(f"SMTP: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        """Say QUIT to the server, ignoring a connection that is already gone."""
        try:
            self._connection.close()
        except (smtplib.SMTPException, OSError):
            self._drop_connection()

    def _drop_connection(self) -> None:
        connection = self._connection.connection
        self._connection.connection = None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

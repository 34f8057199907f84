"""Mail transports: a local Maildir outbox, and SMTP with STARTTLS or implicit TLS.

SMTP replies are sorted at this boundary: 4xx and connection trouble are temporary, 5xx are
permanent, and failures that would hit every message (authentication, TLS) stop the run.
"""

import mailbox
import smtplib
import ssl
from pathlib import Path
from typing import Protocol, Self

from digest.config import SmtpSettings
from digest.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError


class Transport(Protocol):
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def send(self, raw: bytes, sender: str, recipient: str) -> str:
        """Hand over one message; returns where it went (a file path or the server's reply)."""
        ...


class MaildirTransport:
    """Writes each message as a file in a Maildir (`new/`), readable by any mail client."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Self:
        self._box = mailbox.Maildir(self.folder, create=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._box.close()

    def send(self, raw: bytes, sender: str, recipient: str) -> str:
        key = self._box.add(raw)
        return str(self.folder / "new" / key)


class SmtpTransport:
    """One SMTP connection reused for many messages, opened on entry and closed on exit."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Self:
        s = self.settings
        context = ssl.create_default_context()
        try:
            if s.security == "ssl":
                self._smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                self._smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    self._smtp.starttls(context=context)
            if s.username:
                self._smtp.login(s.username, s.password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: login refused: {_reply(exc)}") from None
        except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: TLS failed: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: cannot connect: {exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def send(self, raw: bytes, sender: str, recipient: str) -> str:
        assert self._smtp is not None, "use the transport as a context manager"
        try:
            refused = self._smtp.sendmail(sender, [recipient], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[recipient]
            raise _classify(code, text) from None
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TemporaryDeliveryError(f"connection lost: {exc}") from None
        if refused:
            code, text = refused[recipient]
            raise _classify(code, text)
        return "250 accepted"


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()


def _classify(code: int, text: bytes | str) -> DeliveryError:
    reply = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    if 400 <= code < 500:
        return TemporaryDeliveryError(reply)
    return PermanentDeliveryError(reply)

"""Mail transports: a local Maildir outbox, and SMTP driven phase by phase.

SMTP is driven command by command (MAIL, RCPT, DATA, the final reply) so that each failure is
sorted by what it means for the message: a 4xx, a 421 or a connection lost before the end of
the data is temporary; a 5xx at RCPT or DATA is permanent for that recipient (a 5.1.x at RCPT
is a hard bounce); a reply lost after the end of the data is ambiguous, since the server may
have accepted the message. Authentication and TLS failures, a 5xx at MAIL FROM, or a server
that stays unreachable stop the run.

"Before the end of the data" is known, not guessed: the final dot goes in a write of its own,
after a look at whether the server hung up meanwhile, and a connection reset after it means
the server threw away data it had not read, the dot among it (a server that read it all and
then vanished closes or times out instead).
"""

import mailbox
import select
import smtplib
import socket
import ssl
from pathlib import Path
from typing import Protocol, Self

from digest.config import SmtpSettings
from digest.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    SendingError,
    TemporaryDeliveryError,
)

# Consecutive messages that could not even reach the server before the run gives up.
UNREACHABLE_AFTER = 3
_HARD_BOUNCE_CODES = {550, 551, 553}


class Transport(Protocol):
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def send(self, raw: bytes, sender: str, recipient: str) -> str:
        """Hand over one message; returns where it went (a file path or the server's reply).
        Raises a `MessageDeliveryError` for this message, or `SendingError` to stop."""
        ...


class MaildirTransport:
    """Writes each message as a file in a Maildir (`new/`), readable by any mail client."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Self:
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.folder, create=True)
        except OSError as exc:
            raise SendingError(f"cannot open the outbox {self.folder}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._box.close()

    def send(self, raw: bytes, sender: str, recipient: str) -> str:
        try:
            key = self._box.add(raw)
        except OSError as exc:
            raise SendingError(f"cannot write to the outbox {self.folder}: {exc}") from None
        return str(self.folder / "new" / key)


END_OF_DATA = b".\r\n"


def _dot_stuffed(raw: bytes) -> bytes:
    """The DATA payload but its final dot: lines starting with a dot get another (RFC 5321
    4.5.2), and the last line is ended."""
    body = raw.replace(b"\n.", b"\n..")  # a plain replace: a regex costs 0.1 ms a message
    if body.startswith(b"."):
        body = b"." + body
    return body + (b"" if body.endswith(b"\r\n") else b"\r\n")


def _spoke_early(smtp: smtplib.SMTP) -> str | None:
    """Why the data cannot end well, if the server hung up or answered before its end: it
    cannot have accepted a message whose final dot it never got. Whatever is read here is
    lost, which does not matter: any answer now ends the connection."""
    sock = smtp.sock
    assert sock is not None
    if not select.select([sock], [], [], 0)[0]:
        return None
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        early = sock.recv(512)
    except (BlockingIOError, ssl.SSLWantReadError):
        return None  # a TLS record with no data in it, such as a session ticket
    except OSError as exc:
        return f"connection lost before the end of the data: {exc}"
    finally:
        sock.settimeout(timeout)
    if not early:
        return "connection closed before the end of the data"
    return f"the server answered before the end of the data: {_text(early).strip()[:200]}"


def _socket_error(exc: BaseException) -> BaseException:
    """The socket's own error ("Connection reset by peer"): smtplib raises a bare
    `SMTPServerDisconnected` ("Server not connected") instead, with it as its context."""
    cause = exc.__context__
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(cause, OSError):
        return cause
    return exc


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _refusal(phase: str, code: int, reply: bytes | str) -> Exception:
    reason = f"{code} {_text(reply)} (at {phase})"
    if 400 <= code < 500:
        return TemporaryDeliveryError(reason, code, phase)
    if phase == "MAIL FROM":
        return SendingError(f"the server refused the sender: {reason}")
    hard = phase == "RCPT TO" and (code in _HARD_BOUNCE_CODES or _text(reply).startswith("5.1."))
    return PermanentDeliveryError(reason, code, phase, hard_bounce=hard)


class SmtpTransport:
    """One SMTP connection, opened on first use and reused for up to `max_per_connection`
    messages; any connection trouble closes it, and the next message opens a new one."""

    def __init__(self, settings: SmtpSettings, max_per_connection: int = 100) -> None:
        self.settings = settings
        self.max_per_connection = max_per_connection
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._unreachable = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close(polite=True)

    def _close(self, polite: bool = False) -> None:
        if self._smtp is not None:
            try:
                if polite:
                    self._smtp.quit()
                else:
                    self._smtp.close()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"SMTP {s.host}:{s.port}"
        context = ssl.create_default_context()
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            # The final dot goes in a write of its own: without this, Nagle's algorithm would
            # hold it back until the server acknowledged the rest, a delayed ACK away.
            assert smtp.sock is not None
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            reply = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            raise SendingError(f"{where}: login refused: {reply}") from None
        except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
            raise SendingError(f"{where}: TLS failed: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            self._unreachable += 1
            raise self._unreachable_or(exc.smtp_code, _text(exc.smtp_error)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._unreachable += 1
            raise self._unreachable_or(None, str(exc) or type(exc).__name__) from None
        self._unreachable, self._sent_on_connection = 0, 0
        return smtp

    def _unreachable_or(self, code: int | None, reason: str) -> Exception:
        s = self.settings
        text = f"SMTP {s.host}:{s.port}: cannot connect: {f'{code} ' if code else ''}{reason}"
        if self._unreachable >= UNREACHABLE_AFTER:
            return SendingError(f"{text} ({self._unreachable} times in a row)")
        return TemporaryDeliveryError(text, code, "connect")

    def send(self, raw: bytes, sender: str, recipient: str) -> str:
        if self._smtp is None or self._sent_on_connection >= self.max_per_connection:
            self._close(polite=True)
            self._smtp = self._connect()
        smtp = self._smtp
        try:
            reply = self._transaction(smtp, raw, sender, recipient)
        except (TemporaryDeliveryError, AmbiguousDeliveryError, SendingError):
            self._close()  # the session's state is unknown: start the next message afresh
            raise
        except PermanentDeliveryError:
            self._reset(smtp)
            raise
        self._sent_on_connection += 1
        return reply

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._close()

    def _envelope(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, options: str
    ) -> list[tuple[int, bytes]]:
        """MAIL FROM, RCPT TO and DATA with their replies; sent in one packet when the server
        offers PIPELINING (RFC 2920), which saves two round trips a message."""
        commands = [
            f"MAIL FROM:{smtplib.quoteaddr(sender)}{options}",
            f"RCPT TO:{smtplib.quoteaddr(recipient)}",
            "DATA",
        ]
        if smtp.has_extn("pipelining"):
            smtp.send("".join(f"{c}\r\n" for c in commands).encode())
            return [smtp.getreply() for _ in commands]
        replies: list[tuple[int, bytes]] = []
        for command in commands:
            replies.append(smtp.docmd(command))
            if replies[-1][0] >= 400:  # without pipelining, stop at the first refusal
                replies += [(503, b"not sent")] * (len(commands) - len(replies))
                break
        return replies

    def _transaction(self, smtp: smtplib.SMTP, raw: bytes, sender: str, recipient: str) -> str:
        international = not (sender.isascii() and recipient.isascii())
        if international and not smtp.has_extn("smtputf8"):
            raise PermanentDeliveryError(
                "the server does not accept internationalised addresses (no SMTPUTF8)",
                phase="MAIL FROM",
            )
        options = " SMTPUTF8 BODY=8BITMIME" if international else ""
        try:
            replies = self._envelope(smtp, sender, recipient, options)
            for phase, (code, reply), accepted in zip(
                ("MAIL FROM", "RCPT TO", "DATA"), replies, ((250,), (250, 251), (354,)), strict=True
            ):
                if code not in accepted:
                    if phase != "DATA" and replies[2][0] == 354:
                        smtp.send(b".\r\n")  # a lax server opened DATA anyway: close it empty
                    raise _refusal(phase, code, reply)
            smtp.send(_dot_stuffed(raw))
            early = _spoke_early(smtp)
            if early is not None:
                raise TemporaryDeliveryError(early, phase="DATA")
            smtp.send(END_OF_DATA)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            reason = f"connection lost before the end of the data: {_socket_error(exc)}"
            raise TemporaryDeliveryError(reason, phase="DATA") from None
        try:
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            if isinstance(_socket_error(exc), ConnectionResetError):
                reason = "connection reset before the server read the end of the data"
                raise TemporaryDeliveryError(reason, phase="DATA") from None
            raise AmbiguousDeliveryError(
                f"no reply after the end of the data ({exc or 'connection closed'}): the server "
                "may have accepted the message"
            ) from None
        if code != 250:
            raise _refusal("end of DATA", code, reply)
        return f"{code} {_text(reply)}"

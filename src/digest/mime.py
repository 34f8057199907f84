"""Building the MIME message for one recipient: multipart/alternative, text first, then HTML."""

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from digest.errors import RenderError

# Headers may run to 998 characters (RFC 5322) so a List-Unsubscribe URL is never folded,
# which some receivers mishandle; bodies keep quoted-printable's 76-character lines.
HEADER_POLICY = SMTP.clone(max_line_length=998)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a message is from and to, and how it identifies itself."""

    sender: Address
    recipient: Address
    message_id: str
    list_id: str
    unsubscribe_url: str
    reply_to: Address | None = None


def build_message(
    envelope: Envelope, subject: str, text: str, html: str, date: datetime
) -> EmailMessage:
    """A standards-conforming message with one-click unsubscribe headers (RFC 2369, RFC 8058)."""
    message = EmailMessage(policy=SMTP)
    try:
        message["From"] = envelope.sender
        message["To"] = envelope.recipient
        if envelope.reply_to is not None:
            message["Reply-To"] = envelope.reply_to
        # The header registry refuses CR/LF in values, so hostile text cannot add headers.
        message["Subject"] = subject
    except ValueError as exc:
        raise RenderError(f"header would be malformed: {exc}") from None
    message["Date"] = format_datetime(date)
    message["Message-ID"] = envelope.message_id
    message["List-Id"] = envelope.list_id
    message["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    message.policy = HEADER_POLICY  # the parts above were encoded under SMTP's 78/76 limits
    return message

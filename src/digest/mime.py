"""The message for one recipient: multipart/alternative (text, then HTML), optionally DKIM-signed.

Header values that come from content (the subject's headline, a subscriber's name) pass
through `header_text` first, so no CR, LF or control character can reach a header, whether
raw or hidden in an RFC 2047 encoded word (which Python's email package would decode and then
write out unfolded: CVE-2024-6923).
"""

from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Literal
from urllib.parse import quote

import dkim

from digest.core.text import one_line
from digest.errors import RenderError

# Headers may run to 998 characters (RFC 5322) so a List-Unsubscribe URL is never folded,
# which some receivers mishandle; bodies keep quoted-printable's 76-character lines.
HEADER_POLICY = SMTP.clone(max_line_length=998)
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a message is from and to, and how it identifies itself."""

    sender: Address
    recipient: Address
    message_id: str
    list_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    reply_to: Address | None = None


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM signing key; `private_key` is PEM for RSA, the base64 seed for Ed25519."""

    domain: str
    selector: str
    private_key: bytes
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"


def header_text(value: str) -> str:
    """`value` fit for a header: encoded words decoded (repeatedly, as a parser would), then
    kept to one line without control characters, and no encoded-word opener left."""
    for _ in range(3):
        try:
            decoded = str(make_header(decode_header(value)))
        except (HeaderParseError, LookupError, UnicodeDecodeError):
            break
        if decoded == value:
            break
        value = decoded
    return one_line(value).replace("=?", "= ?")


def address(name: str, email: str) -> Address:
    try:
        return Address(display_name=header_text(name), addr_spec=email)
    except (ValueError, IndexError) as exc:
        raise RenderError(f"address {email!r} is malformed: {exc}") from None


def _list_unsubscribe(envelope: Envelope) -> str:
    links = [f"<{envelope.unsubscribe_url}>"]
    if envelope.unsubscribe_mailto:
        token = envelope.unsubscribe_url.rstrip("/").rpartition("/")[2]
        subject = quote(f"unsubscribe {token}")
        links.append(f"<mailto:{envelope.unsubscribe_mailto}?subject={subject}>")
    return ", ".join(links)


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
        message["Subject"] = header_text(subject)
    except ValueError as exc:
        raise RenderError(f"header would be malformed: {exc}") from None
    message["Date"] = format_datetime(date)
    message["Message-ID"] = envelope.message_id
    message["List-Id"] = envelope.list_id
    message["List-Unsubscribe"] = _list_unsubscribe(envelope)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    message.policy = HEADER_POLICY  # the parts above were encoded under SMTP's 78/76 limits
    return message


def to_bytes(message: EmailMessage, key: DkimKey | None = None) -> bytes:
    """The message as sent on the wire (CRLF), with a DKIM-Signature header when `key` is set."""
    raw = message.as_bytes()
    if key is None:
        return raw
    present = [h for h in SIGNED_HEADERS if h in message]
    try:
        signature = dkim.sign(
            raw,
            key.selector.encode(),
            key.domain.encode(),
            key.private_key,
            signature_algorithm=key.algorithm.encode(),
            include_headers=[h.encode() for h in present],
        )
    except dkim.DKIMException as exc:
        raise RenderError(f"DKIM signing failed: {exc}") from None
    return signature + raw

"""Signed links for subscribers: unguessable, bound to one subscriber and one purpose.

The MAC key joins the site's secret (from the environment) with the subscriber's own secret
(in the database): a copy of the database alone cannot forge links, and rotating the site
secret retires every link sent so far.
"""

import hashlib
import hmac
import re

# `<id>.<mac>` in ASCII: int() and str.isdigit() also take "١", "１" or "¹", and a token that
# is not exactly of the form issued must fail like any other. Eighteen digits fit a 64-bit id.
_TOKEN = re.compile(r"([0-9]{1,18})\.[0-9a-f]{32}")


def _key(site_secret: str, secret: str) -> bytes:
    return f"{site_secret}\0{secret}".encode() if site_secret else secret.encode()


def link_token(secret: str, purpose: str, subscriber_id: int, *, site_secret: str) -> str:
    """`<id>.<mac>`: the id finds the subscriber, the MAC proves the link."""
    mac = hmac.new(_key(site_secret, secret), f"{purpose}:{subscriber_id}".encode(), hashlib.sha256)
    return f"{subscriber_id}.{mac.hexdigest()[:32]}"


def token_subscriber(token: str) -> int | None:
    """The subscriber id a token names, or None if it is not of the form `link_token` makes."""
    found = _TOKEN.fullmatch(token)
    return int(found[1]) if found else None


def verify_token(secret: str, purpose: str, token: str, *, site_secret: str) -> bool:
    subscriber_id = token_subscriber(token)
    if subscriber_id is None:
        return False
    expected = link_token(secret, purpose, subscriber_id, site_secret=site_secret)
    return hmac.compare_digest(expected, token)

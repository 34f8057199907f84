"""Signed links for subscribers: unguessable, bound to one subscriber and one purpose."""

import hashlib
import hmac


def link_token(secret: str, purpose: str, subscriber_id: int) -> str:
    """`<id>.<mac>`: the id finds the subscriber, the MAC under their own secret proves the link."""
    mac = hmac.new(secret.encode(), f"{purpose}:{subscriber_id}".encode(), hashlib.sha256)
    return f"{subscriber_id}.{mac.hexdigest()[:32]}"


def verify_token(secret: str, purpose: str, token: str) -> bool:
    subscriber_id, _, _ = token.partition(".")
    if not subscriber_id.isdigit():
        return False
    return hmac.compare_digest(link_token(secret, purpose, int(subscriber_id)), token)

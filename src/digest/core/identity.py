"""Identity of an article: the key that makes re-ingesting the same story a no-op."""

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PARAMS = {
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "yclid",
    "_hsenc",
    "_hsmi",
    "ref_src",
    "cmpid",
    "cmp",
    "ncid",
    "smid",
    "sr_share",
    "taid",
    "ito",
    "at_medium",
    "at_campaign",
    "at_custom1",
    "at_custom2",
    "at_custom3",
    "at_custom4",
    "wt_mc",
    "wt_zmc",
    "src",
    "feature",
    "rss",
    "partner",
}
_TRACKING_PREFIXES = ("utm_", "wt.", "pk_", "mtm_", "at_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL without credentials, else None."""
    url = (url or "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    if any(c in url for c in "\r\n\t <>\"'"):
        return None
    return url


def canonical_url(url: str) -> str:
    """`url` without tracking parameters or fragment, with a lower-case scheme and host."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


def content_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()


def dedup_key(url: str | None, guid: str | None, title: str, text: str) -> str:
    """Canonical URL, else the feed's guid, else a hash of the content; hashed to a fixed size."""
    if url:
        identity = "url:" + canonical_url(url)
    elif guid:
        identity = "guid:" + guid.strip()
    else:
        identity = "content:" + content_hash(title, text)
    return hashlib.sha256(identity.encode()).hexdigest()

"""Reading inputs with hard limits: a size cap for files and URLs, a timeout and a redirect cap."""

from dataclasses import dataclass
from pathlib import Path

import httpx

from digest.core.articles import MAX_ETAG, MAX_HTTP_DATE
from digest.errors import IngestError


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str
    location: str
    # HTTP validators for the next conditional GET, and whether this answer was "304".
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def _kept(validator: str | None, limit: int) -> str | None:
    return validator if validator and len(validator) <= limit else None


def read_file(path: Path, max_bytes: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{path}: {size:,} bytes, over the cap of {max_bytes:,}")
        return Fetched(path.read_bytes(), "", str(path))
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror}") from None


def fetch_url(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    max_redirects: int,
    user_agent: str,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """GET `url`, refusing bodies over `max_bytes` while they stream in. With the validators
    of the last fetch it asks conditionally, and an unchanged feed costs one 304."""
    headers = {
        "User-Agent": user_agent,
        "Accept": "application/rss+xml, application/atom+xml, "
        "application/xml;q=0.9, application/json;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, max_redirects=max_redirects, headers=headers
            ) as client,
            client.stream("GET", url) as response,
        ):
            # A validator too long to keep is dropped: the next fetch is then a full one.
            validators = (
                _kept(response.headers.get("etag"), MAX_ETAG),
                _kept(response.headers.get("last-modified"), MAX_HTTP_DATE),
            )
            if response.status_code == 304:
                return Fetched(
                    b"",
                    "",
                    str(response.url),
                    etag or validators[0],
                    last_modified or validators[1],
                    not_modified=True,
                )
            if response.status_code >= 400:
                raise IngestError(f"{url}: server answered HTTP {response.status_code}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise IngestError(f"{url}: {declared:,} bytes, over the cap of {max_bytes:,}")
            chunks, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise IngestError(f"{url}: more than the cap of {max_bytes:,} bytes")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return Fetched(b"".join(chunks), content_type, str(response.url), *validators)
    except httpx.TooManyRedirects:
        raise IngestError(f"{url}: more than {max_redirects} redirects") from None
    except httpx.TimeoutException:
        raise IngestError(f"{url}: no answer within {timeout:g} seconds") from None
    except httpx.HTTPError as exc:
        raise IngestError(f"{url}: {exc}") from None

"""Reading inputs with hard limits: a size cap for files and URLs, a timeout and a redirect cap."""

from dataclasses import dataclass
from pathlib import Path

import httpx

from digest.errors import IngestError


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str
    location: str


def read_file(path: Path, max_bytes: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{path}: {size:,} bytes, over the cap of {max_bytes:,}")
        return Fetched(path.read_bytes(), "", str(path))
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror}") from None


def fetch_url(
    url: str, *, timeout: float, max_bytes: int, max_redirects: int, user_agent: str
) -> Fetched:
    """GET `url`, refusing bodies over `max_bytes` while they stream in."""
    headers = {
        "User-Agent": user_agent,
        "Accept": "application/rss+xml, application/atom+xml, "
        "application/xml;q=0.9, application/json;q=0.9, */*;q=0.5",
    }
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, max_redirects=max_redirects, headers=headers
            ) as client,
            client.stream("GET", url) as response,
        ):
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
            return Fetched(b"".join(chunks), content_type, str(response.url))
    except httpx.TooManyRedirects:
        raise IngestError(f"{url}: more than {max_redirects} redirects") from None
    except httpx.TimeoutException:
        raise IngestError(f"{url}: no answer within {timeout:g} seconds") from None
    except httpx.HTTPError as exc:
        raise IngestError(f"{url}: {exc}") from None

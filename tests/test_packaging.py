"""The built wheel carries templates, migrations, the example config and the bundled model, and
works anywhere."""

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("digest-*.whl")
    return built


def test_wheel_carries_the_resources(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "digest/templates/digest.mjml.j2" in names
    assert "digest/templates/digest.txt.j2" in names
    assert "digest/alembic/env.py" in names
    assert any(n.startswith("digest/alembic/versions/0001") for n in names)
    assert "digest/config.example.toml" in names
    assert "digest/web/templates/studio/edition.html" in names
    assert "digest/web/static/digest.css" in names
    for name in ("model.safetensors", "tokenizer.json", "config.json", "README.md"):
        assert f"digest/model/{name}" in names


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """A fresh venv gets only the wheel; its dependencies come from this environment's
    site-packages through a path entry (no network), which does not expose the checkout."""
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str) -> str:
        result = subprocess.run(
            [env_dir / "bin" / "digest", *args],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    location = run_python(python, elsewhere, "import digest; print(digest.__file__)")
    assert location.startswith(site), location
    assert "Commands:" in run("--help")
    assert "upgraded from empty" in run("db", "upgrade")
    assert (elsewhere / "var" / "digest.db").is_file()
    current, needed = run("db", "current").split("\n")[:2]
    assert current.split()[-1] == needed.split()[-1] != "empty"


def run_python(python: Path, cwd: Path, code: str) -> str:
    return subprocess.run(
        [python, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()

"""Where the files that ship beside the code live: templates, migrations, the example config.

An installed wheel carries them inside the package; a source checkout keeps them at the
repository root.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parents[1]


def resource_path(name: str) -> Path:
    """The path of a shipped resource such as `templates` or `config.example.toml`."""
    packaged = _PACKAGE / name
    return packaged if packaged.exists() else _CHECKOUT / name

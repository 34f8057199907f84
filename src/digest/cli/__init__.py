"""The `digest` command line: thin commands that parse input, call a service, print a result."""

from digest.cli import delivery, editions, run, store, web  # noqa: F401 - importing registers commands
from digest.cli.base import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="digest")

"""The `otobot` command line: argument parsing, the one-shot commands, `creds` and `check`."""

from otobot.cli.main import main

__all__ = ["main"]

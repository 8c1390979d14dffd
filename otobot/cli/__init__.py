"""The `otobot` command line: argument parsing, the one-shot commands and their tables, creds, check, plan, demo."""

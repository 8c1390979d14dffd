"""`python -m otobot` runs the command line."""

from otobot.cli import main

raise SystemExit(main())

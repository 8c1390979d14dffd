"""`python -m otobot` runs the command line."""

from otobot.cli.main import main

raise SystemExit(main())

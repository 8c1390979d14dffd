"""The README's promises that code can check: the two set-up commands, CI running the same test command, the diagram."""

from __future__ import annotations

from pathlib import Path

from otobot.trading.cycle import mermaid

ROOT = Path(__file__).resolve().parents[1]


def test_readme_diagram_is_the_machine_in_cycle_py() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "```mermaid\n" + mermaid() + "\n```" in readme


def test_readme_opens_with_demo_and_test_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    first_blocks = readme.split("```sh\n")[1:3]
    assert "otobot demo" in first_blocks[0]
    assert "pytest -q" in first_blocks[1]
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()

"""Typed access to one YAML mapping: each getter checks type and range, and problems name the key path and fix."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from otobot.config.yamlsafe import YamlProblem, read_yaml


class ConfigError(ValueError):
    """One or more problems in one file, each naming the key path, the value and the fix."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class Reader:
    """Walks one mapping, records problems with their key path, and refuses keys it was not asked for."""

    def __init__(self, data: Mapping[str, Any], prefix: str, problems: list[str]) -> None:
        self.data = data
        self.prefix = prefix
        self.problems = problems
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def _raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def problem(self, key: str, value: Any, fix: str) -> None:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."  # a pasted blob must not flood the message
        self.problems.append(f"key '{self._key(key)}' = {shown}: {fix}")

    def string(self, key: str, default: str | None, choices: tuple[str, ...] = ()) -> str | None:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.problem(key, value, "expected text")
            return default
        value = str(value)
        if choices and value not in choices:
            self.problem(key, value, f"expected one of {', '.join(choices)}")
            return default
        return value

    def required_string(self, key: str) -> str:
        value = self.string(key, None)
        if value is None:
            if key not in self.data:
                self.problems.append(f"key '{self._key(key)}' is missing: it is required")
            return ""
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, value, "expected true or false")
            return default
        return value

    def number(self, key: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.problem(key, value, "expected a number (seconds/rate)")
            return default
        return float(self._range(key, float(value), default, lo, hi))

    def integer(self, key: str, default: int | None, lo: int | None = None, hi: int | None = None) -> int | None:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, value, "expected a whole number")
            return default
        return int(self._range(key, value, default or 0, lo, hi))

    def decimal(self, key: str, default: Decimal, lo: Decimal | None = None, hi: Decimal | None = None,
                *, lo_open: bool = False) -> Decimal:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            self.problem(key, value, "expected a number")
            return default
        try:
            # YAML gives float for 0.1; str(float) is the shortest repr, i.e. the digits the user typed.
            d = Decimal(str(value))
        except InvalidOperation:
            self.problem(key, value, "expected a number, e.g. 25 or 0.5")
            return default
        if not d.is_finite():
            self.problem(key, value, "expected a finite number")
            return default
        if lo is not None and (d < lo or (lo_open and d == lo)):
            self.problem(key, value, f"must be {'>' if lo_open else '≥'} {lo}")
            return default
        if hi is not None and d > hi:
            self.problem(key, value, f"must be ≤ {hi}")
            return default
        return d

    def _range(self, key: str, value: Any, default: Any, lo: Any, hi: Any) -> Any:
        if lo is not None and value < lo:
            self.problem(key, value, f"must be ≥ {lo}")
            return default
        if hi is not None and value > hi:
            self.problem(key, value, f"must be ≤ {hi}")
            return default
        return value

    def section(self, key: str) -> Reader:
        value = self._raw(key)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.problem(key, value, "expected a section (indented keys below it)")
            value = {}
        return Reader(value, f"{self._key(key)}.", self.problems)

    def present(self, key: str) -> bool:
        return self.data.get(key) is not None

    def finish(self) -> None:
        known = sorted(self.seen)
        for key in self.data:
            if key not in self.seen:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean '{self.prefix}{close[0]}'?" if close else f"known keys: {', '.join(known)}"
                self.problems.append(f"unknown key '{self.prefix}{key}': {hint}")


def read_mapping(path: Path) -> Mapping[Any, Any]:
    """The file's top-level mapping ({} when empty), or ConfigError naming the file and what to do."""
    try:
        data = read_yaml(path)
    except IsADirectoryError:
        raise ConfigError(path, ["is a folder, not a YAML file"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    except YamlProblem as exc:
        raise ConfigError(path, [str(exc)]) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(path, ["the file must be a mapping of keys (key: value), not a list or text"])
    return data


@contextmanager
def reading(path: Path, problems: list[str]) -> Iterator[Reader]:
    reader = Reader(read_mapping(path), "", problems)
    yield reader
    reader.finish()
    if problems:
        raise ConfigError(path, problems)

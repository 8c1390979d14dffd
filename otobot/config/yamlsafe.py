"""Untrusted YAML → plain values: capped size, aliases and nesting, duplicate keys refused, encoding errors named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# A real config file is a few KiB. The caps keep a hostile or mistaken file (a YAML "billion laughs", a log file
# pointed at by mistake) from keeping `otobot check` or a SIGHUP reload busy: all of them are checked in well
# under a second with the pure-Python parser.
MAX_BYTES = 256 * 1024
MAX_ALIASES = 100  # `*name` references; otobot's own examples use none
MAX_DEPTH = 32  # nested sections/lists; otobot's deepest key is 3 levels
MAX_VALUES = 5_000  # values, counted once as written and again with every alias expanded (billion laughs)

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlProblem(ValueError):
    """The text is not a config otobot reads; the message says where and what to do (the caller adds the file)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and depth while composing and refuses a key written twice in one mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.values = 0
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        where = _line(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlProblem(f"{where}more than {MAX_ALIASES} aliases (*name); write the values out")
        else:
            self.values += 1
            if self.values > MAX_VALUES:  # stop parsing early: the pure-Python parser is slow on huge files
                raise YamlProblem(f"{where}more than {MAX_VALUES} values, far more than any otobot config; "
                                  "is this the right file?")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise YamlProblem(f"{where}nested more than {MAX_DEPTH} levels deep; an otobot config has at "
                                  "most 3")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys: a typo'd copy of a section would silently replace the first.
        # Keys brought in by a `<<:` merge may be overridden; that is what merges are for.
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=False)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first is not None:
                raise YamlProblem(f"{_line(key_node.start_mark)}key {key!r} is written twice (first on line "
                                  f"{first}); YAML would silently keep only the last one: delete one of them")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """The file's YAML document; OSError if it cannot be read, YamlProblem if it is not a readable config."""
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlProblem(f"the file is larger than {MAX_BYTES // 1024} KiB, far more than any otobot config; "
                          "is this the right file?")
    return load_yaml(data)


def load_yaml(data: bytes) -> Any:
    """Decode UTF-8 and parse one document within the caps above."""
    text = _decode(data)
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlProblem(f"{_line(mark)}not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise YamlProblem(f"nested too deeply (more than {MAX_DEPTH} levels through aliases)") from None
    finally:
        loader.dispose()


def _line(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem(f"line {line}, column {column}: byte 0x{data[exc.start]:02x} is not UTF-8 text; save the "
                          "file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None


def _expanded_size(root: Node) -> int:
    """How many values the document holds once every alias is expanded; refuses cycles and blow-ups."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise YamlProblem(f"line {node.start_mark.line + 1}: an alias refers to a section that contains it "
                              "(a recursive alias); write the values out")
        active.add(key)
        total = 1
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            total += size(child)
            if total > MAX_VALUES:
                raise YamlProblem(f"line {node.start_mark.line + 1}: the aliases (*name) expand to more than "
                                  f"{MAX_VALUES} values; write the values out instead of nesting aliases")
        active.discard(key)
        memo[key] = total
        return total

    return size(root)

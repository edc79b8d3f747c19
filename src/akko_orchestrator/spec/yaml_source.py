"""Load YAML fast (libyaml's parser) and find the line and column of any field path on demand.

Parse time matters (every pipeline is re-parsed by Airflow's dag-processor), so the happy path is one `yaml.load`;
the node tree with positions is composed again only when an error has to be located. Whatever the file holds, the
load stays within spec/yaml_safety.py's budgets (size, encoding, depth, aliases expanded, tags).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.spec.yaml_safety import (
    BudgetedComposer,
    YamlFileError,
    YamlRefused,
    load_yaml,
    read_text,
)

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key appears twice in one mapping (PyYAML would silently keep the last value)."""


class SpecLoader(BudgetedComposer, _BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader with YAML 1.2 booleans: `on`, `off`, `yes`, `no` stay strings (`schedule: {on: [...]}`), and
    duplicate keys refused (a second `sql:` in a step would otherwise silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
            if len(set(keys)) != len(keys):  # fast path: one set per mapping; locate only on error
                _raise_duplicate(node)
        return super().construct_mapping(node, deep=deep)


def _raise_duplicate(node: yaml.MappingNode) -> None:
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        first = seen.setdefault((key_node.tag, key_node.value), key_node)
        if first is not key_node:
            reason = (
                f"duplicate key '{key_node.value}' (first at line {first.start_mark.line + 1}): keep only one"
            )
            raise DuplicateKeyError(None, None, reason, key_node.start_mark)


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in SpecLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

Loc = tuple[str | int, ...]


@dataclass
class SpecSource:
    """A spec file's text and parsed data; `locate` maps a field path to (line, column), 1-based."""

    path: Path
    text: str
    data: Any = field(default=None)
    display: str = ""

    @classmethod
    def read(cls, path: Path, display_path: str | None = None) -> SpecSource:
        """The file's text and data; `SpecError` located in the file if it cannot be read as a spec's YAML."""
        display = display_path or str(path)
        try:
            text = read_text(path)
        except YamlFileError as exc:
            raise SpecError([SpecIssue(display, exc.line, exc.column, "", exc.reason, exc.hint)]) from None
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            raise SpecError([SpecIssue(display, None, None, "", reason)]) from None
        source = cls(path=path, text=text, display=display)
        try:
            source.data = load_yaml(text, SpecLoader)
        except yaml.YAMLError as exc:
            raise SpecError([yaml_issue(display, exc, text)]) from None
        return source

    def scalar_position(self, loc: Loc, offset: int) -> tuple[int | None, int | None]:
        """(line, column) in the file of character `offset` of the scalar string at `loc`, through every YAML
        style (plain, quoted, literal `|`, folded `>`, multi-line), or (None, None) if `loc` is not a scalar."""
        node, found = self.node_at(loc)
        if not found or not isinstance(node, yaml.ScalarNode) or not isinstance(node.value, str):
            return None, None
        start, end = node.start_mark.index, node.end_mark.index
        if node.style in ("|", ">"):
            start = self.text.find("\n", start, end) + 1 or end  # content starts after the header line
        elif node.style in ("'", '"'):
            start += 1
        index = _align(node.value, self.text, start, end, offset)
        return _line_column(self.text, index)

    @cached_property
    def _root(self) -> yaml.Node | None:
        return yaml.compose(self.text, Loader=SpecLoader)

    def node_at(self, loc: Loc) -> tuple[yaml.Node | None, bool]:
        """The deepest node along `loc`, and whether the whole path was found."""
        node = self._root
        for part in loc:
            child = _child(node, part)
            if child is None:
                return node, False
            node = child
        return node, True

    def locate(self, loc: Loc, key: bool = False) -> tuple[int | None, int | None]:
        """Position of the value at `loc` (or of its key when `key`), else of the nearest existing parent."""
        if key and loc:
            parent, found = self.node_at(loc[:-1])
            key_node = _key_node(parent, loc[-1]) if found else None
            if key_node is not None:
                return key_node.start_mark.line + 1, key_node.start_mark.column + 1
        node, _ = self.node_at(loc)
        if node is None:
            return None, None
        return node.start_mark.line + 1, node.start_mark.column + 1

    def issue(self, loc: Loc, reason: str, suggestion: str | None = None, key: bool = False) -> SpecIssue:
        line, col = self.locate(loc, key=key)
        return SpecIssue(self.display, line, col, format_loc(loc), reason, suggestion)


_YAML_HINTS = (
    ("escape", "write the character itself, or a valid escape such as \\u00e9"),
    ("quoted scalar", "close the quote"),
    ("tab character", "indent with spaces, not tabs"),
    ("mapping values are not allowed", "quote a value that contains ': ', or fix the indentation"),
    ("flow sequence", "close the list with ']' and separate items with ','"),
    ("flow mapping", "close the mapping with '}' and separate entries with ','"),
    ("block mapping", "check the indentation: the keys of one mapping must line up"),
    ("block collection", "check the indentation: the items of one list must line up"),
)


def yaml_issue(display: str, exc: yaml.YAMLError, text: str = "") -> SpecIssue:
    """A YAML syntax error as a located issue: what is wrong, where, and how to fix it."""
    if isinstance(exc, YamlRefused):
        mark = exc.problem_mark
        return SpecIssue(display, mark.line + 1, mark.column + 1, "", exc.problem, exc.hint)
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: located by its offset in `text`
        line, col = _line_column(text, exc.position) if text else (None, None)
        reason = f"invalid YAML: character #x{exc.character:04X} is not allowed in YAML text"
        return SpecIssue(display, line, col, "", reason, "remove the NUL or control character")
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    if context_mark is not None and "end of stream" in problem:
        mark = context_mark  # an unclosed quote or bracket: point where it opens, not at the end of the file
    if "another document" in problem:  # at the second document's start
        context, problem = None, "a second document: the file must hold one YAML document"
    reason = f"invalid YAML: {problem}" + (f" {context}" if context else "")
    hint = next((h for key, h in _YAML_HINTS if key in reason), None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return SpecIssue(display, line, col, "", reason, hint)


def _align(value: str, text: str, start: int, end: int, offset: int) -> int:
    """Index in `text` of `value[offset]`, where `value` is the YAML scalar written in `text[start:end]`.

    YAML only removes indentation, folds line breaks and resolves escapes, so walking both strings and
    treating any run of whitespace as equal keeps them aligned.
    """
    i, j = 0, start
    offset = min(offset, len(value))
    while i < offset and j < end:
        if value[i].isspace():
            while i < offset and value[i].isspace():
                i += 1
            while j < end and text[j].isspace():
                j += 1
            continue
        while j < end and text[j] != value[i]:  # skips escape characters of quoted styles
            j += 1
        i, j = i + 1, j + 1
    if i == offset and value[offset : offset + 1].strip():
        while j < end and text[j].isspace():
            j += 1
    return min(j, len(text))


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _key_node(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if key.value == str(part):
                return key
    return None


def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None


def format_loc(loc: Loc) -> str:
    """('steps', 2, 'output', 'mode') -> 'steps[2].output.mode' (a key longer than 60 characters cut)."""
    text = ""
    for part in loc:
        if isinstance(part, str) and len(part) > 60:
            part = f"{part[:48]}...({len(part):,} characters)"
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text

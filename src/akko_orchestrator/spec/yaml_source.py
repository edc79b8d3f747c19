"""Load YAML fast (libyaml) and find the line and column of any field path on demand.

Parse time matters (every pipeline is re-parsed by Airflow's dag-processor), so the happy path is one C-speed
`yaml.load`; the node tree with positions is composed only when an error has to be located.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from akko_orchestrator.errors import SpecError, SpecIssue

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader with YAML 1.2 booleans: `on`, `off`, `yes`, `no` stay strings (`schedule: {on: [...]}`)."""


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
        text = path.read_text(encoding="utf-8")
        source = cls(path=path, text=text)
        source.display = display_path or str(path)
        try:
            source.data = yaml.load(text, Loader=SpecLoader)  # noqa: S506 - SpecLoader is a SafeLoader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            raise SpecError([SpecIssue(source.display, line, col, "", reason)]) from None
        return source

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
    """('steps', 2, 'output', 'mode') -> 'steps[2].output.mode'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text

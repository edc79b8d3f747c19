"""What a YAML file may cost to load: the limits every spec and akko.yaml is held to before any of it is used.

YAML can amplify: nine levels of nine-fold aliases are 90 nodes in the file and 387 million once expanded (by
pydantic, by the JSON shim cache, by Airflow's serializer); deep nesting overflows the C stack of libyaml's composer;
explicit tags construct other types (`!!binary`, `!!set`); a `"\\ud800"` escape makes text no encoder accepts; a
scalar that looks like a date or a number may not be one (`2024-13-01`, 5,000 digits). So:
- files are read as UTF-8 (a BOM allowed), at most `MAX_FILE_BYTES`, and a file that is not UTF-8 is an error
  located at its first bad byte;
- the document is composed by PyYAML's Python composer over libyaml's events (about as fast: construction
  dominates), counting as it goes the nesting depth and the size of the document *as expanded*: an alias costs
  what its anchor holds, every time it is used (merge keys `<<` are aliases too). Past `MAX_DEPTH`,
  `MAX_VALUES` or `MAX_TEXT` the load stops, at the line and column where the budget ran out;
- only the plain data tags are accepted: strings, numbers, booleans, null, dates, lists, mappings, merge keys;
- a scalar that its implicit type cannot construct (a date that does not exist, an integer too long for Python)
  stays the text it is: validation then says which field expected what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

MAX_FILE_BYTES = 1024 * 1024  # a 1,000-step spec is ~250 KB
MAX_DEPTH = 64  # nesting of lists and mappings, aliases expanded (a spec needs ~8)
MAX_VALUES = 200_000  # nodes of the document, aliases expanded
MAX_TEXT = 4 * 1024 * 1024  # characters of its scalars, aliases expanded
_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "timestamp", "merge", "seq", "map")
)
_LENIENT = frozenset(_CORE + name for name in ("timestamp", "int", "float"))  # stay text if not constructible
BOM = b"\xef\xbb\xbf"


class YamlFileError(ValueError):
    """A file that cannot be YAML text at all (too big, not UTF-8): `line` and `column` are 1-based, those of
    the first byte that is not UTF-8 when `at_byte`."""

    def __init__(self, reason: str, hint: str | None, line: int = 1, column: int = 1, at_byte: bool = False):
        super().__init__(reason)
        self.reason, self.hint, self.line, self.column, self.at_byte = reason, hint, line, column, at_byte


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """A YAML (or SQL) file's text: UTF-8, BOM dropped, at most `limit` bytes; else `YamlFileError`.
    Raises `OSError` when the file cannot be read."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        reason = f"the file is larger than {limit:,} bytes, the most AKKO reads"
        raise YamlFileError(reason, "split it: one pipeline per file, long SQL in a `.sql` file")
    return decode(data)


def decode(data: bytes) -> str:
    """UTF-8 text of `data` (a leading BOM dropped), or `YamlFileError` at the first byte that is not UTF-8."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = len(head[head.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        reason = f"the file is not UTF-8 text: byte 0x{data[exc.start]:02X} cannot be read"
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            reason = "the file is UTF-16 text, not UTF-8"
        raise YamlFileError(reason, "save the file as UTF-8", line, column, at_byte=True) from None


class YamlRefused(ComposerError):
    """Valid YAML that a spec may not be (over a budget, a tag other than plain data); `hint` says what to do."""

    def __init__(self, reason: str, mark: yaml.Mark, hint: str):
        super().__init__(None, None, reason, mark)
        self.hint = hint


_NESTING = "flatten the structure"
_ALIASES = "use fewer aliases (`*name`) and merge keys (`<<`), or write the values out"


class BudgetedComposer:
    """Mixin for a loader built on `yaml.CSafeLoader` (or `SafeLoader`): PyYAML's Python composer over the
    parser's events, with the budgets of the module doc. Put it first in the bases."""

    def get_single_node(self) -> yaml.Node | None:
        self._costs: dict[int, tuple[int, int, int]] = {}  # id(node) -> (values, characters, height)
        self._depth = self._values = self._text = 0
        self.anchors = {}
        return yaml.composer.Composer.get_single_node(self)  # type: ignore[arg-type]

    def compose_document(self) -> yaml.Node | None:
        return yaml.composer.Composer.compose_document(self)  # type: ignore[arg-type]

    def compose_scalar_node(self, anchor: str | None) -> yaml.ScalarNode:
        return yaml.composer.Composer.compose_scalar_node(self, anchor)  # type: ignore[arg-type]

    def compose_sequence_node(self, anchor: str | None) -> yaml.SequenceNode:
        return yaml.composer.Composer.compose_sequence_node(self, anchor)  # type: ignore[arg-type]

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        return yaml.composer.Composer.compose_mapping_node(self, anchor)  # type: ignore[arg-type]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            node = yaml.composer.Composer.compose_node(self, parent, index)  # type: ignore[arg-type]
            cost = self._costs.get(id(node))
            if cost is None:  # its anchor's collection is still being composed
                reason = "an alias inside the collection it names (a recursive alias)"
                raise YamlRefused(
                    reason, event.start_mark, "refer to a finished anchor, or write the values out"
                )
            self._spend(*cost, event.start_mark)  # an alias costs all its anchor holds, each time
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark, _NESTING)
        try:
            node = yaml.composer.Composer.compose_node(self, parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1
        _check_node(node)
        cost = self._costs[id(node)] = _cost_of(node, self._costs)
        self._spend(1, cost[1] if isinstance(node, yaml.ScalarNode) else 0, cost[2], node.start_mark)
        return node

    def _spend(self, values: int, text: int, height: int, mark: yaml.Mark) -> None:
        """Count a node, or an alias's expansion, against the document's budgets."""
        self._values += values
        self._text += text
        hint = _ALIASES
        if self._depth + height > MAX_DEPTH:
            reason, hint = f"nested deeper than {MAX_DEPTH} levels (aliases expanded)", _NESTING
        elif self._values > MAX_VALUES:
            reason = f"the document expands to more than {MAX_VALUES:,} values (aliases counted)"
        elif self._text > MAX_TEXT:
            reason = f"the document expands to more than {MAX_TEXT // 2**20} MiB of text (aliases counted)"
        else:
            return
        raise YamlRefused(reason, mark, hint)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except (ValueError, OverflowError) as exc:
            self.recursive_objects.pop(node, None)  # type: ignore[attr-defined]
            if isinstance(node, yaml.ScalarNode) and node.tag in _LENIENT:
                self.constructed_objects[node] = node.value  # type: ignore[attr-defined]
                return node.value  # the text as written: validation names the field and what it expects
            raise ConstructorError(None, None, f"cannot read this value: {exc}", node.start_mark) from None


def _cost_of(node: yaml.Node, costs: dict[int, tuple[int, int, int]]) -> tuple[int, int, int]:
    """(values, characters, height) of a composed node with its children's (aliases included) costs."""
    if isinstance(node, yaml.ScalarNode):
        return 1, len(node.value), 0
    children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
    values, text, height = 1, 0, 0
    for child in children:
        child_values, child_text, child_height = costs.get(id(child), (1, 0, 0))
        values, text, height = values + child_values, text + child_text, max(height, child_height)
    return values, text, height + 1


def _check_node(node: yaml.Node) -> None:
    if node.tag not in ALLOWED_TAGS:
        shown = "!!" + node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else node.tag
        reason = f"the YAML tag {shown} is not allowed here"
        hint = "remove the tag: only text, numbers, booleans, dates, lists and mappings are read"
        raise YamlRefused(reason, node.start_mark, hint)
    if isinstance(node, yaml.ScalarNode) and node.style == '"' and not node.value.isascii():
        try:
            node.value.encode("utf-8")
        except UnicodeEncodeError:
            reason = "an escape makes a character that is not text (a lone UTF-16 surrogate such as \\ud800)"
            raise YamlRefused(reason, node.start_mark, "write the character itself") from None


class SafeYamlLoader(BudgetedComposer, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (YAML 1.1 scalars, as akko.yaml has always been read) under this module's budgets."""


def load_yaml(text: str, loader: type = SafeYamlLoader) -> Any:
    """`text` as data under the budgets; raises `yaml.YAMLError` (with a mark) when it is not acceptable."""
    return yaml.load(text, Loader=loader)  # noqa: S506 - every loader here derives from a SafeLoader


def load_file(path: Path, loader: type = SafeYamlLoader) -> Any:
    """A YAML file as data under the budgets (for readers that only peek at a spec, e.g. its `team`); raises
    `OSError` or `ValueError` (`YamlFileError`, and `yaml.YAMLError` as a ValueError) when it is not acceptable."""
    try:
        return load_yaml(read_text(path), loader)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None

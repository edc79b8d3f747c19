"""How every command lays out data, whatever the terminal's width (80 columns, or piped: rich takes the width
from COLUMNS, else 80).

- `listing`: items with named columns (steps of a run, tables, snapshots, checks). A table when every cell fits
  unwrapped; otherwise one line per item, its name whole and its short facts aligned after it, and its other
  cells as `header: value` pairs on indented lines below (grouped rows: what a group shares on a line above
  them). Nothing is cut: names and ids are what a user copies into the next command.
- `records`: rows of arbitrary columns (query results): a table when it fits, else one block per row, a column
  per line (psql's expanded display).
- `hanging`: a message whose first words stay on the first line and whose rest wraps indented below.
- `command_lines`: a command to copy, broken at its arguments with shell line continuations.

Cells are plain values (printed as they are, never as markup) or rich `Text` for styled ones (`styled`).
"""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

Cell = Any  # a plain value, or a rich Text
DETAIL_INDENT = 4
SEPARATOR = " · "


@dataclass(frozen=True)
class Col:
    """A column of a `listing`."""

    header: str
    key: bool = False  # names the item (step, table, check, snapshot id): first on its line, never cut
    head: bool = False  # a short fact kept on the item's line in the compact layout (state, status, rows)
    group: bool = False  # shared by a group of rows (a step run): shown once per group
    right: bool = False  # numbers
    unit: str = ""  # on the item's line of the compact layout, a head number's unit: `12 rows`, `1 row`
    wrap: bool = False  # free text (observed values, rules): wraps inside a table rather than widening it


WRAP_MIN = 16  # a free-text column is not narrowed below this in a table (below it, the compact layout)


def styled(value: Any, style: str) -> Text:
    """A cell shown in `style` (state colours): the value is never read as markup."""
    return Text(str(value), style=style)


def cell_text(value: Cell) -> Text:
    if isinstance(value, Text):
        return value
    if value is None:
        return Text("-")
    if isinstance(value, float):
        return Text(f"{value:,.2f}")
    return Text(str(value))


def table_width(headers: Sequence[str], rows: Sequence[Sequence[Cell]], wraps: Sequence[bool] = ()) -> int:
    """Columns a rich table of these cells needs (default box: one border per column plus one, one space of
    padding on each side of a cell): each cell unwrapped, but free-text columns (`wraps`) at most WRAP_MIN."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], max(map(len, cell_text(value).plain.split("\n"))))
    widths = [min(w, WRAP_MIN) if i < len(wraps) and wraps[i] else w for i, w in enumerate(widths)]
    return sum(widths) + 3 * len(widths) + 1


def listing(title: str, cols: Sequence[Col], groups: Sequence[Sequence[Sequence[Cell]]], width: int) -> Group:
    """Rows in groups (one group for a plain list): one table if it fits in `width` (what a group shares,
    `Col.group`, on its first row); else what a group shares on one line above its rows, and the rows a table
    each if those fit, else one compact item each."""
    if table_width([c.header for c in cols], [r for g in groups for r in g], [c.wrap for c in cols]) <= width:
        return Group(_table(title, cols, groups))
    shared = [i for i, c in enumerate(cols) if c.group]
    own = [i for i, c in enumerate(cols) if not c.group]
    item_cols = [cols[i] for i in own]
    item_groups = [[[row[i] for i in own] for row in group] for group in groups]
    rows = [row for group in item_groups for row in group]
    indent = 2 if shared else 0
    compact = table_width([c.header for c in item_cols], rows, [c.wrap for c in item_cols]) + indent > width
    aligned = _aligned_widths(item_cols, rows, width - indent)
    parts: list[RenderableType] = [Text(title, style="bold")] if title else []
    for group, items in zip(groups, item_groups, strict=True):
        if shared and group:
            parts += _pairs([(cols[i], group[0][i]) for i in shared], width, 0)
        if compact:
            parts += [line for row in items for line in _item(item_cols, row, aligned, width, indent)]
        else:
            parts.append(Padding(_table(None, item_cols, [items]), (0, 0, 0, indent), expand=False))
    return Group(*parts)


def rows_listing(title: str, cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int) -> Group:
    return listing(title, cols, [rows], width)


def _table(title: str | None, cols: Sequence[Col], groups: Sequence[Sequence[Sequence[Cell]]]) -> Table:
    """A table, one section per group, what a group shares shown on its first row only."""
    table = Table(title=title or None, title_justify="left")
    for col in cols:
        # only free text wraps (rich narrows wrapping columns first); a name or an id is never cut
        table.add_column(
            col.header, justify="right" if col.right else "left", overflow="fold", no_wrap=not col.wrap
        )
    for group in groups:
        for index, row in enumerate(group):
            cells = [Text("") if index and c.group else cell_text(v) for c, v in zip(cols, row, strict=True)]
            table.add_row(*cells, end_section=index == len(group) - 1)
    return table


def _aligned_widths(cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Widths aligning the key and head cells of every item's line, if such a line fits; else None."""
    line = [i for i, c in enumerate(cols) if c.key or c.head]
    widths = [max((_head_cell(cols[i], r[i]).cell_len for r in rows), default=0) for i in line]
    return widths if sum(widths) + 2 * (len(widths) - 1) <= width else None


def _head_cell(col: Col, value: Cell) -> Text:
    text = cell_text(value).copy()
    if col.unit and text.plain not in ("", "-"):
        text.append(f" {col.unit.removesuffix('s') if text.plain == '1' else col.unit}")
    if col.key:
        text.stylize("bold")
    return text


def _item(
    cols: Sequence[Col], row: Sequence[Cell], aligned: list[int] | None, width: int, indent: int
) -> list[Text]:
    """An item's line (its key and head cells), then its other cells as pairs on indented lines."""
    shown = [(c, v) for c, v in zip(cols, row, strict=True) if c.key or c.head]
    cells = []
    for index, (col, value) in enumerate(shown):
        text = _head_cell(col, value)
        if aligned is not None and index < len(shown) - 1:
            pad = " " * (aligned[index] - text.cell_len)
            text = Text.assemble(pad, text) if col.right else Text.assemble(text, pad)
        cells.append(text)
    line = Text.assemble(" " * indent, Text("  ").join(cells))
    details = [(c, v) for c, v in zip(cols, row, strict=True) if not (c.key or c.head)]
    details = [(c, v) for c, v in details if cell_text(v).plain not in ("", "-")]
    return [line, *_pairs(details, width, indent + DETAIL_INDENT)]


def _pairs(pairs: Sequence[tuple[Col, Cell]], width: int, indent: int) -> list[Text]:
    """`header: value` pairs packed on lines of `width` after `indent` (a pair too long for one wraps)."""
    lines: list[Text] = []
    room = max(width - indent, 20)
    for col, value in pairs:
        pair = Text.assemble((f"{col.header}: ", "dim"), cell_text(value))
        if lines and lines[-1].cell_len + len(SEPARATOR) + pair.cell_len <= room:
            lines[-1].append(SEPARATOR)
            lines[-1].append_text(pair)
        else:
            lines.append(pair)
    return [Text.assemble(" " * indent, line) for line in lines]


def records(title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]], width: int) -> RenderableType:
    """Query results: a table if it fits in `width`, else each row as `column  value` lines (values wrap)."""
    if table_width(columns, rows) <= width:
        table = Table(title=title or None, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(cell_text(v) for v in row))
        return table
    parts: list[RenderableType] = [Text(title, style="bold")] if title else []
    name_width = min(max(len(c) for c in columns), width // 3)
    for number, row in enumerate(rows, 1):
        parts.append(Text(f"row {number}", style="bold"))
        for column, value in zip(columns, row, strict=True):
            parts.append(_record_line(column, cell_text(value).plain, name_width, width))
    return Group(*parts)


def _record_line(column: str, value: str, name_width: int, width: int) -> Text:
    """`  column  value`, a long value wrapped under itself (a word longer than the room is folded: data is
    shown whole, across lines)."""
    lead = 2 + max(name_width, len(column)) + 2
    room = max(width - lead, 20)
    lines = [
        line
        for part in value.split("\n")
        for line in textwrap.wrap(part, room, break_on_hyphens=False) or [""]
    ]
    text = Text.assemble("  ", (column.ljust(name_width), "dim"), "  ", lines[0])
    for line in lines[1:]:
        text.append("\n" + " " * lead + line)
    return text


def hanging(head: str, body: str, width: int, style: str = "", indent: int = DETAIL_INDENT) -> Text:
    """`head body` wrapped at `width` between words (a word longer than a line stays whole), the lines after the
    first indented: the head (a step's name) starts the message, the next message starts visibly. Print it
    with `soft_wrap=True` so rich keeps these lines as they are."""
    plain = f"{head} {body}".strip()
    lines = textwrap.wrap(
        plain, width, subsequent_indent=" " * indent, break_long_words=False, break_on_hyphens=False
    )
    text = Text("\n".join(lines or [""]))
    if style:
        text.stylize(style, 0, len(head))
    return text


def command_lines(args: Sequence[str], width: int, indent: int = 2) -> str:
    """A shell command to copy: on one line if it fits in `width`, else one argument per line joined by ` \\`
    continuations (still one command when pasted). Options stay on their values' line."""
    words = [_quote(a) for a in args]
    one = " " * indent + " ".join(words)
    if len(one) <= width:
        return one
    lines: list[str] = [words[0] + (" " + words[1] if len(words) > 1 else "")]
    rest = words[2:]
    while rest:
        word = rest.pop(0)
        if word.startswith("--") and rest and not rest[0].startswith("--"):
            word += " " + rest.pop(0)
        lines.append(word)
    pad = " " * indent
    return pad + f" \\\n{pad}  ".join(lines)


def _quote(arg: str) -> str:
    """Shell quoting a reader can read: SQL with 'literals' goes in double quotes when nothing in it would
    expand there."""
    quoted = shlex.quote(arg)
    if quoted == arg or "'" not in arg or any(c in arg for c in '"$`\\!'):
        return quoted
    return f'"{arg}"'

"""The physical lines of a text file, counted apart from any parser: what ingest reconciles rows read against.

A reader that drops rows without an error (pyarrow's CSV reader did, on one unterminated quote) is caught because
the rows it returns (plus those set aside) must account for every non-blank line of the file. Lines are found with
numpy over the file's bytes (no Python loop over 2.6 million lines); the slow paths here (a line's text, the
physical line of the n-th CSV record) run only to name a bad row.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import numpy as np

RECORD_LIMIT = 2000  # characters of a bad row kept in a message or the rejects table


@dataclass(frozen=True)
class Lines:
    """`data`'s lines (split on `\\n`; a `\\r` before it belongs to the line ending)."""

    data: bytes

    @cached_property
    def _bytes(self) -> np.ndarray:
        import numpy as np

        return np.frombuffer(self.data, dtype=np.uint8)

    @cached_property
    def starts(self) -> np.ndarray:
        """The offset where each line starts (a last line without `\\n` included, an empty tail not)."""
        import numpy as np

        ends = np.flatnonzero(self._bytes == self.newline[0])
        starts = np.concatenate(([0], ends + 1))
        return starts if len(self._bytes) > starts[-1] else starts[:-1]

    @cached_property
    def ends(self) -> np.ndarray:
        """Where each line's content ends (before `\\r\\n` or `\\n`)."""
        import numpy as np

        size = len(self._bytes)
        ends = np.append(self.starts[1:] - 1, size) if len(self.starts) else self.starts
        if len(ends) and ends[-1] == size and size and self._bytes[size - 1] == self.newline[0]:
            ends[-1] = size - 1
        with_cr = (
            (ends > self.starts) & (self._bytes[np.maximum(ends - 1, 0)] == 13) & (self.newline == b"\n")
        )
        return ends - with_cr

    @cached_property
    def blank(self) -> np.ndarray:
        """Lines with nothing on them (whitespace is something: a CSV parser reads `   ` as a row)."""
        return self.ends == self.starts

    @cached_property
    def count(self) -> int:
        data, end = self.data, self.newline
        return data.count(end) + (1 if data and not data.endswith(end) else 0)

    @cached_property
    def newline(self) -> bytes:
        """`\\n`, or `\\r` in a file that has no `\\n` (old Mac line endings; both readers take them)."""
        return b"\r" if b"\n" not in self.data and b"\r" in self.data else b"\n"

    @cached_property
    def nonblank(self) -> int:
        """Lines with something on them (numpy over the whole file: callers first compare with `count`, which
        counts as fast as the file reads, and ask this only when blank lines could explain a difference)."""
        return int(self.count - self.blank.sum())

    @cached_property
    def leading_blank(self) -> int:
        """Blank lines before the first line with something on it."""
        data, count, offset = self.data, 0, 0
        while offset < len(data):
            step = (
                1 if data[offset : offset + 1] == b"\n" else 2 if data[offset : offset + 2] == b"\r\n" else 0
            )
            if not step:
                break
            count, offset = count + 1, offset + step
        return count

    def head(self, lines: int) -> bytes:
        """The first `lines` lines with their endings (a sample: found line by line, not over the file)."""
        offset = 0
        for _ in range(lines):
            found = self.data.find(self.newline, offset)
            if found == -1:
                return self.data
            offset = found + 1
        return self.data[:offset]

    def raw(self, line: int) -> bytes:
        """Line `line` (1-based) without its ending."""
        if line <= 16:  # the header: without numpy over the whole file
            found = self.head(line).splitlines()
            return found[line - 1] if len(found) >= line else b""
        return bytes(self.data[int(self.starts[line - 1]) : int(self.ends[line - 1])])

    def text(self, line: int, limit: int = RECORD_LIMIT) -> str:
        """Line `line` as text (bytes that are not UTF-8 shown as `\\xe9`), cut at `limit` characters."""
        if not 1 <= line <= self.count:
            return ""
        text = self.raw(line).decode("utf-8", errors="backslashreplace")
        return text if len(text) <= limit else text[:limit] + "..."

    def line_of(self, offset: int) -> int:
        """The 1-based line holding byte `offset`."""
        import numpy as np

        return int(np.searchsorted(self.starts, offset, side="right"))


def csv_record_lines(path: str, records: list[int]) -> dict[int, int]:
    """The physical line where each of `records` starts, numbered as DuckDB's CSV reader numbers rows: one per
    row or blank line from the top, so a quoted value spanning lines shifts every later row. Walks the file
    with Python's csv module (a quote opens a value only at its start, `""` escapes one: as DuckDB reads them);
    only used to name rows already found bad."""
    wanted = sorted(set(records))
    found: dict[int, int] = {}
    if not wanted:
        return found
    limit = csv.field_size_limit(2**31 - 1)  # an unterminated quote makes the rest of the file one field
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as text:
            reader = csv.reader(text, strict=False)
            previous_end = 0
            for number, _ in zip(itertools.count(1), reader, strict=False):
                if number == wanted[len(found)]:
                    found[number] = previous_end + 1
                    if len(found) == len(wanted):
                        break
                previous_end = reader.line_num
    finally:
        csv.field_size_limit(limit)
    for number in wanted[len(found) :]:  # past the end of what csv could read: as counted
        found[number] = number
    return found


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def continuation_lines(table: pa.Table) -> int:
    """Non-blank lines that continue a quoted value begun on an earlier line (a value `a\\n\\nb` spans three
    lines, the middle one blank): they are not rows."""
    import pyarrow.compute as pc

    count = 0
    for column in table.columns:
        if not pa.types.is_string(column.type) or not (pc.sum(pc.count_substring(column, "\n")).as_py() or 0):
            continue
        for value in pc.filter(column, pc.match_substring(column, "\n")).to_pylist():
            segments = value.split("\n")
            count += len(segments) - 1 - sum(1 for s in segments[1:-1] if s in ("", "\r"))
    return count

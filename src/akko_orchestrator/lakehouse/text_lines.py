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

        ends = np.flatnonzero(self._bytes == 10)
        starts = np.concatenate(([0], ends + 1))
        return starts if len(self._bytes) > starts[-1] else starts[:-1]

    @cached_property
    def ends(self) -> np.ndarray:
        """Where each line's content ends (before `\\r\\n` or `\\n`)."""
        import numpy as np

        size = len(self._bytes)
        ends = np.append(self.starts[1:] - 1, size) if len(self.starts) else self.starts
        if len(ends) and ends[-1] == size and size and self._bytes[size - 1] == 10:
            ends[-1] = size - 1
        with_cr = (ends > self.starts) & (self._bytes[np.maximum(ends - 1, 0)] == 13)
        return ends - with_cr

    @cached_property
    def blank(self) -> np.ndarray:
        """Lines with nothing on them (whitespace is something: a CSV parser reads `   ` as a row)."""
        return self.ends == self.starts

    @cached_property
    def count(self) -> int:
        data = self.data
        return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)

    @cached_property
    def nonblank(self) -> int:
        """Lines with something on them. Without an empty line anywhere (a substring search, as fast as reading
        the file) that is every line; numpy finds the empty ones otherwise."""
        data = self.data
        if b"\n\n" not in data and b"\n\r\n" not in data and not data.startswith((b"\n", b"\r\n")):
            return self.count
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
        """The first `lines` lines (a sample: found line by line, not over the whole file)."""
        offset = 0
        for _ in range(lines):
            found = self.data.find(b"\n", offset)
            if found == -1:
                return self.data
            offset = found + 1
        return self.data[:offset]

    def raw(self, line: int) -> bytes:
        """Line `line` (1-based) without its ending."""
        return bytes(self.data[int(self.starts[line - 1]) : int(self.ends[line - 1])])

    def text(self, line: int, limit: int = RECORD_LIMIT) -> str:
        """Line `line` as text (bytes that are not UTF-8 shown as `\\xe9`), cut at `limit` characters."""
        if not 1 <= line <= self.count:
            return ""
        text = self.raw(line).decode("utf-8", errors="backslashreplace")
        return text if len(text) <= limit else text[:limit] + "..."

    def has(self, text: bytes) -> bool:
        return self.data.find(text) != -1


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

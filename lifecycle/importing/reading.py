"""Reading a CSV export as it comes: any delimiter, encoding accident or broken row.

The file is read whole (an import orders each lead's rows by time, so it needs them all)
and split into physical lines *as bytes*, so that each line is decoded on its own: UTF-8
(a leading byte-order mark is dropped), else the fallback encoding (cp1252 by default:
what Excel on Windows writes), else the row is rejected as undecodable — one bad line
never costs the file. A file that starts with a UTF-16 byte-order mark (Excel's "Unicode
text") is decoded as UTF-16 whole.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first record
row 2 (a record with line breaks inside quotes is one row). Blank rows keep their number
and are skipped. A row with more non-empty cells than the header has columns is rejected
(a delimiter inside an unquoted value shifts every later column); missing cells at its
end are read as empty. Of two columns with the same header the first is read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["DELIMITERS", "FIELD_LIMIT", "CsvRow", "CsvTable", "read_csv"]

DELIMITERS = (",", ";", "\t", "|")
FIELD_LIMIT = 16 << 20
"""The longest cell read (16 MiB); a longer one rejects its row. Far above anything a
mapped value may be (an input holds at most 64 KiB), so a long unmapped column (notes)
costs nothing, while a file that is one endless quoted cell cannot exhaust memory twice."""

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One record: its spreadsheet row number, its cells by header, its bytes as read,
    and why it cannot be read (``problem``) if so."""

    number: int
    cells: dict[str, str]
    raw: bytes
    problem: str | None = None


@dataclass
class CsvTable:
    """The header, the rows, and what the reader noticed (for the summary)."""

    header: tuple[str, ...]
    delimiter: str
    rows: list[CsvRow]
    blank: int = 0
    fallback_decoded: int = 0
    warnings: list[str] = field(default_factory=list)


def read_csv(data: bytes, *, delimiter: str = "auto", encoding: str = "utf-8",
             fallback: str | None = "cp1252") -> CsvTable:
    """Reads a whole CSV file; never raises on its content.

    Args:
        data: the file's bytes.
        delimiter: one of :data:`DELIMITERS`, or ``auto``: the one the header line holds
            most of (``,`` on a tie).
        encoding: of each line (a UTF-16 byte-order mark overrides it).
        fallback: the encoding of a line that ``encoding`` cannot decode; None rejects
            such rows.
    """
    if data.startswith(_UTF16_BOMS):
        data = data.decode("utf-16", "replace").encode("utf-8")
        encoding, fallback = "utf-8", None
    lines = data.splitlines(keepends=True)
    if lines and encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig"):
        lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
    decoded: list[str] = []
    failed: list[bool] = []
    fallen_back: list[bool] = []
    for line in lines:
        text, how = _decode(line, encoding, fallback)
        decoded.append(text)
        failed.append(how == "failed")
        fallen_back.append(how == "fallback")
    if delimiter == "auto":
        first = decoded[0] if decoded else ""
        delimiter = max(DELIMITERS, key=lambda d: (first.count(d), d == ","))
    with _field_limit(FIELD_LIMIT):
        return _table(lines, decoded, failed, fallen_back, delimiter)


def _decode(line: bytes, encoding: str, fallback: str | None) -> tuple[str, str]:
    try:
        return line.decode(encoding), "ok"
    except UnicodeDecodeError:
        pass
    if fallback is not None:
        try:
            return line.decode(fallback), "fallback"
        except UnicodeDecodeError:
            pass
    return line.decode(encoding, "replace"), "failed"


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    # The csv module's limit is process-wide: set for this read only.
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _table(lines: list[bytes], decoded: list[str], failed: list[bool],
           fallen_back: list[bool], delimiter: str) -> CsvTable:
    reader = csv.reader(iter(decoded), delimiter=delimiter, strict=False)
    header: tuple[str, ...] = ()
    table = CsvTable(header, delimiter, [])
    number, start = 0, 0
    while True:
        problem = None
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            record, problem = [], f"the row cannot be read as CSV: {e}"
        end = reader.line_num
        span = range(start, end)
        start = end
        number += 1
        if number == 1:
            header = tuple(cell.strip() for cell in record)
            table.header = header
            table.warnings.extend(_duplicates(header))
            continue
        if problem is None and not any(cell.strip() for cell in record):
            table.blank += 1
            continue
        raw = b"".join(lines[i] for i in span).rstrip(b"\r\n")
        if problem is None and any(failed[i] for i in span):
            problem = "the row holds bytes that are not text in the file's encoding"
        if any(fallen_back[i] for i in span):
            table.fallback_decoded += 1
        extra = [cell for cell in record[len(header):] if cell.strip()]
        if problem is None and extra:
            problem = (f"the row has {len(record)} cells, the header {len(header)} columns: "
                       "a value holds the delimiter without quotes?")
        cells: dict[str, str] = {}
        for name, cell in zip(header, record, strict=False):
            cells.setdefault(name, cell)
        table.rows.append(CsvRow(number, cells, raw, problem))
    return table


def _duplicates(header: tuple[str, ...]) -> list[str]:
    seen: set[str] = set()
    warnings = []
    for name in header:
        if name in seen:
            warnings.append(f"the header names {name!r} twice: the first such column is read")
        seen.add(name)
    return warnings

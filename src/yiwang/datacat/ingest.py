"""Uploads become typed tables: CSV, XLSX and JSON into columns, Python values and per-row errors.

``parse(data, fmt, declared=…)`` reads the bytes of one upload:

- **CSV**: UTF-8 (with or without BOM), else GB18030 (what Excel on Chinese Windows writes); the
  delimiter is sniffed among ``,`` ``;`` and tab from the first lines; the first row is the header.
- **XLSX**: the first worksheet, read in openpyxl's read-only mode with ``data_only=True`` — a
  formula gives the value Excel cached when it saved the file, nothing is evaluated.
- **JSON**: a list of objects, or an object ``{"records": [...]}`` (what CKAN's datastore gives);
  the columns are the keys in order of first appearance.

With ``declared`` columns (the catalogue's fields) each value is converted to its field's type; a
value that does not convert is a :class:`RowError` naming the row and the field, and that row is
left out while the others load. Without ``declared``, each column's type is inferred from its
values (empty cells do not decide). File-level faults — bytes that are not text, no header, a bad
or duplicate column name, a declared column missing, too many rows — raise :class:`IngestError`;
columns that are not declared are reported as one ``RowError(row=0, …)`` and left out.

Values are ``str``, ``int``, ``float``, ``datetime.date``, ``datetime.datetime``, ``bool`` or
``None`` (an empty cell). Conversions, the same for every format:

- integer: ``-12``, ``+12``, ``1,234`` (thousands), ``12.0`` from a spreadsheet; within a signed
  64-bit integer.
- number: decimal or exponent notation (``1.5``, ``-2e3``, ``1,234.5``); not ``nan``/``inf``.
- date: ``2024-03-07``, ``2024/3/7``, ``2024.03.07``, ``20240307``, ``2024年3月7日``; a spreadsheet
  date (a date-time at midnight).
- datetime: a date with a time (``2024-03-07 08:30[:15[.123]]``, ``T`` or space, optional offset —
  an offset is converted to China Standard Time, UTC+8, and dropped, so every value of a column
  is naive local time); a date alone is midnight.
- boolean: ``true/false``, ``t/f``, ``yes/no``, ``y/n``, ``1/0``, ``是/否``, ``真/假`` (any case).
- text: the value, trimmed; numbers and dates from a spreadsheet become their text.

Inference prefers integer, then number, then date, then datetime, then boolean (only the words,
not ``1/0``), else text. A digit string with a leading zero (``007``, ``0101``) or longer than 15
digits (ID, card and account numbers, long codes) is text: such a value is a code, not a quantity,
and turning it into a number would lose its zeros or its last digits.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from yiwang.core.errors import ValidationFailed
from yiwang.core.i18n import translate
from yiwang.datacat.models import FIELD_TYPES

FORMATS = ("CSV", "XLSX", "JSON")
MAX_NAME = 63
MAX_XLSX_UNCOMPRESSED = 1 << 30
"""An XLSX whose parts unpack to more than 1 GiB is refused before reading (a zip bomb)."""
CHINA = timezone(timedelta(hours=8))
INT64 = 1 << 63


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """One of :data:`yiwang.datacat.models.FIELD_TYPES`."""


@dataclass(frozen=True)
class RowError:
    row: int
    """The 1-based data row (the first row after the header is 1); 0 for the table as a whole."""
    field: str | None
    message: str
    """The problem in the current locale's language (Simplified Chinese by default)."""
    code: str = ""
    """A stable code: ``value_invalid``, ``row_too_long``, ``record_not_object``, ``extra_columns``."""

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message, "code": self.code}


@dataclass
class Table:
    columns: list[Column]
    rows: list[tuple]
    errors: list[RowError]


class IngestError(ValidationFailed):
    """A file-level fault: the upload cannot become a table at all. ``code`` says which."""

    code = "ingest_failed"
    message = "The file could not be read as a table."

    def __init__(self, code: str, message: str | None = None, /, **params: Any) -> None:
        super().__init__(message, **params)
        self.code = code  # type: ignore[misc]  # each fault has its own stable code


# -- conversions -------------------------------------------------------------------------------
class _Bad(Exception):
    """A value that does not convert (internal; becomes a RowError)."""


_INT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)")
_NUM = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"(\d{4})(?:([-/.])(\d{1,2})\2(\d{1,2})|(\d{2})(\d{2})|年(\d{1,2})月(\d{1,2})日?)")
_DATETIME = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?"
)
_TRUE = frozenset({"true", "t", "yes", "y", "1", "是", "真"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "否", "假"})
_WORD_TRUE = _TRUE - {"1"}
_WORD_FALSE = _FALSE - {"0"}


def _text(v: Any) -> str | None:
    if isinstance(v, str):
        s = v.strip()
        return s or None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.isoformat(sep=" ") if v.time() != datetime.min.time() or v.tzinfo else v.date().isoformat()
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise _Bad
    if isinstance(v, int):
        out = v
    elif isinstance(v, float):
        if not v.is_integer():
            raise _Bad
        out = int(v)
    elif isinstance(v, str):
        s = v.strip()
        if _INT.fullmatch(s):
            out = int(s.replace(",", ""))
        elif _NUM.fullmatch(s) and (f := float(s.replace(",", ""))).is_integer() and "e" not in s.lower():
            out = int(f)
        else:
            raise _Bad
    else:
        raise _Bad
    if not -INT64 <= out < INT64:
        raise _Bad
    return out


def _to_float(v: Any) -> float:
    if isinstance(v, bool):
        raise _Bad
    if isinstance(v, (int, float)):
        out = float(v)
    elif isinstance(v, str) and _NUM.fullmatch(s := v.strip()):
        out = float(s.replace(",", ""))
    else:
        raise _Bad
    if out != out or out in (float("inf"), float("-inf")):
        raise _Bad
    return out


def _to_date(v: Any) -> date:
    if isinstance(v, datetime):
        if v.time() != datetime.min.time():
            raise _Bad
        return v.date()
    if isinstance(v, date):
        return v
    if not isinstance(v, str):
        raise _Bad
    m = _DATE.fullmatch(v.strip())
    if not m:
        raise _Bad
    y, _, mo1, d1, mo2, d2, mo3, d3 = m.groups()
    try:
        return date(int(y), int(mo1 or mo2 or mo3), int(d1 or d2 or d3))
    except ValueError:
        raise _Bad from None


def _to_datetime(v: Any) -> datetime:
    if isinstance(v, datetime):
        out = v
    elif isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        s = v.strip()
        m = _DATETIME.fullmatch(s)
        if not m:
            return datetime.combine(_to_date(s), datetime.min.time())
        y, _, mo, d, hh, mi, ss, frac, tz = m.groups()
        try:
            out = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                           int((frac or "0").ljust(6, "0")))
        except ValueError:
            raise _Bad from None
        if tz:
            if tz == "Z":
                out = out.replace(tzinfo=UTC)
            else:
                sign = -1 if tz[0] == "-" else 1
                digits = tz[1:].replace(":", "")
                if int(digits[:2]) > 23 or int(digits[2:]) > 59:
                    raise _Bad
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                out = out.replace(tzinfo=timezone(sign * offset))
    else:
        raise _Bad
    if out.tzinfo is not None:
        out = out.astimezone(CHINA).replace(tzinfo=None)
    return out


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise _Bad


_CONVERT = {"text": _text, "integer": _to_int, "number": _to_float, "date": _to_date,
            "datetime": _to_datetime, "boolean": _to_bool}

_TYPE_LABEL = {"text": "text", "integer": "a whole number", "number": "a number", "date": "a date",
               "datetime": "a date and time", "boolean": "yes or no"}


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


# -- inference ---------------------------------------------------------------------------------
def _category(v: Any) -> str:
    """The narrowest kind a non-empty value fits: int, float, date, datetime, bool or text."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -INT64 <= v < INT64 else "text"
    if isinstance(v, float):
        return "float" if v == v and v not in (float("inf"), float("-inf")) else "text"
    if isinstance(v, datetime):
        return "date" if v.time() == datetime.min.time() and v.tzinfo is None else "datetime"
    if isinstance(v, date):
        return "date"
    if not isinstance(v, str):
        return "text"
    s = v.strip()
    if _INT.fullmatch(s):
        digits = s.lstrip("+-").replace(",", "")
        if (len(digits) > 1 and digits[0] == "0") or len(digits) > 15:
            return "text"
        return "int"
    if _NUM.fullmatch(s):
        if s.lstrip("+-")[:1] == "0" and s.lstrip("+-")[1:2].isdigit():
            return "text"
        return "float"
    low = s.lower()
    if low in _WORD_TRUE or low in _WORD_FALSE:
        return "bool"
    if s[:4].isdigit():
        try:
            _to_date(s)
            return "date"
        except _Bad:
            pass
        try:
            _to_datetime(s)
            return "datetime"
        except _Bad:
            pass
    return "text"


_FITS = (("integer", {"int"}), ("number", {"int", "float"}), ("date", {"date"}),
         ("datetime", {"date", "datetime"}), ("boolean", {"bool"}))


def _infer(values: list[Any]) -> str:
    seen: set[str] = set()
    for v in values:
        if _empty(v):
            continue
        c = _category(v)
        if c == "text":
            return "text"
        seen.add(c)
        if len(seen) > 1 and not (seen <= {"int", "float"} or seen <= {"date", "datetime"}):
            return "text"
    if not seen:
        return "text"
    for name, fits in _FITS:
        if seen <= fits:
            return name
    return "text"


# -- reading the formats -----------------------------------------------------------------------
_BINARY_MAGIC = ((b"PK\x03\x04", "a ZIP or XLSX file"), (b"%PDF", "a PDF file"), (b"\x89PNG", "a PNG image"),
                 (b"\xff\xd8\xff", "a JPEG image"), (b"\xd0\xcf\x11\xe0", "an old Excel (XLS) or Word file"),
                 (b"GIF8", "a GIF image"), (b"\x1f\x8b", "a gzip file"), (b"MZ", "a Windows program"),
                 (b"\x7fELF", "a program"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decode(data: bytes) -> str:
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            raise IngestError("file_not_text", "The file is {what}, not a text table; upload it as what it is.",
                              what=translate(what))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise IngestError("file_not_text", "The file is neither UTF-8 nor GB18030 text.") from None
    if _CONTROL.search(text, 0, 65536):
        raise IngestError("file_not_text", "The file holds binary data, not a text table.")
    return text


def _sniff(text: str) -> str:
    """The delimiter among ``,`` ``;`` and tab that splits the first lines most consistently."""
    sample = text[:65536]
    lines = sample.splitlines()[:20]
    if len(sample) == 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last may be cut
    best, best_score = ",", (-1, -1)
    for d in (",", ";", "\t"):
        try:
            widths = [len(r) for r in csv.reader(lines, delimiter=d) if r]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        consistent = sum(1 for w in widths if w == widths[0])
        score = (consistent, widths[0])
        if score > best_score:
            best, best_score = d, score
    return best


def _read_csv(data: bytes) -> tuple[list[Any], Any]:
    text = _decode(data)
    if not text.strip():
        raise IngestError("no_header", "The file is empty: it needs a header row with the column names.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff(text))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise IngestError("file_unreadable", "The file is not a readable CSV table: {reason}", reason=str(exc)) from None
    return header, reader


def _read_xlsx(data: bytes) -> tuple[list[Any], Any, Any]:
    import openpyxl

    if not data.startswith(b"PK\x03\x04"):
        raise IngestError("file_unreadable", "The file is not an XLSX workbook.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_XLSX_UNCOMPRESSED:
                raise IngestError("file_too_large", "The workbook unpacks to more than 1 GB; split it into smaller files.")
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except IngestError:
        raise
    except Exception:  # noqa: BLE001 - any fault of a foreign file is the same answer to the user
        raise IngestError("file_unreadable", "The file is not an XLSX workbook.") from None
    if not wb.worksheets:
        wb.close()
        raise IngestError("no_header", "The file is empty: it needs a header row with the column names.")
    rows = wb.worksheets[0].iter_rows(values_only=True)
    header: list[Any] | None = None
    try:
        for r in rows:
            if any(not _empty(v) for v in r):
                header = list(r)
                break
    except Exception:  # noqa: BLE001
        wb.close()
        raise IngestError("file_unreadable", "The file is not an XLSX workbook.") from None
    if header is None:
        wb.close()
        raise IngestError("no_header", "The file is empty: it needs a header row with the column names.")
    while header and _empty(header[-1]):
        header.pop()
    return header, rows, wb


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _read_json(data: bytes) -> tuple[list[str], list[Any]]:
    text = _decode(data)
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise IngestError("file_unreadable", "The file is not valid JSON.") from None
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        doc = doc["records"]
    if not isinstance(doc, list):
        raise IngestError("json_shape", 'JSON data must be a list of objects, or an object with a "records" list.')
    names: dict[str, None] = {}
    for rec in doc:
        if isinstance(rec, dict):
            for key in rec:
                names.setdefault(key, None)
    if not names:
        raise IngestError("no_header", "The file is empty: it needs a header row with the column names.")
    return list(names), doc


def _check_names(raw: list[Any]) -> list[str]:
    names: list[str] = []
    seen: dict[str, str] = {}
    for i, v in enumerate(raw, start=1):
        name = "" if v is None else str(v).replace("\ufeff", "").strip()
        if not name:
            raise IngestError("column_name_empty", "Column {position} has no name in the header row.", position=i)
        if len(name) > MAX_NAME:
            raise IngestError("column_name_too_long", "The column name {name} is longer than {limit} characters.",
                              name=name[:MAX_NAME] + "…", limit=MAX_NAME)
        key = name.casefold()
        if key in seen:
            raise IngestError("column_duplicate", "Two columns are named {name}; column names must differ.", name=name)
        seen[key] = name
        names.append(name)
    if all(_category(n) in ("int", "float") for n in names):
        raise IngestError("no_header", "The first row holds numbers, not column names: the file needs a header row.")
    return names


# -- the table -----------------------------------------------------------------------------------
def _row_error(row: int, field: str | None, code: str, msgid: str, /, **params: Any) -> RowError:
    return RowError(row, field, translate(msgid, **params), code)


def parse(data: bytes, fmt: str, *, declared: list[Column] | None = None, max_rows: int = 1_000_000) -> Table:
    """The upload ``data`` in format ``fmt`` (``CSV``, ``XLSX`` or ``JSON``) as a typed table;
    raises :class:`IngestError` when it cannot be a table at all (see the module docstring)."""
    fmt = (fmt or "").upper()
    if fmt not in FORMATS:
        raise IngestError("format_unknown", "{fmt} is not a table format; upload CSV, XLSX or JSON.", fmt=fmt or "?")
    if declared is not None:
        for col in declared:
            if col.type not in FIELD_TYPES:
                raise ValueError(f"unknown field type {col.type!r} of {col.name!r}")
    workbook = None
    records: list[Any] | None = None
    if fmt == "CSV":
        raw_header, source = _read_csv(data)
    elif fmt == "XLSX":
        raw_header, source, workbook = _read_xlsx(data)
    else:
        raw_header, records = _read_json(data)
        source = None
    try:
        names = _check_names(raw_header)
        errors: list[RowError] = []
        # the columns of the result and where each comes from in the source rows
        if declared is not None:
            by_name = {n: i for i, n in enumerate(names)}
            by_fold = {n.casefold(): i for i, n in enumerate(names)}
            picks: list[int] = []
            missing: list[str] = []
            for col in declared:
                idx = by_name.get(col.name, by_fold.get(col.name.casefold()))
                if idx is None:
                    missing.append(col.name)
                else:
                    picks.append(idx)
            if missing:
                raise IngestError("column_missing", "The file has no column {names}; the catalogue declares it.",
                                  names="、".join(missing))
            extra = [n for i, n in enumerate(names) if i not in set(picks)]
            if extra:
                errors.append(_row_error(0, None, "extra_columns",
                                         "Columns not in the catalogue were left out: {names}.",
                                         names="、".join(extra)))
            columns = list(declared)
        else:
            picks = list(range(len(names)))
            columns = []
        width = len(names)

        # the source rows as lists of cells in header order, with their data row numbers
        raw_rows: list[tuple[int, Any]] = []
        if records is not None:
            for i, rec in enumerate(records, start=1):
                if not isinstance(rec, dict):
                    errors.append(_row_error(i, None, "record_not_object", "Row {row} is not an object.", row=i))
                    continue
                raw_rows.append((i, [rec.get(n) for n in raw_header]))
                if len(raw_rows) > max_rows:
                    break
        else:
            i = 0
            try:
                for r in source:
                    i += 1
                    if not r or all(_empty(v) for v in r):
                        continue
                    if len(r) > width:
                        if any(not _empty(v) for v in r[width:]):
                            errors.append(_row_error(i, None, "row_too_long",
                                                     "Row {row} has {count} values but the header has {width} columns.",
                                                     row=i, count=len(r), width=width))
                            continue
                        r = r[:width]
                    elif len(r) < width:
                        r = list(r) + [None] * (width - len(r))
                    raw_rows.append((i, r))
                    if len(raw_rows) > max_rows:
                        break
            except csv.Error as exc:
                raise IngestError("file_unreadable", "The file is not a readable CSV table: {reason}",
                                  reason=str(exc)) from None
            except Exception:  # noqa: BLE001 - openpyxl on a damaged sheet
                if workbook is None:
                    raise
                raise IngestError("file_unreadable", "The file is not an XLSX workbook.") from None
        if len(raw_rows) > max_rows:
            raise IngestError("too_many_rows", "The table has more than {limit} rows; split it into smaller files.",
                              limit=max_rows)
    finally:
        if workbook is not None:
            workbook.close()

    if declared is None:
        for idx in picks:
            columns.append(Column(names[idx], _infer([r[idx] for _, r in raw_rows])))
    converters = [(idx, col.name, col.type, _CONVERT[col.type]) for idx, col in zip(picks, columns, strict=True)]
    rows: list[tuple] = []
    for i, r in raw_rows:
        out: list[Any] = []
        ok = True
        for idx, name, type_, conv in converters:
            v = r[idx]
            if v is None or (v.__class__ is str and not v.strip()):
                out.append(None)
                continue
            try:
                out.append(conv(v))
            except _Bad:
                ok = False
                errors.append(_row_error(i, name, "value_invalid", "Row {row}, {field}: {value} is not {type}.",
                                         row=i, field=name, value=_shown(v), type=translate(_TYPE_LABEL[type_])))
        if ok:
            rows.append(tuple(out))
    return Table(columns, rows, errors)


def _shown(v: Any) -> str:
    s = _text(v) or ""
    return f"“{s[:40]}…”" if len(s) > 40 else f"“{s}”"

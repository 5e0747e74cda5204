"""The gate: nothing with personal data opens.

``scan(columns, rows, fields, steps)`` applies the recorded de-identification steps to the table in
memory, then

1. looks at **every value of every remaining column**, free text included, for identifiers: resident
   ID numbers (check digit and a plausible birth date), unified social credit codes (check
   character), mobile numbers, bank cards (Luhn) and e-mail addresses — candidates from one compiled
   pattern, each confirmed by its validator (:func:`yiwang.core.validators.find_identifiers`);
2. checks the **grades**: a field of sensitivity 3 or more (一般 level 3–4, 重要, 核心) must be
   handled by a step; a 核心 field only by ``drop``;
3. checks **k-anonymity** when fields are declared quasi-identifiers: after the steps every
   combination of their values must occur at least ``k`` times.

It passes only with no hit, no graded field unhandled and k-anonymity met. ``apply(columns, rows,
steps)`` gives the de-identified table that opens.

Bank cards. Any 13–19-digit number passes the Luhn check one time in ten, so codes (bus stops,
orders, meters) would hit by chance. A Luhn-valid number counts as a card when

- its column's name says it holds cards or accounts (卡, 账号/帐号, 账户, 银行, card, account, bank,
  pan), or
- it carries the prefix and length of a card issuer in use in China (UnionPay 62, Visa 4,
  Mastercard 51–55/2221–2720, Amex 34/37, JCB 3528–3589) **and** its column is not a column of codes:
  among the column's standalone 13–19-digit numbers with an issuer prefix at least half pass Luhn
  (codes pass one time in ten; a column carrying cards passes nearly always). A card written
  inside free text is the only such number in its column and so always counts.

Steps (:class:`Step`):

- ``drop``: the column is removed.
- ``mask``: an identifier keeps its first 3 and last 4 characters, the rest starred, the length kept
  (``110***********1234``, ``138****5678``); an e-mail keeps the first character and the domain
  (``z***@example.com``). A value holding identifiers inside text has just those masked, the text
  left. With ``to=None`` a value with no identifier is masked whole, first and last character kept
  (``张*明``, as :func:`yiwang.core.masking.mask` ``first_last``) — for names and addresses; with
  ``to="identifiers"`` it is left as it is — for free text (备注) whose words may open.
- ``generalise``: ``to="year"`` (a date, date-time or date text → its year; an ID number → the year
  of birth), ``to="district"`` (an area code → its first 6 digits; a Chinese address → up to and
  including the first district word 区/县/旗 (not 自治区, not 小区 and the like), else up to the
  first 市), ``to="range:<width>"`` (a number → ``40-49``). A value that does not generalise becomes
  empty (suppressed), never kept as it was.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from yiwang.core import masking
from yiwang.core.context import locale_var
from yiwang.core.errors import ValidationFailed
from yiwang.core.i18n import DEFAULT_LOCALE, translate
from yiwang.core.validators import (
    IDENTIFIER_PATTERN,
    card_issuer_ok,
    classify_identifier,
    is_valid_resident_id,
)
from yiwang.datacat.ingest import Column
from yiwang.datacat.models import sensitivity

ACTIONS = ("mask", "generalise", "drop")
GENERALISE_TO = ("year", "district")
MASK_TO = ("identifiers",)
KINDS = ("resident_id", "uscc", "mobile", "bank_card", "email")
KIND_LABELS = {
    "resident_id": "valid resident ID numbers",
    "uscc": "valid unified social credit codes",
    "mobile": "mobile numbers",
    "bank_card": "bank card numbers",
    "email": "e-mail addresses",
}
MESSAGES = {
    "passed": "Passed: no personal identifiers found, graded fields handled.",
    "hit": "field “{field}” rows {rows}{more} hold {count} {kind}",
    "core": "field “{field}” is core data: only dropping it lets the data open, masking or generalising is not enough",
    "graded": "field “{field}” is graded: mask, generalise or drop it before opening",
    "k": "k-anonymity not met (k = {k}, quasi-identifiers {fields}): the smallest group has {smallest} rows, "
         "{below} rows are in groups smaller than {k}",
    "refused": "Refused: {reasons}.",
}
"""The msgids of the report's message (translated in datacat.po)."""
CARD_COLUMN = re.compile(r"卡|账号|帐号|账户|帐户|银行|card|account|acct|bank|\bpan\b", re.IGNORECASE)
_SEP = "\x00"
"""Joins a column's cells into one text for the scan; no pattern matches it, so no candidate spans
two cells."""


class StepInvalid(ValidationFailed):
    code = "datacat_step_invalid"
    message = "The de-identification step for {field} is not valid: {reason}"

    def render(self, locale: str | None = None) -> str:
        params = dict(self.params)
        params["reason"] = translate(str(params.get("reason", "")), locale)
        return translate(self.msgid, locale, **params)


# -- steps -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldRule:
    name: str
    grade: str
    level: int
    quasi_identifier: bool


@dataclass(frozen=True)
class Step:
    """A recorded de-identification step (kept with the version that opened)."""

    field: str
    action: str
    """``mask``, ``generalise`` or ``drop``."""
    to: str | None = None
    """generalise: ``year``, ``district`` or ``range:<width>``; mask: None or ``identifiers``."""

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "action": self.action, "to": self.to}

    @classmethod
    def from_dict(cls, data: Any) -> Step:
        """A step from its JSON form; raises :class:`StepInvalid` for anything malformed."""
        if not isinstance(data, dict):
            raise StepInvalid(field="?", reason="a step is an object with field, action and to")
        name, action, to = data.get("field"), data.get("action"), data.get("to")
        if not isinstance(name, str) or not name:
            raise StepInvalid(field="?", reason="a step is an object with field, action and to")
        if not isinstance(action, str) or (to is not None and not isinstance(to, str)):
            raise StepInvalid(field=name, reason="a step is an object with field, action and to")
        step = cls(name, action, to)
        step.check()
        return step

    def check(self) -> None:
        """Raises :class:`StepInvalid` unless the action and its ``to`` are known."""
        if self.action not in ACTIONS:
            raise StepInvalid(field=self.field, reason="the action must be mask, generalise or drop")
        if self.action == "drop" and self.to is not None:
            raise StepInvalid(field=self.field, reason="drop takes no target")
        if self.action == "mask" and self.to is not None and self.to not in MASK_TO:
            raise StepInvalid(field=self.field, reason="mask takes no target, or identifiers")
        if self.action == "generalise" and self.to not in GENERALISE_TO and _range_width(self.to) is None:
            raise StepInvalid(field=self.field,
                              reason="generalise to year, district or range:<width> with a positive whole width")


def _range_width(to: str | None) -> int | None:
    if not to or not to.startswith("range:"):
        return None
    w = to[6:]
    if not w.isascii() or not w.isdigit() or not 0 < int(w) <= 10**12:
        return None
    return int(w)


# -- masking -----------------------------------------------------------------------------------
def mask_text(s: str, *, card_column: bool = False, whole: bool = True) -> str:
    """``s`` with every identifier in it masked (:func:`yiwang.core.masking.mask_identifiers`)."""
    return masking.mask_identifiers(s, card_column=card_column, whole=whole)


def _as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return str(v)


# -- generalising ------------------------------------------------------------------------------
_YEAR_TEXT = re.compile(r"\s*(\d{4})(?:[-/.年]\d{1,2}|\d{4}(?!\d))")
_AREA_CODE = re.compile(r"\d{6}(?:\d{3}|\d{6})?")
_DISTRICT = re.compile(
    r"^(.*?(?:市辖区|(?<![小社园校厂营景矿军街])(?<!自治)区|(?<!自治)县|自治县|旗))"
)
_CITY = re.compile(r"^(.*?市)")


def _year(v: Any) -> int | None:
    if isinstance(v, (date, datetime)):
        return v.year
    if isinstance(v, str):
        s = v.strip()
        if is_valid_resident_id(s):
            return int(s[6:10])
        m = _YEAR_TEXT.match(s)
        if m and 1000 <= int(m.group(1)) <= 9999:
            return int(m.group(1))
    return None


def _district(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        v = str(v)
    if not isinstance(v, str):
        return None
    s = v.strip()
    if _AREA_CODE.fullmatch(s):
        return s[:6]
    m = _DISTRICT.match(s)
    if m and len(m.group(1)) >= 2:
        return m.group(1)
    m = _CITY.match(s)
    if m and len(m.group(1)) >= 2:
        return m.group(1)
    return None


def _range(v: Any, width: int) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v.strip().replace(",", ""))
        except ValueError:
            return None
    if not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        return None
    lo = (math.floor(v) // width) * width
    return f"{lo}-{lo + width - 1}"


# -- applying the steps ------------------------------------------------------------------------
def apply(columns: Sequence[Column], rows: Sequence[tuple], steps: Sequence[Step]) -> tuple[list[Column], list[tuple]]:
    """The table after ``steps``, in order (see the module docstring for each action); raises
    :class:`StepInvalid` for an unknown action or a step on a column the table does not have."""
    cols = list(columns)
    data: list[list[Any]] | None = None  # column-wise, built on the first step
    for step in steps:
        step.check()
        names = [c.name for c in cols]
        if step.field not in names:
            raise StepInvalid(field=step.field, reason="the table has no such column")
        if data is None:
            data = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in cols]
        i = names.index(step.field)
        if step.action == "drop":
            del cols[i]
            del data[i]
            continue
        values = data[i]
        if step.action == "mask":
            card = CARD_COLUMN.search(step.field) is not None
            whole = step.to is None
            data[i] = [None if v is None else mask_text(_as_text(v), card_column=card, whole=whole) for v in values]
            cols[i] = Column(step.field, "text")
        elif step.to == "year":
            data[i] = [_year(v) for v in values]
            cols[i] = Column(step.field, "integer")
        elif step.to == "district":
            data[i] = [_district(v) for v in values]
            cols[i] = Column(step.field, "text")
        else:
            width = _range_width(step.to)
            assert width is not None  # step.check()
            data[i] = [_range(v, width) for v in values]
            cols[i] = Column(step.field, "text")
    if data is None:
        return cols, list(rows)
    if not cols:
        return cols, [() for _ in rows]
    return cols, list(zip(*data, strict=True))


# -- the report --------------------------------------------------------------------------------
@dataclass
class Hit:
    kind: str
    """``resident_id``, ``uscc``, ``mobile``, ``bank_card`` or ``email``."""
    field: str
    rows: list[int]
    """The first rows (1-based positions in the table) where it occurs."""
    count: int
    """How many were found in the column (every occurrence, not only the rows listed)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "rows": list(self.rows), "count": self.count}


@dataclass
class KResult:
    k: int
    quasi_identifiers: list[str]
    smallest: int
    """The size of the smallest class of rows sharing their quasi-identifier values (0: no rows)."""
    rows_below: int
    """How many rows are in classes smaller than ``k``."""
    classes: int
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "quasi_identifiers": list(self.quasi_identifiers), "smallest": self.smallest,
                "rows_below": self.rows_below, "classes": self.classes, "passed": self.passed}


@dataclass
class Report:
    passed: bool
    hits: list[Hit]
    graded: list[str]
    """Fields refused by their grade: of sensitivity 3 or more with no step, or 核心 and not dropped."""
    k_anonymity: KResult | None
    rows_scanned: int
    core: list[str] = field(default_factory=list)
    """Those of ``graded`` that are 核心 fields (only ``drop`` lets them through)."""

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "hits": [h.to_dict() for h in self.hits], "graded": list(self.graded),
                "core": list(self.core),
                "k_anonymity": self.k_anonymity.to_dict() if self.k_anonymity else None,
                "rows_scanned": self.rows_scanned}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """A report from :meth:`to_dict`'s form (as kept on the version)."""
        k = d.get("k_anonymity")
        return cls(passed=bool(d["passed"]), hits=[Hit(**h) for h in d.get("hits", [])],
                   graded=list(d.get("graded", [])), k_anonymity=KResult(**k) if k else None,
                   rows_scanned=int(d.get("rows_scanned", 0)), core=list(d.get("core", [])))

    def message(self, locale: str | None = None) -> str:
        """What the gate found, in ``locale`` (the request's when None): the fields and first rows
        that hit, the graded fields refused, the k-anonymity result."""
        zh = (locale or locale_var.get() or DEFAULT_LOCALE) != "en"
        sep = "、" if zh else ", "
        if self.passed:
            return translate(MESSAGES["passed"], locale)
        parts: list[str] = []
        for h in self.hits:
            rows = sep.join(str(r) for r in h.rows)
            more = "…" if h.count > len(h.rows) else ""
            parts.append(translate(MESSAGES["hit"], locale, field=h.field,
                                   rows=rows, more=more, count=h.count, kind=translate(KIND_LABELS[h.kind], locale)))
        for name in self.graded:
            if name in self.core:
                parts.append(translate(MESSAGES["core"], locale, field=name))
            else:
                parts.append(translate(MESSAGES["graded"], locale, field=name))
        k = self.k_anonymity
        if k is not None and not k.passed:
            parts.append(translate(MESSAGES["k"], locale,
                                   k=k.k, fields=sep.join(k.quasi_identifiers), smallest=k.smallest,
                                   below=k.rows_below))
        return translate(MESSAGES["refused"], locale, reasons=("；" if zh else "; ").join(parts))

    def message_zh(self) -> str:
        return self.message("zh_Hans_CN")


# -- the scan ----------------------------------------------------------------------------------
def _cell_texts(values: list[Any]) -> list[str]:
    """The text of each cell that could hold an identifier; "" for one that cannot (a date, a bool,
    a number too short or too long to be a mobile, an ID or a card)."""
    out: list[str] = []
    append = out.append
    for v in values:
        t = v.__class__
        if t is str:
            append(v)
        elif t is int:
            append(str(v) if 10**10 <= abs(v) < 10**19 else "")
        elif t is float:
            append(str(int(v)) if v.is_integer() and 10**10 <= abs(v) < 10**19 else "")
        else:
            append("")
    return out


def _confirm(group: str | None, text: str, card_column: bool) -> tuple[str | None, bool]:
    """(the kind of a candidate or None, whether it is a number with a card issuer's prefix outside a
    card column — counted for the column's card rule instead of being a hit at once)."""
    assert group is not None
    kind = classify_identifier(group, text, card_column=card_column)
    if card_column or kind not in (None, "bank_card"):
        return kind, False
    digits = text if group == "num" else text.replace(" ", "").replace("-", "") if group == "card" else ""
    return kind, 13 <= len(digits) <= 19 and card_issuer_ok(digits)


def _scan_column(name: str, values: list[Any], max_rows_listed: int) -> list[Hit]:
    texts = _cell_texts(values)
    joined = _SEP.join(texts)
    if not joined.strip(_SEP):
        return []
    starts: list[int] = []
    pos = 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    card_column = CARD_COLUMN.search(name) is not None
    found: dict[str, tuple[list[int], list[int]]] = {}  # kind → (rows listed, [count])
    card_candidates = 0
    cache: dict[tuple[str | None, str], tuple[str | None, bool]] = {}
    maybe_cards: list[int] = []  # rows of issuer-prefixed Luhn-valid numbers, outside card columns
    for m in IDENTIFIER_PATTERN.finditer(joined):
        group = m.lastgroup
        text = m.group()
        key = (group, text)
        seen = cache.get(key)
        if seen is None:  # codes repeat down a column: confirm each distinct candidate once
            seen = cache[key] = _confirm(group, text, card_column)
        kind, card_candidate = seen
        if kind is None and not card_candidate:
            continue
        row = bisect.bisect_right(starts, m.start())  # the 1-based row of the cell the match is in
        if card_candidate:
            card_candidates += 1
            if kind == "bank_card":
                maybe_cards.append(row)
            continue
        entry = found.setdefault(kind, ([], [0]))
        entry[1][0] += 1
        if len(entry[0]) < max_rows_listed and (not entry[0] or entry[0][-1] != row):
            entry[0].append(row)
    if maybe_cards and len(maybe_cards) * 2 >= card_candidates:
        rows_listed: list[int] = []
        for row in maybe_cards:
            if len(rows_listed) >= max_rows_listed:
                break
            if not rows_listed or rows_listed[-1] != row:
                rows_listed.append(row)
        found["bank_card"] = (rows_listed, [len(maybe_cards)])
    return [Hit(kind, name, found[kind][0], found[kind][1][0]) for kind in KINDS if kind in found]


def _k_anonymity(columns: list[Column], rows: list[tuple], qi: list[str], k: int) -> KResult:
    names = [c.name for c in columns]
    idx = [names.index(n) for n in qi]
    if not idx:
        counts: Counter = Counter()
    elif len(idx) == 1:
        i = idx[0]
        counts = Counter(r[i] for r in rows)
    else:
        counts = Counter(tuple(r[i] for i in idx) for r in rows)
    smallest = min(counts.values()) if counts else 0
    below = sum(c for c in counts.values() if c < k)
    return KResult(k=k, quasi_identifiers=qi, smallest=smallest, rows_below=below, classes=len(counts),
                   passed=below == 0)


def scan(columns: Sequence[Column], rows: Sequence[tuple], fields: Sequence[FieldRule], steps: Sequence[Step], *,
         k: int = 5, max_rows_listed: int = 20) -> Report:
    """The gate's report on the table after ``steps``: identifier hits by column with the first
    rows, graded fields not handled, k-anonymity over the quasi-identifiers; ``passed`` only when
    nothing is wrong. Raises :class:`StepInvalid` for a step that cannot apply."""
    cols, out_rows = apply(columns, rows, steps)
    hits: list[Hit] = []
    if out_rows and cols:
        for col, values in zip(cols, zip(*out_rows, strict=True), strict=True):
            hits.extend(_scan_column(col.name, list(values), max_rows_listed))

    present = {c.name for c in columns}
    handled: dict[str, set[str]] = {}
    for s in steps:
        handled.setdefault(s.field, set()).add(s.action)
    graded: list[str] = []
    core: list[str] = []
    for f in fields:
        if f.name not in present or sensitivity(f.grade, f.level) < 3:
            continue
        actions = handled.get(f.name, set())
        if f.grade == "core":
            if "drop" not in actions:
                graded.append(f.name)
                core.append(f.name)
        elif not actions:
            graded.append(f.name)

    kres: KResult | None = None
    quasi = [f.name for f in fields if f.quasi_identifier and f.name in present]
    if quasi:
        remaining = {c.name for c in cols}
        kres = _k_anonymity(cols, list(out_rows), [n for n in quasi if n in remaining], k)
    passed = not hits and not graded and (kres is None or kres.passed)
    return Report(passed=passed, hits=hits, graded=graded, k_anonymity=kres, rows_scanned=len(out_rows), core=core)

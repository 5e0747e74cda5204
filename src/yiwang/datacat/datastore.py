"""The datastore: where the rows of opened tables live, and how CKAN's ``datastore_search`` and
``datastore_search_sql`` read them (docs/adr/0012-datastore.md).

The datastore is a database of its own: on SQLite a file beside the main one
(``<stem>-datastore.db``), on PostgreSQL the schema ``datastore`` — unless the ``datastore_url``
setting names another place. Only tables that passed the gate are written here, so a query run
in it cannot reach people, applications or the audit trail: there is nothing else to reach.

Each open table distribution is one table named by the distribution's id (CKAN names datastore
tables by resource id), with CKAN's row id ``_id`` (1..n) and the fields under their own names,
always quoted (Chinese names are fine). Types map from ``models.FIELD_TYPES``.

Records come back JSON-ready, as CKAN's API gives them: dates as ``YYYY-MM-DD``, timestamps as
``YYYY-MM-DDTHH:MM:SS`` (local time without a zone, as the ingest gives them; an aware value
is converted to China Standard Time), booleans and numbers as
themselves, missing values as None. ``fields`` tell their types in CKAN's words.

Free SQL (``search_sql``) passes three independent guards: the statement is parsed with sqlglot
and must be one SELECT over allowed tables with allowed functions only, then the SQL regenerated
from that tree (not the text given) runs on a read-only connection — SQLite opened with
``mode=ro``, an authorizer that again allows only reads of the allowed tables and the allowed
functions, and a progress handler that stops it after a number of VM steps or a wall-clock
limit; PostgreSQL in a READ ONLY transaction with ``statement_timeout`` and ``search_path``
set to the datastore schema.

Errors are :class:`DatastoreError` with a ``kind`` the CKAN API layer maps to CKAN's error types
(``validation`` → ValidationError, ``not_found`` → NotFound, ``not_authorized`` → NotAuthorized,
``invalid_query``/``timeout`` → ValidationError on ``query``), an English msgid and params; the
Chinese text is in ``datacat.po``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    and_,
    false,
    func,
    or_,
    select,
    text,
)
from sqlalchemy import Column as SAColumn
from sqlalchemy.engine import make_url
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError

from yiwang.core.db import make_engine
from yiwang.core.settings import Settings
from yiwang.datacat.ingest import CHINA, Column

__all__ = [
    "ALLOWED_FUNCTIONS",
    "Column",
    "DatastoreError",
    "ROWS_MAX",
    "dispose_engines",
    "drop",
    "exists",
    "export",
    "info",
    "replace",
    "search",
    "search_sql",
]

# sqlglot warns with the query's text when it falls back to a bare command; we refuse those anyway,
# and text that anyone on the internet sends does not belong in the logs.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

SCHEMA = "datastore"
ROWS_MAX = 32_000
"""The most records one search returns (CKAN's ``ckan.datastore.search.rows_max``)."""
DEFAULT_LIMIT = 100
BATCH = 5_000
"""Rows per executemany when loading, and per read when exporting."""
DEFAULT_COST_LIMIT = 20_000_000
"""SQLite VM steps a free SQL query may take (a few hundred milliseconds of work)."""
DEFAULT_TIMEOUT_MS = 5_000
"""Wall-clock limit of a free SQL query (PostgreSQL ``statement_timeout``; SQLite checks it too)."""
SQLITE_MAX_LENGTH = 10_000_000
"""The longest string or blob a free SQL query may build on SQLite (guards replace()/concat blow-ups)."""
XLSX_MAX_ROWS = 1_048_575
"""An XLSX sheet holds 1,048,576 rows, one of them the header."""
CSV_BOM = "\ufeff".encode()

_TABLE_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_FORBIDDEN_NAME = re.compile(r'["\x00-\x1f\x7f]')

CKAN_TYPES = {"text": "text", "integer": "int", "number": "numeric", "date": "date",
              "datetime": "timestamp", "boolean": "bool"}
"""Our field types in CKAN datastore's words."""
_SA_TYPES: dict[str, Any] = {"text": Text, "integer": BigInteger, "number": Double, "date": Date,
                             "datetime": DateTime, "boolean": lambda: Boolean(create_constraint=False)}
_DECLARED = {
    # SQLite's declared types (PRAGMA table_info) and PostgreSQL's information_schema data_type
    "text": "text", "bigint": "integer", "integer": "integer", "double": "number",
    "double precision": "number", "float": "number", "real": "number", "date": "date",
    "datetime": "datetime", "timestamp": "datetime", "timestamp without time zone": "datetime",
    "boolean": "boolean",
}

ALLOWED_FUNCTIONS = frozenset({
    # aggregates
    "count", "sum", "avg", "min", "max", "total", "groupconcat", "group_concat", "stringagg",
    "string_agg", "stddev", "stddevpop", "stddevsamp", "stddev_pop", "stddev_samp", "variance",
    "variancepop", "var_pop", "var_samp", "logicaland", "logicalor", "bool_and", "bool_or",
    "percentilecont", "percentiledisc", "percentile_cont", "percentile_disc", "median",
    # window functions
    "rownumber", "row_number", "rank", "denserank", "dense_rank", "ntile", "lag", "lead",
    "firstvalue", "first_value", "lastvalue", "last_value", "nthvalue", "nth_value",
    "percentrank", "percent_rank", "cumedist", "cume_dist",
    # strings
    "lower", "upper", "length", "char_length", "character_length", "substring", "substr", "trim",
    "ltrim", "rtrim", "btrim", "replace", "instr", "strpos", "strposition", "position", "concat",
    "concatws", "concat_ws", "left", "right", "reverse", "splitpart", "split_part", "initcap",
    "like", "ilike", "glob",
    # numbers
    "abs", "round", "ceil", "ceiling", "floor", "trunc", "mod", "pow", "power", "sqrt", "exp",
    "ln", "log", "log10", "sign", "greatest", "least", "pi", "sin", "cos", "tan", "asin", "acos",
    "atan", "atan2", "degrees", "radians",
    # null handling and conditions
    "coalesce", "nullif", "ifnull", "if", "iif",
    # dates and times
    "date", "time", "datetime", "julianday", "strftime", "unixepoch", "timetostr", "datetrunc",
    "timestamptrunc", "date_trunc", "datepart", "date_part", "extract", "tochar", "to_char",
    "strtodate", "to_date", "strtotime", "to_timestamp", "currentdate", "current_date",
    "currenttimestamp", "current_timestamp", "now", "age", "makedate", "make_date",
    "tsordstotimestamp", "tsordstodate", "timestrtotime",
    # casts (the target type is checked separately)
    "cast", "trycast",
})
"""Functions allowed in free SQL: sqlglot's node keys (e.g. ``groupconcat``) and, for functions
sqlglot does not know, their SQL names. Anything else — ``pg_*``, ``current_setting``,
``set_config``, ``load_extension``, ``readfile``, ``printf``, ``zeroblob``, ``lpad``, ``repeat``,
``generate_series``, ``query_to_xml``, ``dblink`` … — is refused."""

_SQLITE_FUNCTIONS = frozenset({
    "count", "sum", "avg", "min", "max", "total", "group_concat", "string_agg", "lower", "upper",
    "length", "substr", "substring", "trim", "ltrim", "rtrim", "replace", "instr", "concat",
    "concat_ws", "like", "glob", "abs", "round", "ceil", "ceiling", "floor", "trunc", "mod",
    "pow", "power", "sqrt", "exp", "ln", "log", "log10", "sign", "pi", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "degrees", "radians", "coalesce", "nullif", "ifnull", "iif",
    "date", "time", "datetime", "julianday", "strftime", "unixepoch", "row_number", "rank",
    "dense_rank", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
    "percent_rank", "cume_dist",
})
"""What SQLite's authorizer lets a free query call (its own function names)."""

_ALLOWED_CASTS = frozenset({
    exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR,
    exp.DataType.Type.NVARCHAR, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
    exp.DataType.Type.SMALLINT, exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE,
    exp.DataType.Type.FLOAT, exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.DATETIME, exp.DataType.Type.BOOLEAN,
})
_PG_SESSION_WORDS = frozenset({"user", "current_user", "current_role", "session_user", "system_user",
                               "current_schema", "current_catalog"})
_REFUSED_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
                  exp.Command, exp.Pragma, exp.Set, exp.Into, exp.Lock, exp.Placeholder,
                  exp.Parameter, exp.Transaction, exp.Commit, exp.Rollback, exp.Use,
                  exp.Copy, exp.Attach, exp.Detach, exp.LoadData)


class DatastoreError(Exception):
    """A datastore request that cannot be served; ``kind`` says which CKAN error it becomes.

    ``key`` names the input at fault (a field, ``filters``, ``sort``, ``query`` …); ``msgid`` is
    English and translated with ``params`` by :meth:`render`."""

    KINDS = ("validation", "not_found", "not_authorized", "invalid_query", "timeout", "too_large")

    def __init__(self, kind: str, msgid: str, /, key: str | None = None, **params: Any) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown datastore error kind {kind!r}")
        self.kind = kind
        self.msgid = msgid
        self.key = key
        self.params = params
        super().__init__(msgid.format(**params) if params else msgid)

    @property
    def code(self) -> str:
        return f"datastore_{self.kind}"

    def render(self, locale: str | None = None) -> str:
        """The message in the given locale (Simplified Chinese by default)."""
        from yiwang.core.i18n import translate

        params = dict(self.params)
        if "type" in params:  # a field type in the reader's words too (msgids "field type:integer" …)
            params["type"] = translate(f"field type:{params['type']}", locale).split(":", 1)[-1]
        return translate(self.msgid, locale, **params)

    def error_dict(self, locale: str | None = None) -> dict[str, list[str]]:
        """CKAN's ValidationError form: ``{key: [message]}``."""
        return {self.key or ("query" if self.kind in ("invalid_query", "timeout") else "message"):
                [self.render(locale)]}


# --- where the datastore is -----------------------------------------------------------------

_engines: dict[tuple[str, str], Engine] = {}
_engines_lock = threading.Lock()


def _url(settings: Settings) -> str:
    if settings.datastore_url:
        return settings.datastore_url
    main = settings.resolved_database_url
    if main.startswith("sqlite"):
        path = make_url(main).database or ""
        if not path or path == ":memory:":
            raise ValueError("the datastore needs a file database or the datastore_url setting")
        p = Path(path)
        return f"sqlite:///{(p.parent / f'{p.stem}-datastore.db').as_posix()}"
    return main


def _engine(settings: Settings) -> Engine:
    """One engine per datastore URL (WAL, busy timeout and durability as the main SQLite DB)."""
    url = _url(settings)
    key = (url, settings.sqlite_synchronous)
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = make_engine(settings.model_copy(update={"database_url": url}))
            if engine.dialect.name == "postgresql":
                with engine.connect() as conn:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
                    conn.commit()
            _engines[key] = engine
    return engine


def dispose_engines() -> None:
    """Close every datastore engine (tests; a process about to fork)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _schema(engine: Engine) -> str | None:
    return SCHEMA if engine.dialect.name == "postgresql" else None


def _reader(engine: Engine) -> Engine:
    return engine.execution_options(sqlite_begin="DEFERRED") if engine.dialect.name == "sqlite" else engine


def _check_id(table_id: str) -> str:
    if not isinstance(table_id, str) or not _TABLE_ID.match(table_id):
        raise DatastoreError("validation", "{value} is not the id of a table.", key="resource_id",
                             value=str(table_id)[:40])
    return table_id


def _table(table_id: str, columns: list[Column], schema: str | None, *, pk_name: str | None = None) -> Table:
    cols = [SAColumn("_id", BigInteger, autoincrement=False, nullable=False)]
    cols += [SAColumn(c.name, _SA_TYPES[c.type](), quote=True) for c in columns]
    return Table(table_id, MetaData(), *cols, PrimaryKeyConstraint("_id", name=pk_name), schema=schema,
                 quote=True)


# --- columns and values -----------------------------------------------------------------------


def _check_columns(columns: list[Column]) -> None:
    seen: set[str] = set()
    for c in columns:
        name = c.name
        if c.type not in _SA_TYPES:
            raise DatastoreError("validation", "{type} is not a field type.", key=name, type=str(c.type))
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise DatastoreError("validation", "A field needs a name without spaces around it.", key="fields")
        if name.startswith("_"):
            raise DatastoreError("validation", "Field names cannot start with '_': {name}.", key=name, name=name)
        if _FORBIDDEN_NAME.search(name):
            raise DatastoreError("validation", "Field {name} has a character a name cannot have.",
                                 key=name, name=name)
        if len(name.encode()) > 63:  # PostgreSQL cuts identifiers at 63 bytes (21 Chinese characters)
            raise DatastoreError("validation", "Field name {name} is too long (at most 63 bytes).",
                                 key=name, name=name)
        if name.lower() in seen:  # SQLite's names ignore case
            raise DatastoreError("validation", "Field {name} appears twice.", key=name, name=name)
        seen.add(name.lower())


def _naive_local(value: datetime) -> datetime:
    """Timestamps are local wall-clock time without a zone (as the ingest gives them); an aware
    value is turned into China Standard Time first."""
    return value if value.tzinfo is None else value.astimezone(CHINA).replace(tzinfo=None)


def _converter(kind: str):
    """A function checking one Python value for a column of this type (None passes)."""

    def text_(v: Any) -> Any:
        if v is None or isinstance(v, str):
            return v
        raise TypeError

    def integer(v: Any) -> Any:
        if v is None or (isinstance(v, int) and not isinstance(v, bool)):
            return v
        raise TypeError

    def number(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            f = float(v)
            return f if math.isfinite(f) else None
        raise TypeError

    def date_(v: Any) -> Any:
        if v is None or (isinstance(v, date) and not isinstance(v, datetime)):
            return v
        raise TypeError

    def datetime_(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, datetime):
            return _naive_local(v)
        raise TypeError

    def boolean(v: Any) -> Any:
        if v is None or isinstance(v, bool):
            return v
        raise TypeError

    return {"text": text_, "integer": integer, "number": number, "date": date_,
            "datetime": datetime_, "boolean": boolean}[kind]


def _parse_value(kind: str, value: Any, field: str) -> Any:
    """A filter's value (from JSON or a query string) as the column's Python type."""
    if value is None:
        return None
    try:
        if kind == "text":
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) \
                if isinstance(value, (dict, list)) else str(value)
        if kind == "integer":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(value) if isinstance(value, int) else int(str(value).strip())
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            f = float(value)
            if not math.isfinite(f):
                raise ValueError
            return f
        if kind == "date":
            return value if isinstance(value, date) and not isinstance(value, datetime) \
                else date.fromisoformat(str(value).strip()[:10])
        if kind == "datetime":
            return _naive_local(value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip()))
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in ("true", "t", "1", "yes", "是"):
            return True
        if word in ("false", "f", "0", "no", "否"):
            return False
        raise ValueError
    except (ValueError, TypeError):
        raise DatastoreError("validation", "{value} is not a valid {type} for field {field}.", key="filters",
                             value=str(value)[:40], type=kind, field=field) from None


def _out(value: Any) -> Any:
    """A stored value as JSON gives it."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _naive_local(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


# --- writing ----------------------------------------------------------------------------------


def replace(settings: Settings, table_id: str, columns: list[Column], rows: Iterable[tuple]) -> int:
    """Replace the table's contents with these rows, atomically; returns how many were loaded.

    The new rows go into ``<id>__new``, which then takes the old table's place in the same
    transaction: a reader sees the old table or the new one, never half of either. A row of the
    wrong length or a value of the wrong type refuses the whole load (nothing changes)."""
    _check_id(table_id)
    columns = list(columns)
    _check_columns(columns)
    engine = _engine(settings)
    schema = _schema(engine)
    tmp_name = f"{table_id}__new"
    pk = f"{tmp_name}_pkey" if schema else None
    tmp = _table(tmp_name, columns, schema, pk_name=pk)
    old = _table(table_id, [], schema)
    convert = [_converter(c.type) for c in columns]
    keys = ["_id"] + [c.name for c in columns]
    width = len(columns)
    count = 0
    with engine.begin() as conn:
        tmp.drop(conn, checkfirst=True)  # left by a load that died half way
        tmp.create(conn)
        insert = tmp.insert()
        batch: list[dict[str, Any]] = []
        for row in rows:
            count += 1
            if len(row) != width:
                raise DatastoreError("validation", "Row {row} has {got} values; the table has {want} fields.",
                                     key="records", row=count, got=len(row), want=width)
            values: dict[str, Any] = {"_id": count}
            for i, (name, conv) in enumerate(zip(keys[1:], convert, strict=True)):
                try:
                    values[name] = conv(row[i])
                except TypeError:
                    raise DatastoreError("validation", "Row {row}: {value} is not a valid {type} for field {field}.",
                                         key=name, row=count, value=str(row[i])[:40], type=columns[i].type,
                                         field=name) from None
            batch.append(values)
            if len(batch) >= BATCH:
                conn.execute(insert, batch)
                batch = []
        if batch:
            conn.execute(insert, batch)
        old.drop(conn, checkfirst=True)
        q = conn.dialect.identifier_preparer.quote
        prefix = f"{q(schema)}." if schema else ""
        conn.exec_driver_sql(f"ALTER TABLE {prefix}{q(tmp_name)} RENAME TO {q(table_id)}")
        if schema:  # keep the index name free for the next load's __new table
            conn.exec_driver_sql(f"ALTER INDEX {prefix}{q(pk)} RENAME TO {q(table_id + '_pkey')}")
    return count


def drop(settings: Settings, table_id: str) -> None:
    """Remove the table (a distribution withdrawn or no longer a table); no error if it is absent."""
    _check_id(table_id)
    engine = _engine(settings)
    with engine.begin() as conn:
        _table(table_id, [], _schema(engine)).drop(conn, checkfirst=True)
        _table(f"{table_id}__new", [], _schema(engine)).drop(conn, checkfirst=True)


# --- reading ----------------------------------------------------------------------------------


def _columns(conn: Any, table_id: str, schema: str | None) -> list[Column]:
    if schema is None:
        got = conn.exec_driver_sql(f'PRAGMA table_info("{table_id}")').all()
        declared = [(r[1], r[2]) for r in got]
    else:
        declared = [tuple(r) for r in conn.execute(text(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"),
            {"s": schema, "t": table_id}).all()]
    if not declared:
        raise DatastoreError("not_found", "There is no datastore table {ref}.", key="resource_id", ref=table_id)
    return [Column(name, _DECLARED.get(str(kind).lower(), "text")) for name, kind in declared if name != "_id"]


def exists(settings: Settings, table_id: str) -> bool:
    """Whether the datastore holds a table of this id."""
    try:
        info(settings, table_id)
    except DatastoreError as e:
        if e.kind == "not_found":
            return False
        raise
    return True


def info(settings: Settings, table_id: str) -> list[dict[str, str]]:
    """The table's fields in CKAN's form, ``_id`` first (``datastore_info``, ``resource_show``)."""
    _check_id(table_id)
    engine = _engine(settings)
    with _reader(engine).connect() as conn:
        cols = _columns(conn, table_id, _schema(engine))
    return [{"id": "_id", "type": "int"}] + [{"id": c.name, "type": CKAN_TYPES[c.type]} for c in cols]


def _field_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _unknown(key: str, name: Any) -> DatastoreError:
    return DatastoreError("validation", "The table has no field {field}.", key=key, field=str(name)[:80])


def _sort_terms(sort: str, by_name: dict[str, Any], key: str = "sort") -> list[Any]:
    terms = []
    for part in sort.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r'(?:"([^"]+)"|(\S+?))(?:\s+(asc|desc))?', part, re.IGNORECASE)
        if m is None:
            raise DatastoreError("validation", "Cannot sort by {value}; write \"field\" or \"field desc\".",
                                 key=key, value=part[:80])
        name = m.group(1) or m.group(2)
        if name not in by_name:
            raise _unknown(key, name)
        col = by_name[name]
        # NULLs sort as PostgreSQL (CKAN) puts them, on SQLite too: last going up, first going down
        terms.append(col.desc().nulls_first() if (m.group(3) or "").lower() == "desc" else col.asc().nulls_last())
    return terms


def _like(value: str) -> str:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    settings: Settings,
    table_id: str,
    *,
    filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None,
    fields: list[str] | str | None = None,
    sort: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    include_total: bool = True,
) -> dict[str, Any]:
    """CKAN's ``datastore_search``: records by filters (equality; a list means any of), ``q``,
    chosen ``fields``, ``sort``, ``limit`` (at most :data:`ROWS_MAX`) and ``offset``.

    ``q`` as text matches records where any text field contains it (case-insensitive substring,
    ``%`` and ``_`` taken literally); as a dict, each named text field must contain its text.
    Unknown fields are a ``validation`` error; a missing table is ``not_found``. ``total`` counts
    every match (on a very large table that count is the costly part)."""
    _check_id(table_id)
    try:
        limit = int(limit)
        offset = int(offset)
    except (TypeError, ValueError):
        raise DatastoreError("validation", "limit and offset must be whole numbers.", key="limit") from None
    if limit < 0:
        raise DatastoreError("validation", "limit must not be negative.", key="limit")
    if offset < 0:
        raise DatastoreError("validation", "offset must not be negative.", key="offset")
    limit = min(limit, ROWS_MAX)
    engine = _engine(settings)
    schema = _schema(engine)
    with _reader(engine).connect() as conn:
        cols = _columns(conn, table_id, schema)
        table = _table(table_id, cols, schema)
        types = {"_id": "integer"} | {c.name: c.type for c in cols}
        by_name = {name: table.c[name] for name in types}

        chosen = _field_list(fields)
        if chosen is None:
            chosen = list(types)
        for name in chosen:
            if name not in types:
                raise _unknown("fields", name)

        where = []
        for name, value in (filters or {}).items():
            if name not in types:
                raise _unknown("filters", name)
            if isinstance(value, (list, tuple, set)):
                vals = [_parse_value(types[name], v, name) for v in value]
                non_null = [v for v in vals if v is not None]
                parts = [by_name[name].in_(non_null)] if non_null else []
                if len(non_null) < len(vals):
                    parts.append(by_name[name].is_(None))
                where.append(or_(*parts) if parts else false())
            else:
                v = _parse_value(types[name], value, name)
                where.append(by_name[name].is_(None) if v is None else by_name[name] == v)
        if isinstance(q, str) and q.strip():
            texts = [by_name[c.name] for c in cols if c.type == "text"]
            pattern = _like(q.strip())
            where.append(or_(*[func.lower(t).like(pattern, escape="\\") for t in texts]) if texts else false())
        elif isinstance(q, dict):
            for name, value in q.items():
                if name not in types:
                    raise _unknown("q", name)
                if types[name] != "text":
                    raise DatastoreError("validation", "Text search works on text fields; use filters for {field}.",
                                         key="q", field=name)
                if value is not None and str(value).strip():
                    where.append(func.lower(by_name[name]).like(_like(str(value).strip()), escape="\\"))
        elif q is not None and not isinstance(q, str):
            raise DatastoreError("validation", "q must be text or an object of field names and text.", key="q")

        order = _sort_terms(sort, by_name) if sort else []
        order.append(by_name["_id"].asc())  # a stable order, so pages never repeat or skip a record
        cond = and_(*where) if where else None
        stmt = select(*[by_name[n] for n in chosen]).order_by(*order).limit(limit).offset(offset)
        if cond is not None:
            stmt = stmt.where(cond)
        records = [{n: _out(v) for n, v in zip(chosen, row, strict=True)} for row in conn.execute(stmt)]
        total = None
        if include_total:
            count = select(func.count()).select_from(table)
            if cond is not None:
                count = count.where(cond)
            total = conn.execute(count).scalar_one()

    result: dict[str, Any] = {
        "resource_id": table_id,
        "fields": [{"id": n, "type": "int" if n == "_id" else CKAN_TYPES[types[n]]} for n in chosen],
        "records": records,
        "records_format": "objects",
        "limit": limit,
        "offset": offset,
        "include_total": include_total,
        "_links": {
            "start": f"/api/3/action/datastore_search?resource_id={table_id}",
            "next": f"/api/3/action/datastore_search?offset={offset + limit}&resource_id={table_id}",
        },
    }
    if include_total:
        result["total"] = total
    return result


# --- free SQL -----------------------------------------------------------------------------------


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.key


def _validate_sql(sql: str, dialect: str, allowed: set[str]) -> tuple[str, set[str]]:
    """The one SELECT of ``sql`` regenerated from its syntax tree and the names of its CTEs, or a
    DatastoreError saying why not."""
    if not isinstance(sql, str) or not sql.strip():
        raise DatastoreError("validation", "Give one SELECT statement.", key="sql")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as e:
        raise DatastoreError("invalid_query", "Search Query is invalid: {reason}", reason=str(e)[:200]) from None
    if len(statements) != 1:
        raise DatastoreError("invalid_query", "Give exactly one SELECT statement, not {n}.", n=len(statements))
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise DatastoreError("not_authorized", "Only SELECT statements can be run.")
    ctes = {str(c.alias_or_name).upper() for c in tree.find_all(exp.CTE)}
    for name in ctes:
        if name.startswith(("PG_", "SQLITE_", "INFORMATION_SCHEMA")):
            raise DatastoreError("not_authorized", "{name} cannot be used as a name here.", name=name.lower())
    for node in tree.walk():
        if isinstance(node, _REFUSED_NODES):
            raise DatastoreError("not_authorized", "Only SELECT statements can be run.")
        if isinstance(node, exp.Func) and not isinstance(node, exp.Connector):  # AND/OR are Funcs too
            name = _function_name(node)
            if name not in ALLOWED_FUNCTIONS:
                raise DatastoreError("not_authorized", "The function {name} is not allowed.", name=name)
        if (isinstance(node, exp.Column) and not node.table
                and isinstance(node.this, exp.Identifier) and not node.this.quoted
                and node.name.lower() in _PG_SESSION_WORDS):  # `SELECT user` names the PostgreSQL role; quote a field so named
            raise DatastoreError("not_authorized", "The function {name} is not allowed.", name=node.name.lower())
        if isinstance(node, exp.DataType) and node.this not in _ALLOWED_CASTS:
            raise DatastoreError("not_authorized", "Cannot convert to type {name}.", name=node.sql(dialect=dialect))
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                raise DatastoreError("not_authorized", "Only tables can be read here.")
            name = str(node.name)
            qualified = bool(node.args.get("db") or node.args.get("catalog"))
            if qualified or not (name.upper() in allowed or name.upper() in ctes):
                raise DatastoreError("not_authorized", "The table {name} cannot be read here.",
                                     name=node.sql(dialect=dialect)[:80])
    try:
        return tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE), ctes
    except SqlglotError as e:
        raise DatastoreError("invalid_query", "Search Query is invalid: {reason}", reason=str(e)[:200]) from None


_PG_TYPES = {16: "bool", 20: "int8", 21: "int2", 23: "int4", 25: "text", 700: "float4", 701: "float8",
             1043: "varchar", 1042: "bpchar", 1082: "date", 1083: "time", 1114: "timestamp",
             1184: "timestamptz", 1700: "numeric"}


def _sqlite_type(values: list[Any]) -> str:
    for v in values:
        if isinstance(v, int):
            return "int"
        if isinstance(v, float):
            return "numeric"
        if v is not None:
            return "text"
    return "text"


def search_sql(
    settings: Settings,
    sql: str,
    *,
    allowed_tables: set[str],
    max_rows: int = ROWS_MAX,
    cost_limit: int = DEFAULT_COST_LIMIT,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> dict[str, Any]:
    """CKAN's ``datastore_search_sql``: one read-only SELECT over the allowed tables.

    Refused (``not_authorized``): anything but one SELECT (WITH and UNION allowed), a table
    outside ``allowed_tables`` (or qualified by a schema), a function outside
    :data:`ALLOWED_FUNCTIONS`, a cast to another type than text, numbers, dates and booleans.
    A query that runs past ``cost_limit`` SQLite VM steps or ``timeout_ms`` is stopped
    (``timeout``). At most ``max_rows`` records come back; ``records_truncated`` says if more
    would have."""
    allowed = {t.upper() for t in allowed_tables if isinstance(t, str) and _TABLE_ID.match(t)}
    engine = _engine(settings)
    dialect = "postgres" if engine.dialect.name == "postgresql" else "sqlite"
    query, ctes = _validate_sql(sql, dialect, allowed)
    if dialect == "sqlite":
        names, rows = _run_sqlite(engine, query, allowed, max_rows, cost_limit, timeout_ms, ctes)
        types = [_sqlite_type([r[i] for r in rows]) for i in range(len(names))]
    else:
        names, type_codes, rows = _run_postgres(engine, query, max_rows, timeout_ms)
        types = [_PG_TYPES.get(code, "text") for code in type_codes]
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    result: dict[str, Any] = {
        "sql": sql,
        "fields": [{"id": n, "type": t} for n, t in zip(names, types, strict=True)],
        "records": [{n: _out(v) for n, v in zip(names, row, strict=True)} for row in rows],
    }
    if truncated:
        result["records_truncated"] = True
    return result


def _run_sqlite(engine: Engine, query: str, allowed: set[str], max_rows: int, cost_limit: int,
                timeout_ms: int, ctes: set[str] = frozenset()) -> tuple[list[str], list[tuple]]:
    path = engine.url.database
    if not path or path == ":memory:":
        raise ValueError("free SQL needs a file datastore")
    if not Path(path).exists():
        with engine.begin():
            pass  # creates the (empty) datastore file
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_LENGTH)

        def authorize(action: int, arg1: Any, arg2: Any, db: Any, _trigger: Any) -> int:
            if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_READ and isinstance(arg1, str) and (
                    arg1.upper() in allowed or (db is None and arg1.upper() in ctes)):  # a CTE has no database
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_FUNCTION and isinstance(arg2, str) and arg2.lower() in _SQLITE_FUNCTIONS:
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY

        step = 1000
        budget = {"steps": 0, "stopped": False}
        deadline = time.monotonic() + timeout_ms / 1000

        def progress() -> int:
            budget["steps"] += step
            if budget["steps"] > cost_limit or time.monotonic() > deadline:
                budget["stopped"] = True
                return 1
            return 0

        conn.set_authorizer(authorize)
        conn.set_progress_handler(progress, step)
        try:
            cur = conn.execute(query)
            rows = cur.fetchmany(max_rows + 1)
            names = [d[0] for d in cur.description or ()]
        except sqlite3.DatabaseError as e:
            if budget["stopped"]:
                raise DatastoreError("timeout", "The query took too long and was stopped.") from None
            if any(word in str(e) for word in ("not authorized", "prohibited", "readonly")):  # the authorizer, mode=ro
                raise DatastoreError("not_authorized", "The query reads something it may not read.") from None
            raise DatastoreError("invalid_query", "Search Query is invalid: {reason}", reason=str(e)[:200]) from None
        return names, rows
    finally:
        conn.close()


def _run_postgres(engine: Engine, query: str, max_rows: int, timeout_ms: int) -> tuple[list[str], list[int], list[tuple]]:
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn:
        try:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            conn.exec_driver_sql(f'SET LOCAL search_path = "{SCHEMA}"')
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur:  # the driver's own cursor: the query text is not a template
                cur.execute(query.encode(), prepare=False)
                names = [d.name for d in cur.description or ()]
                codes = [d.type_code for d in cur.description or ()]
                rows = cur.fetchmany(max_rows + 1)
        except DBAPIError as e:
            conn.rollback()
            raise _pg_error(e.orig) from None
        except Exception as e:  # psycopg's own errors from the raw cursor
            conn.rollback()
            if getattr(e, "sqlstate", None):
                raise _pg_error(e) from None
            raise
        conn.rollback()  # read-only work: nothing to commit
    return names, codes, rows


def _pg_error(e: Any) -> DatastoreError:
    state = getattr(e, "sqlstate", "") or ""
    if state == "57014":  # query_canceled: statement_timeout
        return DatastoreError("timeout", "The query took too long and was stopped.")
    if state in ("42501", "25006"):  # insufficient_privilege, read_only_sql_transaction
        return DatastoreError("not_authorized", "The query reads something it may not read.")
    message = str(getattr(e, "diag", None) and e.diag.message_primary or e)
    return DatastoreError("invalid_query", "Search Query is invalid: {reason}", reason=message[:200])


# --- export -----------------------------------------------------------------------------------


def _batches(settings: Settings, table_id: str) -> tuple[list[Column], Iterator[list[tuple]]]:
    _check_id(table_id)
    engine = _engine(settings)
    schema = _schema(engine)
    with _reader(engine).connect() as conn:
        cols = _columns(conn, table_id, schema)
    table = _table(table_id, cols, schema)

    def gen() -> Iterator[list[tuple]]:
        last = 0
        while True:  # keyset pages in _id order: each read is short and bounded
            with _reader(engine).connect() as conn:
                rows = conn.execute(select(table).where(table.c["_id"] > last)
                                    .order_by(table.c["_id"]).limit(BATCH)).all()
            if not rows:
                return
            last = rows[-1][0]
            yield [tuple(r) for r in rows]

    return cols, gen()


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return _out(v)


def export(settings: Settings, table_id: str, fmt: str) -> Iterator[bytes]:
    """The whole table in ``_id`` order as ``csv`` (UTF-8 with a BOM, so Excel shows Chinese),
    ``json`` (CKAN's dump form ``{"fields": [...], "records": [[...], ...]}``) or ``xlsx``.

    The table is read in pages by ``_id``; CSV and JSON are streamed, XLSX is built in a
    temporary file (the format is a zip) and then streamed. Refuses an unknown format and,
    for XLSX, a table longer than a sheet (``too_large``)."""
    fmt = (fmt or "").lower()
    if fmt not in ("csv", "json", "xlsx"):
        raise DatastoreError("validation", "{fmt} is not a download format; choose CSV, JSON or XLSX.",
                             key="format", fmt=str(fmt)[:20])
    cols, batches = _batches(settings, table_id)
    names = ["_id"] + [c.name for c in cols]
    if fmt == "xlsx":
        engine = _engine(settings)
        with _reader(engine).connect() as conn:
            n = conn.execute(select(func.count()).select_from(_table(table_id, [], _schema(engine)))).scalar_one()
        if n > XLSX_MAX_ROWS:
            raise DatastoreError("too_large", "The table has {n} rows, more than an XLSX sheet holds; download CSV.",
                                 key="format", n=n)
        return _xlsx(table_id, names, batches)
    if fmt == "csv":
        return _csv(names, batches)
    return _json(names, cols, batches)


def _csv(names: list[str], batches: Iterator[list[tuple]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(names)
    yield CSV_BOM + buf.getvalue().encode()
    for rows in batches:
        buf.seek(0)
        buf.truncate()
        writer.writerows([_csv_value(v) for v in row] for row in rows)
        yield buf.getvalue().encode()


def _json(names: list[str], cols: list[Column], batches: Iterator[list[tuple]]) -> Iterator[bytes]:
    fields = [{"id": "_id", "type": "int"}] + [{"id": c.name, "type": CKAN_TYPES[c.type]} for c in cols]
    yield ('{"fields": ' + json.dumps(fields, ensure_ascii=False) + ', "records": [').encode()
    first = True
    for rows in batches:
        chunk = ",\n".join(json.dumps([_out(v) for v in row], ensure_ascii=False) for row in rows)
        yield (("\n" if first else ",\n") + chunk).encode()
        first = False
    yield b"\n]}\n"


def _xlsx(title: str, names: list[str], batches: Iterator[list[tuple]]) -> Iterator[bytes]:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    ws.append(names)
    for rows in batches:
        for row in rows:
            ws.append([_naive_local(v) if isinstance(v, datetime) else v for v in row])
    with tempfile.TemporaryFile() as fh:
        wb.save(fh)
        fh.seek(0)
        while chunk := fh.read(64 * 1024):
            yield chunk


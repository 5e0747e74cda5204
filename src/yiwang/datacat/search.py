"""The open-data portal's search in Chinese, with facets, flat as the catalogue grows.

Words: jieba's ``cut_for_search`` (no HMM, so a word is cut the same way wherever it stands) of a
resource's title, summary, tags, field titles, department and topic, lower-cased, at most 40
characters, without punctuation and a few particles. They are kept in ``datacat_resources.search_text``
and, one row per word, in the inverted index ``datacat_terms`` (``models.SearchTerm``). A query's
words are AND-ed: each is looked up by the primary key, the rarest drives and the others are point
look-ups, so the words cost what the rarest matches. A word the index does not hold as a whole is
replaced by its parts (jieba's finer cut, else its characters).

Everything else — the state, the filters (``fq``), the facet counts and the order — is done on a
columnar snapshot of the catalogue that each process keeps in memory (numpy arrays of coded facet
values and sort keys, about 100 bytes a resource): a filter is a vector comparison, a facet a
``bincount`` over the matching rows, an order a ``lexsort``. The portal's front page (no words,
every facet over every open resource) is a few milliseconds and no SQL. The snapshot is rebuilt when
the catalogue's generation moves: a counter that every committed change to the catalogue's tables
bumps, in this process and in a memory-mapped file shared by the processes of one ``var_dir``
(:class:`~yiwang.core.generations.Generation`); view and download counters do not
move it. Whole answers are also cached per process for the same generation.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, event, insert, select, text
from sqlalchemy.orm import ORMExecuteState, Session

from yiwang.core.generations import Generation, shared_generation
from yiwang.core.settings import Settings
from yiwang.datacat.models import DataResource, Distribution, SearchTerm
from yiwang.datacat.schemas import TOPICS

MAX_TERM = 40
MAX_ROWS = 1000
FACETS = ("organization", "groups", "res_format", "update_cycle", "opening", "tags")
"""Facet (and ``fq``) fields, by CKAN's names: department, topic, distribution format, update cycle,
opening attribute, tag."""
SORTS = {"score", "metadata_modified", "title_string", "name", "metadata_created"}
_STOP = frozenset({"的", "了", "和", "与", "及", "或", "等", "在", "是", "为", "对", "于", "之", "其", "以", "由", "从",
                   "并", "也", "而", "被", "将", "把", "向", "个", "各", "这", "那"})
_WORD = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]", re.IGNORECASE)


class QueryError(ValueError):
    """A query the search cannot run (an unknown field or sort); the message says what is wrong."""


# -- words ------------------------------------------------------------------------------------------

_jieba_lock = threading.Lock()
_tokenizer: Any = None


def _jieba() -> Any:
    # A tokenizer of our own: other modules teach the default one their words (jieba.add_word), and
    # the index must cut the same text the same way today and next year.
    global _tokenizer
    if _tokenizer is None:
        with _jieba_lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _tokenizer = tokenizer
    return _tokenizer


def _keep(word: str) -> bool:
    return 0 < len(word) <= MAX_TERM and word not in _STOP and _WORD.search(word) is not None


def words(value: str) -> list[str]:
    """The index's words of ``value`` (every word and its parts), lower-cased, in order, deduplicated."""
    if not value:
        return []
    out: dict[str, None] = {}
    for w in _jieba().cut_for_search(value.lower(), HMM=False):
        w = w.strip()
        if _keep(w):
            out.setdefault(w, None)
    return list(out)


def query_words(q: str) -> list[str]:
    """The words of a query (the plain cut: one per word the user typed), lower-cased, deduplicated."""
    out: dict[str, None] = {}
    for w in _jieba().cut(q.lower(), HMM=False):
        w = w.strip()
        if _keep(w):
            out.setdefault(w, None)
    return list(out)


def _tags_of(resource: Any) -> list[str]:
    tags = resource.tags
    if isinstance(tags, str):
        try:
            tags = json.loads(tags or "[]")
        except ValueError:
            tags = []
    return [str(t) for t in tags or []]


def search_text_of(resource: Any, fields: Iterable[Any], department_name: str) -> str:
    """The words the portal's search matches for ``resource`` (title, summary, tags, field titles,
    department and topic), joined by spaces: what ``datacat_resources.search_text`` holds."""
    parts = [resource.title or "", resource.summary or "", " ".join(_tags_of(resource)),
             " ".join((getattr(f, "title", "") or getattr(f, "name", "")) for f in fields),
             department_name or "", TOPICS.get(resource.topic, resource.topic or "")]
    out: dict[str, None] = {}
    for part in parts:
        for w in words(part):
            out.setdefault(w, None)
    return " ".join(out)


def terms_of(resource: Any) -> set[str]:
    """Every word the index holds for ``resource`` (from its ``search_text``)."""
    return {w for w in (resource.search_text or "").split() if len(w) <= MAX_TERM}


def reindex(session: Session, resource: DataResource) -> None:
    """Replace the resource's terms in the index from its ``search_text``, title and facet values
    (call after ``search_text`` is set; the service does on every create, update, open and close)."""
    session.flush()
    session.execute(delete(SearchTerm).where(SearchTerm.resource_id == resource.id))
    terms = terms_of(resource)
    if terms:
        session.execute(insert(SearchTerm), [{"term": t, "resource_id": resource.id} for t in sorted(terms)])
    session.info[_CHANGED] = True


# -- the generation: answers cached in one process stay right after a change in any ----------------

#: Tables whose committed change makes cached answers stale.
WATCHED = frozenset({"datacat_resources", "datacat_fields", "datacat_distributions", "datacat_terms", "departments"})
_COUNTERS = frozenset({"views", "downloads"})
_CHANGED = "yiwang.datacat.changed"
_process_generation = shared_generation(None, "datacat")


def catalogue_generation(settings: Settings | None) -> Generation:
    """The shared generation of a deployment's catalogue (a file under its ``var_dir``)."""
    return shared_generation(settings, "datacat")


def stamp(settings: Settings | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """What a cached answer is valid for: this process's and the deployment's generation."""
    return _process_generation.value(), catalogue_generation(settings).value()


def bump(settings: Settings | None) -> None:
    """Make every cached answer stale (done after each committed change to :data:`WATCHED`)."""
    _process_generation.bump()
    if settings is not None:
        catalogue_generation(settings).bump()


def catalogue_changed(settings: Settings | None) -> None:
    """Say the catalogue changed (cached answers are also dropped after every commit that touches
    :data:`WATCHED`, so this only matters for a change made without the ORM)."""
    bump(settings)


def _table(obj: Any) -> str | None:
    return getattr(getattr(type(obj), "__table__", None), "name", None)


def _only_counters(obj: Any) -> bool:
    from sqlalchemy import inspect

    attrs = inspect(obj).attrs
    return not any(a.history.has_changes() for a in attrs if a.key not in _COUNTERS)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.deleted):
        if _table(obj) in WATCHED:
            session.info[_CHANGED] = True
            return
    for obj in session.dirty:
        name = _table(obj)
        if name in WATCHED and not (name == "datacat_resources" and _only_counters(obj)):
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    name = getattr(getattr(state.bind_mapper, "local_table", None), "name", None)
    if name not in WATCHED:
        return
    if state.is_update and name == "datacat_resources":
        values = {getattr(c, "key", str(c)) for c in getattr(state.statement, "_values", None) or {}}
        if values and values <= _COUNTERS:
            return
    state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        bump(session.info.get("settings"))


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


class AnswerCache:
    """Answers by key for one generation of the catalogue, at most ``size`` of them (LRU)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.enabled = True

    def get(self, key: Any, generation: Any) -> Any | None:
        if not self.enabled:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] != generation:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Any, generation: Any, value: Any) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = (generation, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = AnswerCache()
"""This process's cached search results (``ckan`` keeps its answers in one of its own)."""


# -- queries ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    count: int
    ids: list[str]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def parse_sort(sort: str) -> list[tuple[str, bool]]:
    """``"score desc, metadata_modified desc"`` → [("score", True), ("metadata_modified", True)];
    :class:`QueryError` for a field or direction the search does not know."""
    out = []
    for part in (sort or "").split(","):
        bits = part.split()
        if not bits:
            continue
        name = bits[0]
        direction = bits[1].lower() if len(bits) > 1 else "asc"
        if name not in SORTS or direction not in ("asc", "desc") or len(bits) > 2:
            raise QueryError(f"Can not sort by {part.strip()!r}")
        out.append((name, direction == "desc"))
    return out or [("score", True), ("metadata_modified", True)]


def _df(session: Session, term: str, cap: int = 5000) -> int:
    """How many resources hold ``term``, counted up to ``cap`` (enough to order the look-ups)."""
    return session.execute(
        text("SELECT count(*) FROM (SELECT 1 FROM datacat_terms WHERE term = :t LIMIT :cap) AS x"),
        {"t": term, "cap": cap}).scalar_one()


def _word_terms(session: Session, q: str) -> list[str] | None:
    """The index terms a query's words stand for (None: a word matches nothing)."""
    out: list[str] = []
    for w in query_words(q):
        if _df(session, w, 1):
            out.append(w)
            continue
        parts = [p for p in words(w) if p != w and len(p) > 1] or [c for c in w if _keep(c)]
        if not parts or not all(_df(session, p, 1) for p in parts):
            return None
        out.extend(p for p in parts if p not in out)
    return out


_SCALARS = {"organization": "department_id", "groups": "topic", "update_cycle": "update_cycle", "opening": "opening"}
"""Facets with one value per resource → the snapshot's column."""


class _Codes:
    """Values of one column coded as small integers (the snapshot's vocabulary of that column)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.code: dict[str, int] = {}

    def of(self, value: str) -> int:
        found = self.code.get(value)
        if found is None:
            found = self.code[value] = len(self.values)
            self.values.append(value)
        return found


class _Snapshot:
    """Every resource's facet values and sort keys as numpy columns, built once per catalogue
    generation (one read of the resources and their formats) and shared by the process's queries:
    a filter is a vector comparison, a facet a ``bincount`` over the matching rows, an order a
    ``lexsort`` — so a query over the whole catalogue (the portal's front page) costs milliseconds
    and no SQL, and a query with words costs the index look-up of its rarest word."""

    def __init__(self, session: Session, generation: Any) -> None:
        self.generation = generation
        rows = session.execute(select(
            DataResource.id, DataResource.name, DataResource.title, DataResource.updated_at,
            DataResource.created_at, DataResource.department_id, DataResource.topic, DataResource.update_cycle,
            DataResource.opening, DataResource.tags, DataResource.state).order_by(DataResource.id)).all()
        self.ids = [r[0] for r in rows]
        self.pos = {rid: i for i, rid in enumerate(self.ids)}
        self.titles = [(r[2] or "").lower() for r in rows]
        n = len(rows)
        self.codes = {name: _Codes() for name in (*_SCALARS, "state", "tags", "res_format")}
        self.columns: dict[str, np.ndarray] = {}
        for name, index in (("organization", 5), ("groups", 6), ("update_cycle", 7), ("opening", 8), ("state", 10)):
            of = self.codes[name].of
            self.columns[name] = np.fromiter((of(r[index] or "") for r in rows), dtype=np.int32, count=n)
        self.updated = np.fromiter((r[3].timestamp() for r in rows), dtype=np.float64, count=n)
        self.created = np.fromiter((r[4].timestamp() for r in rows), dtype=np.float64, count=n)
        self.id_rank = np.arange(n, dtype=np.int64)
        self.name_rank = _ranks([r[1] for r in rows])
        self.title_rank = _ranks(self.titles)
        tag_owner, tag_code = [], []
        of = self.codes["tags"].of
        for i, r in enumerate(rows):
            for tag in dict.fromkeys(_tag_list(r[9])):
                tag_owner.append(i)
                tag_code.append(of(tag))
        self.multi = {"tags": (np.asarray(tag_owner, dtype=np.int64), np.asarray(tag_code, dtype=np.int32))}
        fmt_owner, fmt_code = [], []
        of = self.codes["res_format"].of
        for rid, fmt in session.execute(select(Distribution.resource_id, Distribution.format).distinct()):
            i = self.pos.get(rid)
            if i is not None and fmt:
                fmt_owner.append(i)
                fmt_code.append(of(fmt.upper()))
        self.multi["res_format"] = (np.asarray(fmt_owner, dtype=np.int64), np.asarray(fmt_code, dtype=np.int32))

    def mask(self, name: str, value: str) -> np.ndarray:
        """Rows whose ``name`` facet holds ``value``."""
        code = self.codes[name].code.get(value)
        if code is None:
            return np.zeros(len(self.ids), dtype=bool)
        if name in self.multi:
            owner, codes = self.multi[name]
            out = np.zeros(len(self.ids), dtype=bool)
            out[owner[codes == code]] = True
            return out
        return self.columns[name] == code

    def facet(self, name: str, mask: np.ndarray, limit: int) -> list[tuple[str, int]]:
        values = self.codes[name].values
        if name in self.multi:
            owner, codes = self.multi[name]
            counts = np.bincount(codes[mask[owner]], minlength=len(values))
        else:
            counts = np.bincount(self.columns[name][mask], minlength=len(values))
        found = [(values[c], int(counts[c])) for c in np.flatnonzero(counts)]
        return sorted(found, key=lambda kv: (-kv[1], kv[0]))[:limit]


def _ranks(values: list[str]) -> np.ndarray:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values), dtype=np.int64)
    return ranks


def _tag_list(tags: str | None) -> list[str]:
    try:
        found = json.loads(tags or "[]")
    except ValueError:
        return []
    return [str(t) for t in found] if isinstance(found, list) else []


_snapshots: dict[Any, _Snapshot] = {}
_snapshots_lock = threading.Lock()


def _snapshot(session: Session, generation: Any) -> _Snapshot:
    """This process's snapshot of the session's database for ``generation`` (built when stale)."""
    bind = session.get_bind()
    key = str(getattr(bind, "url", bind))
    found = _snapshots.get(key)
    if found is not None and found.generation == generation:
        return found
    with _snapshots_lock:
        found = _snapshots.get(key)
        if found is None or found.generation != generation:
            found = _snapshots[key] = _Snapshot(session, generation)
        return found


def _word_ids(session: Session, terms: list[str]) -> list[str]:
    """Ids of the resources holding every term: the rarest drives, the others are point look-ups."""
    ranked = sorted(terms, key=lambda t: _df(session, t))
    params: dict[str, Any] = {"t0": ranked[0]}
    others = []
    for n, t in enumerate(ranked[1:], 1):
        params[f"t{n}"] = t
        others.append(f" AND EXISTS (SELECT 1 FROM datacat_terms x{n} WHERE x{n}.term = :t{n}"
                      f" AND x{n}.resource_id = t0.resource_id)")
    return list(session.scalars(text(f"SELECT t0.resource_id FROM datacat_terms t0 WHERE t0.term = :t0{''.join(others)}"),
                                params))


def query(
    session: Session,
    *,
    q: str = "",
    fq: dict[str, list[str]] | None = None,
    sort: str = "score desc, metadata_modified desc",
    rows: int = 10,
    start: int = 0,
    facet_fields: Sequence[str] = (),
    facet_limit: int = 50,
    states: Sequence[str] = ("open",),
    use_cache: bool = True,
    match_any: Sequence[str] = (),
) -> Result:
    """Resources matching every word of ``q`` and every ``fq`` value (any one of the values, for the
    fields in ``match_any`` — the portal's single-valued facets, where ticking two departments means
    either), in ``states``: their count, the ids of one page (``rows`` ≤ 1000 from ``start``) in
    ``sort`` order, and counts of the ``facet_fields`` values over all matches (at most
    ``facet_limit`` each, largest first). :class:`QueryError` for an unknown field or sort."""
    fq = {k: list(v) for k, v in (fq or {}).items() if v}
    order = parse_sort(sort)
    unknown = [f for f in facet_fields if f not in FACETS]
    if unknown:
        raise QueryError(f"undefined field {unknown[0]}")
    rows = max(0, min(int(rows), MAX_ROWS))
    start = max(0, int(start))
    key = (q.strip(), tuple(sorted((k, tuple(v)) for k, v in fq.items())), tuple(order), rows, start,
           tuple(facet_fields), facet_limit, tuple(states), tuple(sorted(match_any)))
    settings = session.info.get("settings")
    generation = stamp(settings)
    if use_cache:
        cached = CACHE.get(key, generation)
        if cached is not None:
            return cached
    result = _run(session, q, fq, order, rows, start, facet_fields, facet_limit, states, generation, match_any)
    if use_cache:
        CACHE.put(key, generation, result)
    return result


def _run(session: Session, q: str, fq: dict[str, list[str]], order: list[tuple[str, bool]], rows: int,
         start: int, facet_fields: Sequence[str], facet_limit: int, states: Sequence[str], generation: Any,
         match_any: Sequence[str]) -> Result:
    for name in fq:
        if name not in FACETS:
            raise QueryError(f"undefined field {name}")
    word_terms = _word_terms(session, q) if q.strip() else []
    if word_terms is None:
        return Result(0, [], {name: [] for name in facet_fields})
    snap = _snapshot(session, generation)
    state_codes = [snap.codes["state"].code[s] for s in states if s in snap.codes["state"].code]
    mask = np.isin(snap.columns["state"], np.asarray(state_codes, dtype=np.int32))
    for name, values in fq.items():
        coded = [value.upper() if name == "res_format" else value for value in values]
        if name in match_any and len(coded) > 1:
            either = np.zeros(len(snap.ids), dtype=bool)
            for value in coded:
                either |= snap.mask(name, value)
            mask &= either
        else:
            for value in coded:
                mask &= snap.mask(name, value)
    if word_terms:
        hits = np.zeros(len(snap.ids), dtype=bool)
        positions = [snap.pos[i] for i in _word_ids(session, word_terms) if i in snap.pos]
        hits[np.asarray(positions, dtype=np.int64)] = True
        mask &= hits
    matched = np.flatnonzero(mask)
    keys: list[np.ndarray] = [snap.id_rank[matched]]
    for name, descending in reversed(order):
        if name == "score":
            wanted = query_words(q)
            titles = snap.titles
            column = np.fromiter((sum(w in titles[i] for w in wanted) for i in matched), dtype=np.int64,
                                 count=len(matched)) if wanted else np.zeros(len(matched), dtype=np.int64)
        elif name == "metadata_modified":
            column = snap.updated[matched]
        elif name == "metadata_created":
            column = snap.created[matched]
        elif name == "title_string":
            column = snap.title_rank[matched]
        else:
            column = snap.name_rank[matched]
        keys.append(-column if descending else column)
    page = matched[np.lexsort(keys)[start:start + rows]] if len(matched) else matched
    return Result(len(matched), [snap.ids[i] for i in page],
                  {name: snap.facet(name, mask, facet_limit) for name in facet_fields})


# -- loading what the answers show ----------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A resource with its fields and distributions, loaded for many resources in three queries."""

    resource: DataResource
    fields: list[Any]
    distributions: list[Distribution]


def load(session: Session, ids: Sequence[str]) -> list[Loaded]:
    """The resources ``ids`` (at most :data:`MAX_ROWS`) in that order, with fields and distributions."""
    from yiwang.datacat.models import ResourceField

    ids = list(ids)[:MAX_ROWS]
    if not ids:
        return []
    rows = {r.id: r for r in session.scalars(select(DataResource).where(DataResource.id.in_(ids)))}
    fields: dict[str, list[Any]] = {i: [] for i in ids}
    for f in session.scalars(select(ResourceField).where(ResourceField.resource_id.in_(ids))
                             .order_by(ResourceField.resource_id, ResourceField.position)):
        fields[f.resource_id].append(f)
    dists: dict[str, list[Distribution]] = {i: [] for i in ids}
    for d in session.scalars(select(Distribution).where(Distribution.resource_id.in_(ids))
                             .order_by(Distribution.resource_id, Distribution.position, Distribution.created_at)):
        dists[d.resource_id].append(d)
    return [Loaded(rows[i], fields[i], dists[i]) for i in ids if i in rows]


def names(session: Session, *, states: Sequence[str] = ("open",), limit: int, offset: int = 0) -> list[str]:
    """Names of the resources in ``states``, alphabetical, one page (CKAN's ``package_list``)."""
    return list(session.scalars(select(DataResource.name).where(DataResource.state.in_(list(states)))
                                .order_by(DataResource.name).limit(limit).offset(offset)))


def counts_by_department(session: Session, *, states: Sequence[str] = ("open",)) -> dict[str, int]:
    """How many resources in ``states`` each department provides."""
    from sqlalchemy import func

    return dict(session.execute(select(DataResource.department_id, func.count()).where(
        DataResource.state.in_(list(states))).group_by(DataResource.department_id)).all())


def distribution(session: Session, distribution_id: str) -> tuple[Distribution, DataResource] | None:
    """A distribution and its resource."""
    dist = session.get(Distribution, distribution_id)
    if dist is None:
        return None
    row = session.get(DataResource, dist.resource_id)
    return (dist, row) if row is not None else None


def resource(session: Session, ref: str) -> DataResource | None:
    """A resource by id or name."""
    found = session.get(DataResource, ref)
    if found is not None:
        return found
    return session.scalars(select(DataResource).where(DataResource.name == ref).limit(1)).first()

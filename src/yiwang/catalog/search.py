"""Search of the catalogue in Chinese: jieba words, a synonym table, field-weighted ranking.

The index (one entry per current item and bundle version) lives in process memory and is rebuilt
when the catalogue's version token (``catalog_versions``, bumped by every publish) has changed, so
several app processes stay consistent. jieba's dictionary is loaded once per process and learns
the catalogue's own names and keywords with ``jieba.add_word``.

Ranking: each query word (and each synonym it brings, at ``SYNONYM_WEIGHT``) scores the highest
field it occurs in — name 3, keywords 2 (2.5 when it *is* a keyword), description 1 — times a bonus
for longer words. A bundle gets ``BUNDLE_BOOST``: when it matches, it is the answer to the whole
intent ("开餐馆"), so it leads its items.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from yiwang.catalog import repository
from yiwang.catalog.schemas import SearchHit

log = logging.getLogger("yiwang.catalog")

WEIGHTS = {"name": 3.0, "keyword_exact": 2.5, "keywords": 2.0, "description": 1.0}
SYNONYM_WEIGHT = 0.8
BUNDLE_BOOST = 1.3
SYNONYMS_FILE = Path(__file__).with_name("synonyms.yaml")

_jieba_lock = threading.Lock()
_jieba: Any = None
_added: set[str] = set()


def _tokenizer() -> Any:
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def add_words(words: list[str]) -> None:
    """Teach jieba the catalogue's own words (once each per process)."""
    jb = _tokenizer()
    with _jieba_lock:
        for w in words:
            w = w.strip()
            if len(w) >= 2 and w not in _added:
                jb.add_word(w, freq=200000)
                _added.add(w)


@dataclass(frozen=True)
class Synonyms:
    table: dict[str, list[str]]
    stopwords: frozenset[str]


_synonyms: Synonyms | None = None


def synonyms() -> Synonyms:
    """The global synonym table and stop words (``catalog/synonyms.yaml``)."""
    global _synonyms
    if _synonyms is None:
        data = yaml.safe_load(SYNONYMS_FILE.read_text(encoding="utf-8")) or {}
        _synonyms = Synonyms({str(k): [str(x) for x in v] for k, v in (data.get("synonyms") or {}).items()},
                             frozenset(str(s) for s in data.get("stopwords") or []))
        add_words(list(_synonyms.table))
    return _synonyms


@dataclass(frozen=True)
class Doc:
    kind: str
    code: str
    name: str
    keywords: tuple[str, ...]
    description: str
    department_code: str | None
    areas: tuple[str, ...]
    item_codes: tuple[str, ...] = ()


class Index:
    def __init__(self, token: str | None, docs: list[Doc]) -> None:
        self.token = token
        self.docs = docs


_indexes: weakref.WeakKeyDictionary[Any, Index] = weakref.WeakKeyDictionary()
_index_lock = threading.Lock()


def _build(session: Session, token: str | None) -> Index:
    docs: list[Doc] = []
    words: list[str] = []
    for item, v in repository.current_items(session):
        docs.append(Doc("item", item.code, v.name, tuple(v.keywords or ()), v.description or "",
                        v.department_code, tuple(v.areas or ())))
        words += [v.name, *(v.keywords or [])]
    for bundle, bv in repository.current_bundles(session):
        docs.append(Doc("bundle", bundle.code, bv.name, tuple(bv.keywords or ()), bv.description or "",
                        None, (), tuple(bv.item_codes or ())))
        words += [bv.name, *(bv.keywords or [])]
    synonyms()
    add_words(words)
    log.info("catalog search index built", extra={"docs": len(docs)})
    return Index(token, docs)


def index(session: Session) -> Index:
    """This process's index, rebuilt when the catalogue's version token has changed."""
    token = repository.version_token(session)
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    found = _indexes.get(engine)
    if found is not None and found.token == token and token is not None:
        return found
    with _index_lock:
        built = _build(session, token)
        _indexes[engine] = built
    return built


def terms(query: str) -> list[tuple[str, float]]:
    """The query's words and their synonyms, each with its weight (the heaviest if repeated)."""
    syn = synonyms()
    jb = _tokenizer()
    q = "".join(query.split())
    out: dict[str, float] = {}
    for w in jb.lcut_for_search(q):
        w = w.strip()
        if not w or w in syn.stopwords or (len(w) == 1 and not w.isalnum()):
            continue
        out[w] = max(out.get(w, 0.0), 1.0)
    for phrase, expansions in syn.table.items():
        if phrase in q:
            for e in expansions:
                out[e] = max(out.get(e, 0.0), SYNONYM_WEIGHT)
    return sorted(out.items(), key=lambda t: (-len(t[0]), t[0]))


def _score(doc: Doc, words: list[tuple[str, float]]) -> float:
    total = 0.0
    for w, weight in words:
        if len(w) == 1:
            continue  # a single character matches too much to mean anything
        best = 0.0
        if w in doc.name:
            best = WEIGHTS["name"]
        elif w in doc.keywords:
            best = WEIGHTS["keyword_exact"]
        elif any(w in k for k in doc.keywords):
            best = WEIGHTS["keywords"]
        elif w in doc.description:
            best = WEIGHTS["description"]
        total += best * weight * (1 + 0.25 * (min(len(w), 6) - 2))
    return total * (BUNDLE_BOOST if doc.kind == "bundle" else 1.0)


def _applies(areas: tuple[str, ...], area_code: str | None) -> bool:
    if not area_code or not areas:
        return True
    return any(area_code.startswith(p) or p.startswith(area_code) for p in areas)


def search(session: Session, query: str, area_code: str | None = None, limit: int = 20) -> list[SearchHit]:
    """Items and bundles for a query in Chinese, best first (ties by code)."""
    words = terms(query)
    if not words:
        return []
    hits = []
    for doc in index(session).docs:
        if not _applies(doc.areas, area_code):
            continue
        s = _score(doc, words)
        if s > 0:
            hits.append(SearchHit(kind=doc.kind, code=doc.code, name=doc.name, score=round(s, 3),
                                  department_code=doc.department_code, item_codes=list(doc.item_codes)))
    hits.sort(key=lambda h: (-h.score, h.kind != "bundle", h.code))
    return hits[:limit]

"""The in-process point → grid index.

Built from the grid boundaries in the database on first use: a uniform bucket grid over the
grids' bounding boxes, each bucket listing the grids whose box overlaps it, in code order, with
each polygon prepared (``shapely.prepare``) for fast point tests; axis-aligned rectangles are
answered by their box alone. A look-up is a bucket index, a few float comparisons and at most a
couple of ``intersects_xy`` calls, so it stays flat as the number of grids grows.

Boundaries are closed sets and the first grid in code order that covers the point wins, so a point
on an edge shared by two grids always resolves to the one with the lower code.

Every change to areas bumps the ``area_versions`` row with a fresh token. Each process checks the
token at most once a second (per engine) and rebuilds when it differs, so several app processes
stay consistent without a query per look-up; changes made by this process invalidate at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from yiwang.areas import geo, repository
from yiwang.areas.schemas import AreaRead

log = logging.getLogger("yiwang.areas")

CHECK_INTERVAL = 1.0
clock: Callable[[], float] = time.monotonic
"""Monotonic seconds; tests replace it to move time without sleeping."""

# (min_lon, min_lat, max_lon, max_lat, prepared polygon or None for a rectangle, area)
Entry = tuple[float, float, float, float, Any, AreaRead]


class GridIndex:
    """An immutable bucket index over grid polygons."""

    def __init__(self, token: str | None, areas: Sequence[AreaRead], geoms: Any) -> None:
        self.token = token
        self.size = len(areas)
        self.gazetteer = Gazetteer(())
        entries: list[Entry] = []
        if len(geoms):
            geoms = np.asarray(geoms, dtype=object)
            shapely.prepare(geoms)
            bounds = shapely.bounds(geoms)
            rect = geo.are_bboxes(geoms, bounds)
            for area, g, (minx, miny, maxx, maxy), is_rect in zip(areas, geoms, bounds.tolist(), rect.tolist(),
                                                                  strict=True):
                entries.append((minx, miny, maxx, maxy, None if is_rect else g, area))
        entries.sort(key=lambda e: e[5].code)
        if not entries:
            self.x0 = self.y0 = 0.0
            self.nx = self.ny = 1
            self.fx = self.fy = 0.0
            self.buckets: list[tuple[Entry, ...]] = [()]
            return
        x0 = min(e[0] for e in entries)
        y0 = min(e[1] for e in entries)
        x1 = max(e[2] for e in entries)
        y1 = max(e[3] for e in entries)
        widths = sorted(e[2] - e[0] for e in entries)
        heights = sorted(e[3] - e[1] for e in entries)
        span_x, span_y = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        # Buckets about the size of a typical grid, but never many more buckets than grids.
        cw = max(widths[len(widths) // 2], span_x / 4096, 1e-9)
        ch = max(heights[len(heights) // 2], span_y / 4096, 1e-9)
        limit = 4 * len(entries) + 16
        while math.ceil(span_x / cw) * math.ceil(span_y / ch) > limit:
            cw *= 1.5
            ch *= 1.5
        self.x0, self.y0 = x0, y0
        self.nx, self.ny = max(1, math.ceil(span_x / cw)), max(1, math.ceil(span_y / ch))
        self.fx, self.fy = 1.0 / cw, 1.0 / ch
        lists: list[list[Entry]] = [[] for _ in range(self.nx * self.ny)]
        for e in entries:
            ix0, iy0 = self._cell(e[0], e[1])
            ix1, iy1 = self._cell(e[2], e[3])
            for ix in range(ix0, ix1 + 1):
                row = ix * self.ny
                for iy in range(iy0, iy1 + 1):
                    lists[row + iy].append(e)
        self.buckets = [tuple(b) for b in lists]

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        ix = int((lon - self.x0) * self.fx)
        iy = int((lat - self.y0) * self.fy)
        return min(max(ix, 0), self.nx - 1), min(max(iy, 0), self.ny - 1)

    def find(self, lon: float, lat: float) -> AreaRead | None:
        """The grid covering the point (lowest code on a shared edge), or None."""
        ix = int((lon - self.x0) * self.fx)
        iy = int((lat - self.y0) * self.fy)
        if ix < 0 or iy < 0:
            if lon < self.x0 or lat < self.y0:
                return None
            ix, iy = max(ix, 0), max(iy, 0)
        if ix >= self.nx:
            ix = self.nx - 1
        if iy >= self.ny:
            iy = self.ny - 1
        for minx, miny, maxx, maxy, g, area in self.buckets[ix * self.ny + iy]:
            if minx <= lon <= maxx and miny <= lat <= maxy and (g is None or shapely.intersects_xy(g, lon, lat)):
                return area
        return None


_SUFFIXES = ("社区居委会", "居民委员会", "村民委员会", "居委会", "村委会", "街道办事处", "街道", "社区", "镇", "乡")
"""What an address usually leaves out of an area's official name (南京东路街道 → 南京东路)."""
GAZETTEER_LEVELS = ("district", "street", "community")
_DEPTH = {"city": 0, "district": 1, "street": 2, "community": 3, "grid": 4}


class Gazetteer:
    """Area names → areas, to place an address given as text (e.g. 黄浦区南京东路街道 … or
    南京东路100号): the deepest area whose name — or its name without a suffix such as 街道 or
    社区居委会, when at least two characters remain — occurs in the text, among areas that agree with
    the others found (a street found must lie in the district found). An area name that several
    areas share (two districts' 新村社区) counts only where the rest of the address decides it."""

    def __init__(self, areas: Sequence[AreaRead]) -> None:
        keys: dict[str, list[AreaRead]] = {}
        for area in areas:
            names = {area.name}
            for suffix in _SUFFIXES:
                if area.name.endswith(suffix) and len(area.name) - len(suffix) >= 2:
                    names.add(area.name[: -len(suffix)])
                    break
            for name in names:
                keys.setdefault(name, []).append(area)
        self.keys = sorted(keys.items(), key=lambda kv: -len(kv[0]))

    def match(self, text: str) -> AreaRead | None:
        """The most precise area the text names, or None when it names none (or only ambiguously)."""
        text = (text or "").strip()
        if not text:
            return None
        found: list[AreaRead] = []
        for key, areas in self.keys:
            if key in text:
                found.extend(areas)
        if not found:
            return None
        unique = {a.code: a for a in found}
        # Each area scores by how many of the other areas found are its ancestors, then by depth;
        # a tie at the top between two areas is ambiguous, and the address names neither.
        scored = sorted(((sum(1 for o in unique if o != a.code and a.code.startswith(o)), _DEPTH.get(a.level, 0), a)
                         for a in unique.values()), key=lambda t: (t[0], t[1]), reverse=True)
        if len(scored) > 1 and scored[0][:2] == scored[1][:2]:
            return None
        return scored[0][2]


class _State:
    __slots__ = ("index", "checked_at", "lock")

    def __init__(self) -> None:
        self.index: GridIndex | None = None
        self.checked_at = -math.inf
        self.lock = threading.Lock()


_states: weakref.WeakKeyDictionary[Engine, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _state(session: Session) -> _State:
    cached = session.info.get("_areas_locator")
    if cached is not None:
        return cached
    engine = _engine(session)
    state = _states.get(engine)
    if state is None:
        with _states_lock:
            state = _states.setdefault(engine, _State())
    session.info["_areas_locator"] = state
    return state


def build(session: Session) -> GridIndex:
    """Read every grid boundary and build a fresh index (tagged with the current version token)."""
    started = time.perf_counter()
    token = repository.version_token(session)
    rows = repository.grid_rows_with_boundary(session)
    areas = [AreaRead.model_validate(r) for r in rows]
    geoms = geo.load_many([r.boundary for r in rows]) if rows else []
    index = GridIndex(token, areas, geoms)
    index.gazetteer = Gazetteer([AreaRead.model_validate(r) for r in repository.named_rows(session, GAZETTEER_LEVELS)])
    log.info("grid index built", extra={"grids": index.size, "ms": round((time.perf_counter() - started) * 1000, 1)})
    return index


def current(session: Session) -> GridIndex:
    """The index for this session's database, rebuilt if the areas changed (checked ≤ once a second)."""
    state = _state(session)
    now = clock()
    index = state.index
    if index is not None and now - state.checked_at < CHECK_INTERVAL:
        return index
    with state.lock:
        index = state.index
        if index is not None and clock() - state.checked_at < CHECK_INTERVAL:
            return index
        token = repository.version_token(session)
        if index is None or index.token != token:
            index = build(session)
            state.index = index
        state.checked_at = clock()
        return index


def invalidate(session: Session) -> None:
    """Make the next look-up of this process re-check the version (called on every change)."""
    _state(session).checked_at = -math.inf

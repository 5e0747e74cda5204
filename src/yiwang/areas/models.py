"""Tables of the areas domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class Area(Base):
    """行政区划 / 网格 — one node of city → district → street → community → grid.

    The code is the key (other domains refer to areas by code) and a prefix-extension of the
    parent's. The boundary is GeoJSON text (WGS-84 lon/lat); the bounding box and an inner point
    are kept beside it for cheap filtering and labels."""

    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(15), ForeignKey("areas.code"), index=True)
    depth: Mapped[int] = mapped_column(Integer)
    boundary: Mapped[str | None] = mapped_column(Text)
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    centroid_lon: Mapped[float | None] = mapped_column(Float)
    centroid_lat: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AreaVersion(Base):
    """One row: bumped (with a fresh token) by every change to areas, so that each process's
    in-memory point → grid index knows when to rebuild without a query per look-up."""

    __tablename__ = "area_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(26))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Department(IdMixin, Base):
    """部门 / 委办局 — an organisation unit with a home area (a bureau, an ops centre, a street
    office, a team …)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24))
    area_code: Mapped[str] = mapped_column(String(15), ForeignKey("areas.code"), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(26), ForeignKey("departments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

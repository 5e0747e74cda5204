"""Tables of the catalogue domain.

An item or bundle is a stable code pointing at its current published version; versions are never
changed once published, so an application that stores the version id it was made against keeps
its rules, form and materials whatever is published later."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow


class ServiceItem(IdMixin, Base):
    """政务服务事项 — a service item, known by a stable code (e.g. ``SCJG-001``)."""

    __tablename__ = "service_items"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    current_version_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ServiceItemVersion(IdMixin, Base):
    """事项版本 — one immutable version of an item's guide, materials and form."""

    __tablename__ = "service_item_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    item_id: Mapped[str] = mapped_column(String(26), ForeignKey("service_items.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    department_code: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    legal_limit_days: Mapped[int] = mapped_column(Integer)
    promised_limit_days: Mapped[int] = mapped_column(Integer)
    fee_text: Mapped[str] = mapped_column(String(200), default="")
    fee_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    online_depth: Mapped[int] = mapped_column(Integer)
    areas: Mapped[list[str]] = mapped_column(JSON)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    certificate_type_code: Mapped[str | None] = mapped_column(String(40), index=True)
    certificate_type_name: Mapped[str | None] = mapped_column(String(100))
    process_key: Mapped[str] = mapped_column(String(80))
    keywords: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_by: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()


class Bundle(IdMixin, Base):
    """一件事 — several items applied for together with one merged form."""

    __tablename__ = "bundles"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    current_version_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class BundleVersion(IdMixin, Base):
    """一件事版本 — one immutable version of a bundle, with the merged form as published."""

    __tablename__ = "bundle_versions"
    __table_args__ = (UniqueConstraint("bundle_id", "version"),)

    bundle_id: Mapped[str] = mapped_column(String(26), ForeignKey("bundles.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    item_codes: Mapped[list[str]] = mapped_column(JSON)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_by: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()


class CatalogVersion(Base):
    """One row, bumped by every publish, so each process's search index knows when to rebuild."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(26))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

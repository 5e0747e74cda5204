"""Tables of the data catalogue (政务信息资源目录) and the open-data portal.

A *data resource* (政务信息资源, a CKAN "package"/dataset) carries the GB/T 21063 core metadata and
its fields (数据项), each graded (核心/重要/一般 with levels for 一般). A resource has
*distributions* (CKAN "resources"): a table whose rows live in the datastore, or a file kept as a
download. Every upload of a distribution is a *distribution version*; the gate's report and the
de-identification steps that made it openable are kept on the version, so the history says what was
opened, when, and why it was allowed to open.

The metadata's history is one snapshot per metadata version (``datacat_resource_versions``); a
running application never sees a change half made because a change writes the new snapshot and the
resource row in one transaction.

Nothing here holds personal data in clear: the raw upload is a stored file (``files``), the opened
table holds only what passed the gate, and a requester of conditional data is a user id.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base, IdMixin, utcnow

GRADES = ("general", "important", "core")
"""一般, 重要, 核心 — the grade of a field (数据分级)."""
GENERAL_LEVELS = (1, 2, 3, 4)
"""The finer levels of 一般 data: 1 (public by nature) … 4 (sensitive, e.g. personal information)."""
OPENING = ("unconditional", "conditional", "none")
"""开放属性: 无条件开放, 有条件开放, 不予开放."""
SHARING = ("unconditional", "conditional", "none")
"""共享属性: 无条件共享, 有条件共享, 不予共享."""
UPDATE_CYCLES = ("realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular")
"""更新周期: 实时, 每日, 每周, 每月, 每季度, 每年, 不定期."""
FIELD_TYPES = ("text", "integer", "number", "date", "datetime", "boolean")


def sensitivity(grade: str, level: int | None) -> int:
    """One number to compare grades by: 一般 levels 1–4 are 1–4, 重要 is 5, 核心 is 6."""
    if grade == "core":
        return 6
    if grade == "important":
        return 5
    return max(1, min(4, level or 1))


class DataResource(IdMixin, Base):
    """政务信息资源 — one catalogued dataset (a CKAN package)."""

    __tablename__ = "datacat_resources"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    """The URL name (CKAN ``name``): lower-case letters, digits, ``-`` and ``_``, 2–100 characters."""
    code: Mapped[str] = mapped_column(String(60), unique=True)
    """资源代码 (GB/T 21063), e.g. ``310101-JT-00012``."""
    title: Mapped[str] = mapped_column(String(200))
    """资源名称."""
    department_id: Mapped[str] = mapped_column(String(26), ForeignKey("departments.id"))
    """资源提供方: the provider department (the CKAN organization)."""
    summary: Mapped[str] = mapped_column(Text, default="")
    """资源摘要."""
    topic: Mapped[str] = mapped_column(String(40))
    """资源分类 by topic (基础/主题/部门 classification's topic code, e.g. ``transport``): the CKAN group."""
    format: Mapped[str] = mapped_column(String(20))
    """资源格式 as catalogued: ``table`` (电子表格/数据库), ``file`` (文件), ``api`` (接口)."""
    update_cycle: Mapped[str] = mapped_column(String(12))
    sharing: Mapped[str] = mapped_column(String(14))
    sharing_conditions: Mapped[str] = mapped_column(Text, default="")
    opening: Mapped[str] = mapped_column(String(14))
    opening_conditions: Mapped[str] = mapped_column(Text, default="")
    license_id: Mapped[str] = mapped_column(String(40), default="cc-by-4.0")
    tags: Mapped[str] = mapped_column(Text, default="[]")
    """JSON list of keywords (CKAN tags)."""
    published_on: Mapped[date | None] = mapped_column(Date)
    """发布日期: the day it first opened (None while it has never opened)."""
    state: Mapped[str] = mapped_column(String(10), default="draft")
    """``draft`` (catalogued, not open), ``open`` (on the portal), ``refused`` (the gate refused its
    last attempt to open; stays closed), ``closed`` (was open, withdrawn)."""
    metadata_version: Mapped[int] = mapped_column(Integer, default=1)
    data_updated_at: Mapped[datetime | None]
    """When its data last got a new version."""
    next_update_due: Mapped[datetime | None]
    """When the provider owes the next update by its cycle (责任清单); past it, the update is late."""
    views: Mapped[int] = mapped_column(Integer, default=0)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    search_text: Mapped[str] = mapped_column(Text, default="")
    """The words the portal's search matches: title, summary, tags, fields and department, cut by
    jieba and joined by spaces (kept in step with the metadata)."""
    created_by: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_datacat_resources_state_modified", "state", "updated_at", "id"),
        Index("ix_datacat_resources_department", "department_id", "state"),
        Index("ix_datacat_resources_due", "next_update_due"),
    )


class ResourceVersion(IdMixin, Base):
    """One version of a resource's metadata: the whole record as JSON, who changed it and why."""

    __tablename__ = "datacat_resource_versions"

    resource_id: Mapped[str] = mapped_column(ForeignKey("datacat_resources.id"))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[str] = mapped_column(Text)
    """The metadata and fields as JSON (what ``service.show`` gives for that version)."""
    note: Mapped[str] = mapped_column(String(200), default="")
    changed_by: Mapped[str | None] = mapped_column(String(26))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("resource_id", "version", name="uq_datacat_resource_versions"),)


class ResourceField(IdMixin, Base):
    """数据项 — one field of a resource, with its type and grade."""

    __tablename__ = "datacat_fields"

    resource_id: Mapped[str] = mapped_column(ForeignKey("datacat_resources.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(63))
    """The column name in tables and the datastore (letters, digits, ``_``; Chinese allowed)."""
    title: Mapped[str] = mapped_column(String(100))
    """数据项名称 as people read it."""
    type: Mapped[str] = mapped_column(String(10))
    grade: Mapped[str] = mapped_column(String(10), default="general")
    level: Mapped[int] = mapped_column(Integer, default=1)
    """The level within 一般 (1–4); 1 for 重要 and 核心, where it is not used."""
    quasi_identifier: Mapped[bool] = mapped_column(Boolean, default=False)
    """准标识符: taken into the k-anonymity check when the resource opens."""
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("resource_id", "name", name="uq_datacat_fields_name"),
                      Index("ix_datacat_fields_resource", "resource_id", "position"))


class Distribution(IdMixin, Base):
    """A distribution of a resource (a CKAN "resource"): a table in the datastore or a file."""

    __tablename__ = "datacat_distributions"

    resource_id: Mapped[str] = mapped_column(ForeignKey("datacat_resources.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(6))
    """``table`` (rows in the datastore, downloadable as CSV, JSON and XLSX) or ``file``."""
    format: Mapped[str] = mapped_column(String(10))
    """The format of the last upload: ``CSV``, ``XLSX``, ``JSON``, ``PDF`` …"""
    current_version_id: Mapped[str | None] = mapped_column(String(26))
    """The version that is open (None until one passes the gate and opens)."""
    datastore_active: Mapped[bool] = mapped_column(Boolean, default=False)
    """True when the open version's rows are in the datastore (table named by this id)."""
    row_count: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(Integer)
    steps: Mapped[str] = mapped_column(Text, default="[]")
    """The de-identification steps the data officer recorded for this table (JSON list of
    ``gate.Step``): applied to every version before the gate scans it and before it opens."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DistributionVersion(IdMixin, Base):
    """One upload of a distribution, with what the ingest and the gate found."""

    __tablename__ = "datacat_distribution_versions"

    distribution_id: Mapped[str] = mapped_column(ForeignKey("datacat_distributions.id"))
    number: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[str] = mapped_column(String(26))
    """The raw upload (stored file; staff only)."""
    format: Mapped[str] = mapped_column(String(10))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[str] = mapped_column(Text, default="[]")
    """The first per-row errors of the ingest as JSON ``[{"row": 7, "field": "…", "message": "…"}]``."""
    steps: Mapped[str] = mapped_column(Text, default="[]")
    """The de-identification steps applied when it opened, as JSON (see ``gate.Step``)."""
    gate: Mapped[str] = mapped_column(String(8), default="pending")
    """``pending``, ``passed`` or ``refused``."""
    gate_report: Mapped[str] = mapped_column(Text, default="{}")
    """The gate's report as JSON: hits by field with the first rows, fields refused by grade,
    the k-anonymity result."""
    state: Mapped[str] = mapped_column(String(10), default="uploaded")
    """``uploaded``, ``open`` (the current open version), ``replaced`` (an earlier open version),
    ``refused``."""
    created_by: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("distribution_id", "number", name="uq_datacat_distribution_versions"),)


class FieldGrant(IdMixin, Base):
    """A department's grant to see a resource's graded fields unmasked up to a sensitivity."""

    __tablename__ = "datacat_grants"

    resource_id: Mapped[str] = mapped_column(ForeignKey("datacat_resources.id"))
    department_id: Mapped[str] = mapped_column(String(26), ForeignKey("departments.id"))
    max_sensitivity: Mapped[int] = mapped_column(Integer)
    """Fields up to this :func:`sensitivity` are shown unmasked to the department's staff."""
    purpose: Mapped[str] = mapped_column(String(200), default="")
    granted_by: Mapped[str | None] = mapped_column(String(26))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_datacat_grants_lookup", "resource_id", "department_id"),)


class DataDemand(IdMixin, Base):
    """需求清单 — a request for data not yet catalogued, from a department or the public, and its answer."""

    __tablename__ = "datacat_demands"

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    requester_kind: Mapped[str] = mapped_column(String(10))
    """``department`` or ``public``."""
    requester_user_id: Mapped[str | None] = mapped_column(String(26))
    requester_department_id: Mapped[str | None] = mapped_column(String(26))
    target_department_id: Mapped[str | None] = mapped_column(String(26))
    """The department asked to provide it (None: the data authority decides)."""
    status: Mapped[str] = mapped_column(String(10), default="open")
    """``open``, ``answered`` (a reply without new data), ``fulfilled`` (a resource now serves it),
    ``declined``."""
    answer: Mapped[str] = mapped_column(Text, default="")
    resource_id: Mapped[str | None] = mapped_column(String(26))
    answered_by: Mapped[str | None] = mapped_column(String(26))
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_datacat_demands_status", "status", "created_at"),)


class AccessRequest(IdMixin, Base):
    """有条件开放申请 — an outside user's request for a conditionally open resource; once approved,
    the applicant's access token (an HMAC of the request id under the deployment's secret, so none is
    stored) reads its data until it expires or is revoked."""

    __tablename__ = "datacat_access_requests"

    resource_id: Mapped[str] = mapped_column(ForeignKey("datacat_resources.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(26), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    """``pending``, ``approved``, ``rejected`` or ``revoked``."""
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(26))
    decided_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_datacat_access_requests_status", "status", "created_at"),)


class SearchTerm(Base):
    """The portal's inverted index: one row per (word, resource) for the words of ``search_text``.
    The same SQL on SQLite and PostgreSQL; a query's words are looked up by the primary key and
    intersected, so its cost follows the matching resources, not the catalogue's size."""

    __tablename__ = "datacat_terms"

    term: Mapped[str] = mapped_column(String(40), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(26), ForeignKey("datacat_resources.id"), primary_key=True)

    __table_args__ = (Index("ix_datacat_terms_resource", "resource_id"),)

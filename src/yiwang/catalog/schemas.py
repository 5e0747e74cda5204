"""Pydantic shapes of the catalogue: item and bundle versions, search hits, forms, import reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

KINDS = ("licence", "confirmation", "benefit", "public_service", "other")
"""行政许可, 行政确认, 行政给付, 公共服务, 其他."""
DEPTHS = (1, 2, 3, 4)
"""信息公开, 在线预约, 在线预审, 全程网办."""


class Material(BaseModel):
    """申请材料; ``stand_in`` says what the platform holds instead: ``{"registry": "person"|"entity"}``
    or ``{"certificate": "<certificate type code>"}``."""

    code: str
    name: str
    required: bool = True
    stand_in: dict[str, str] | None = None


class CertificateType(BaseModel):
    code: str
    name: str


class ItemVersionRead(BaseModel):
    """One version of a service item (事项)."""

    model_config = ConfigDict(frozen=True)

    id: str
    item_id: str
    code: str
    version: int
    current: bool
    name: str
    description: str
    department_code: str
    kind: str
    legal_limit_days: int
    promised_limit_days: int
    fee_text: str
    fee_amount: float | None
    online_depth: int
    areas: list[str]
    materials: list[Material]
    form: dict[str, Any]
    certificate_type: CertificateType | None
    process_key: str
    keywords: list[str]
    status: str
    published_at: datetime | None


class ItemPage(BaseModel):
    items: list[ItemVersionRead]
    next_cursor: str | None = None


class BundleVersionRead(BaseModel):
    """One version of a bundle (一件事)."""

    model_config = ConfigDict(frozen=True)

    id: str
    bundle_id: str
    code: str
    version: int
    name: str
    description: str
    item_codes: list[str]
    keywords: list[str]
    status: str
    published_at: datetime | None


class FormRead(BaseModel):
    """A form: JSON Schema with ``x-layout`` hints, for an item or a bundle (merged)."""

    code: str
    name: str
    form: dict[str, Any]
    sources: dict[str, list[str]] = {}
    """For a merged form: field name → the item codes that ask for it."""


class SearchHit(BaseModel):
    kind: str
    """``item`` or ``bundle``."""
    code: str
    name: str
    score: float
    department_code: str | None = None
    item_codes: list[str] = []


class FieldError(BaseModel):
    """One problem of one form field, in the reader's language."""

    field: str
    code: str
    message: str


class ImportProblem(BaseModel):
    entry: str
    field: str
    problem: str
    message: str


class ImportReport(BaseModel):
    items_created: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    bundles_created: int = 0
    bundles_updated: int = 0
    bundles_unchanged: int = 0
    skipped: int = 0
    errors: list[ImportProblem] = []

"""Pydantic shapes of the data catalogue: a resource's metadata and fields as a data officer gives
them, and as the catalogue shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Grade = Literal["general", "important", "core"]
Opening = Literal["unconditional", "conditional", "none"]
Sharing = Literal["unconditional", "conditional", "none"]
UpdateCycle = Literal["realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"]
FieldType = Literal["text", "integer", "number", "date", "datetime", "boolean"]
ResourceFormat = Literal["table", "file", "api"]

NAME_PATTERN = r"^[a-z0-9_-]{2,100}$"
"""CKAN's rule for a package name: lower-case ASCII letters, digits, ``-`` and ``_``."""

TOPICS: dict[str, str] = {
    "transport": "交通出行", "environment": "资源环境", "economy": "经济建设", "health": "卫生健康",
    "education": "教育科技", "society": "社会民生", "public-safety": "公共安全", "urban": "城建住房",
    "culture": "文化休闲", "agriculture": "农业农村", "government": "机构团体", "credit": "信用服务",
}
"""资源分类 by topic (the portal's 主题 and CKAN's groups): code → name."""

UPDATE_CYCLE_NAMES = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月",
                      "quarterly": "每季度", "yearly": "每年", "irregular": "不定期"}
OPENING_NAMES = {"unconditional": "无条件开放", "conditional": "有条件开放", "none": "不予开放"}
SHARING_NAMES = {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}
GRADE_NAMES = {"general": "一般", "important": "重要", "core": "核心"}
FORMAT_NAMES = {"table": "数据表", "file": "文件", "api": "接口"}


def facet_label(name: str, value: str, departments: dict[str, str]) -> str:
    """How a facet value reads (a department id → its name, a topic code → 交通出行 …)."""
    if name == "organization":
        return departments.get(value, value)
    if name == "groups":
        return TOPICS.get(value, value)
    if name == "update_cycle":
        return UPDATE_CYCLE_NAMES.get(value, value)
    if name == "opening":
        return OPENING_NAMES.get(value, value)
    return value


class FieldIn(BaseModel):
    """数据项 as the data officer declares it."""

    name: str = Field(min_length=1, max_length=63)
    title: str = Field(default="", max_length=100)
    type: FieldType = "text"
    grade: Grade = "general"
    level: int = Field(default=1, ge=1, le=4)
    quasi_identifier: bool = False
    description: str = Field(default="", max_length=1000)


class ResourceIn(BaseModel):
    """A data resource's metadata (GB/T 21063 core elements) and fields."""

    name: str = Field(pattern=NAME_PATTERN)
    code: str = Field(min_length=1, max_length=60)
    title: str = Field(min_length=1, max_length=200)
    department_id: str
    summary: str = Field(default="", max_length=5000)
    topic: str
    format: ResourceFormat = "table"
    update_cycle: UpdateCycle = "irregular"
    sharing: Sharing = "unconditional"
    sharing_conditions: str = Field(default="", max_length=2000)
    opening: Opening = "none"
    opening_conditions: str = Field(default="", max_length=2000)
    license_id: str = "cc-by-4.0"
    tags: list[str] = Field(default_factory=list, max_length=50)
    fields: list[FieldIn] = Field(default_factory=list, max_length=500)
    note: str = Field(default="", max_length=200)
    """Why this version was made (kept in the history)."""


class FieldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    name: str
    title: str
    type: str
    grade: str
    level: int
    quasi_identifier: bool
    description: str


class DistributionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    resource_id: str
    name: str
    description: str
    kind: str
    format: str
    current_version_id: str | None
    datastore_active: bool
    row_count: int | None
    size: int | None
    created_at: datetime
    updated_at: datetime


class ResourceRead(BaseModel):
    """A resource as the catalogue shows it (the current metadata version)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    name: str
    code: str
    title: str
    department_id: str
    summary: str
    topic: str
    format: str
    update_cycle: str
    sharing: str
    sharing_conditions: str
    opening: str
    opening_conditions: str
    license_id: str
    tags: list[str]
    published_on: date | None
    state: str
    metadata_version: int
    data_updated_at: datetime | None
    next_update_due: datetime | None
    views: int
    downloads: int
    created_at: datetime
    updated_at: datetime
    fields: list[FieldRead] = Field(default_factory=list)
    distributions: list[DistributionRead] = Field(default_factory=list)

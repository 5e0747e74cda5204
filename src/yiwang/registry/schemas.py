"""Pydantic schemas of the registry: persons and legal entities, their pages, lookups and imports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: GB/T 4754-2017 sections (门类).
INDUSTRIES: dict[str, str] = {
    "A": "农、林、牧、渔业", "B": "采矿业", "C": "制造业", "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业", "F": "批发和零售业", "G": "交通运输、仓储和邮政业", "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业", "J": "金融业", "K": "房地产业", "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业", "N": "水利、环境和公共设施管理业", "O": "居民服务、修理和其他服务业",
    "P": "教育", "Q": "卫生和社会工作", "R": "文化、体育和娱乐业", "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}
SIZES = ("micro", "small", "medium", "large")
STATUSES = ("active", "revoked", "deregistered", "moved_out")

Size = Literal["micro", "small", "medium", "large"]
Status = Literal["active", "revoked", "deregistered", "moved_out"]
View = Literal["masked", "full", "self"]


class PersonRead(BaseModel):
    """A person (人口). In the ``masked`` view the name, ID number and phone are masked and the
    address redacted; ``full`` (a staff reveal with a purpose) and ``self`` (the citizen's own
    record) show them."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    id_number: str
    phone: str | None
    address: str | None
    area_code: str
    gender: str
    birth_year: int
    view: View
    created_at: datetime
    updated_at: datetime


class PersonCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=500)
    area_code: str = Field(min_length=2, max_length=15)


class PersonUpdate(BaseModel):
    """Only the fields given change; ``phone`` or ``address`` set to null clears it."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    id_number: str | None = Field(default=None, min_length=1, max_length=32)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=500)
    area_code: str | None = Field(default=None, min_length=2, max_length=15)


class PersonPage(BaseModel):
    """One page of persons (masked) and the cursor of the next page, if any."""

    items: list[PersonRead]
    next_cursor: str | None


class EntityRead(BaseModel):
    """A legal entity (法人). The legal representative is masked in the ``masked`` view."""

    model_config = ConfigDict(frozen=True)

    id: str
    uscc: str
    name: str
    legal_representative: str
    registered_address: str | None
    area_code: str
    industry: str
    size: str
    registration_date: date
    status: str
    view: View
    created_at: datetime
    updated_at: datetime


class EntityCreate(BaseModel):
    uscc: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    legal_representative: str = Field(min_length=1, max_length=100)
    registered_address: str | None = Field(default=None, max_length=500)
    area_code: str = Field(min_length=2, max_length=15)
    industry: str = Field(min_length=1, max_length=1)
    size: Size
    registration_date: date
    status: Status = "active"


class EntityUpdate(BaseModel):
    """Only the fields given change; ``registered_address`` set to null clears it."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    legal_representative: str | None = Field(default=None, min_length=1, max_length=100)
    registered_address: str | None = Field(default=None, max_length=500)
    area_code: str | None = Field(default=None, min_length=2, max_length=15)
    industry: str | None = Field(default=None, min_length=1, max_length=1)
    size: Size | None = None
    registration_date: date | None = None
    status: Status | None = None


class EntityPage(BaseModel):
    """One page of legal entities (masked) and the cursor of the next page, if any."""

    items: list[EntityRead]
    next_cursor: str | None


class RevealRequest(BaseModel):
    """Why the full personal data is needed; recorded in the audit trail."""

    purpose: str = Field(min_length=1, max_length=500)


class PersonLookup(BaseModel):
    """Find a person by ID number (in the body: URLs reach logs). ``full`` needs a ``purpose``."""

    id_number: str = Field(min_length=1, max_length=32)
    full: bool = False
    purpose: str | None = Field(default=None, max_length=500)


class EntityLookup(BaseModel):
    """Find a legal entity by unified social credit code. ``full`` needs a ``purpose``."""

    uscc: str = Field(min_length=1, max_length=32)
    full: bool = False
    purpose: str | None = Field(default=None, max_length=500)


class RowError(BaseModel):
    """One problem of one CSV row: its line in the file (the header is line 1) and column."""

    line: int
    column: str
    problem: str
    message: str


class ImportReport(BaseModel):
    """What an import did: ``refused`` means nothing was imported because of ``errors``; otherwise
    ``imported`` rows were written and ``skipped`` bad rows (listed in ``errors``) left out."""

    kind: Literal["persons", "entities"]
    total: int
    imported: int
    skipped: int
    refused: bool
    errors: list[RowError]

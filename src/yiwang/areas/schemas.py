"""Pydantic schemas of areas and departments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["city", "district", "street", "community", "grid"]


class AreaRead(BaseModel):
    """One node of the hierarchy (行政区划 / 网格); the boundary is fetched separately."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    code: str
    name: str
    level: str
    parent_code: str | None
    depth: int
    min_lon: float | None = None
    min_lat: float | None = None
    max_lon: float | None = None
    max_lat: float | None = None
    centroid_lon: float | None = None
    """With ``centroid_lat``: a point inside the area (its centroid when that lies inside)."""
    centroid_lat: float | None = None


class AreaCreate(BaseModel):
    code: str = Field(min_length=2, max_length=15)
    name: str = Field(min_length=1, max_length=100)
    level: str
    parent_code: str | None = None
    boundary: dict[str, Any] | None = None


class DepartmentRead(BaseModel):
    """An organisation unit (部门 / 委办局) with its home area."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    code: str
    name: str
    kind: str
    area_code: str
    parent_id: str | None


class DepartmentCreate(BaseModel):
    code: str = Field(min_length=2, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    area_code: str
    kind: str = "bureau"
    parent_id: str | None = None


class ImportRowError(BaseModel):
    """One problem of one row (CSV: line number of the data row, 1 = first after the header;
    GeoJSON: feature index from 0)."""

    row: int
    field: str
    problem: str
    message: str


class ImportReport(BaseModel):
    rows: int
    created: int
    skipped: int
    errors: list[ImportRowError] = []
    codes: list[str] = []

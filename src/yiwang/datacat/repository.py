"""Queries of the data catalogue; every list is bounded and served by an index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from yiwang.datacat.models import (
    AccessRequest,
    DataDemand,
    DataResource,
    Distribution,
    DistributionVersion,
    FieldGrant,
    ResourceField,
    ResourceVersion,
)


def resource(session: Session, ref: str) -> DataResource | None:
    """A resource by id, name or resource code."""
    found = session.get(DataResource, ref)
    if found is not None:
        return found
    return session.scalars(
        select(DataResource).where(or_(DataResource.name == ref, DataResource.code == ref)).limit(1)
    ).first()


def taken(session: Session, *, name: str, code: str, other_than: str | None = None) -> str | None:
    """Which of ``name`` and ``code`` another resource uses already (``"name"``, ``"code"`` or None)."""
    for what, column, value in (("name", DataResource.name, name), ("code", DataResource.code, code)):
        stmt = select(DataResource.id).where(column == value)
        if other_than is not None:
            stmt = stmt.where(DataResource.id != other_than)
        if session.scalars(stmt.limit(1)).first() is not None:
            return what
    return None


def fields_of(session: Session, resource_id: str) -> list[ResourceField]:
    return list(session.scalars(
        select(ResourceField).where(ResourceField.resource_id == resource_id).order_by(ResourceField.position)
    ))


def replace_fields(session: Session, resource_id: str, rows: list[ResourceField]) -> None:
    session.execute(delete(ResourceField).where(ResourceField.resource_id == resource_id))
    session.flush()
    session.add_all(rows)


def distributions_of(session: Session, resource_id: str) -> list[Distribution]:
    return list(session.scalars(
        select(Distribution).where(Distribution.resource_id == resource_id)
        .order_by(Distribution.position, Distribution.created_at)
    ))


def open_distributions(session: Session, *, after_id: str, limit: int) -> list[Distribution]:
    """Distributions whose rows are in the datastore, in id order after ``after_id``."""
    return list(session.scalars(
        select(Distribution).where(Distribution.datastore_active.is_(True), Distribution.id > after_id)
        .order_by(Distribution.id).limit(limit)
    ))


def latest_version(session: Session, distribution_id: str) -> DistributionVersion | None:
    """The newest upload of a distribution, whatever the gate said."""
    return session.scalars(
        select(DistributionVersion).where(DistributionVersion.distribution_id == distribution_id)
        .order_by(DistributionVersion.number.desc()).limit(1)
    ).first()


def versions_of(session: Session, distribution_id: str, limit: int = 50) -> list[DistributionVersion]:
    return list(session.scalars(
        select(DistributionVersion).where(DistributionVersion.distribution_id == distribution_id)
        .order_by(DistributionVersion.number.desc()).limit(limit)
    ))


def metadata_history(session: Session, resource_id: str, limit: int = 50) -> list[ResourceVersion]:
    return list(session.scalars(
        select(ResourceVersion).where(ResourceVersion.resource_id == resource_id)
        .order_by(ResourceVersion.version.desc()).limit(limit)
    ))


def live_grant(session: Session, resource_id: str, department_ids: tuple[str, ...], now: datetime) -> int:
    """The highest sensitivity any of the departments is granted on the resource now (0: none)."""
    if not department_ids:
        return 0
    value = session.scalar(
        select(func.max(FieldGrant.max_sensitivity)).where(
            FieldGrant.resource_id == resource_id, FieldGrant.department_id.in_(department_ids),
            FieldGrant.revoked_at.is_(None),
            or_(FieldGrant.expires_at.is_(None), FieldGrant.expires_at > now),
        )
    )
    return int(value or 0)


def grants_of(session: Session, resource_id: str, limit: int = 200) -> list[FieldGrant]:
    return list(session.scalars(
        select(FieldGrant).where(FieldGrant.resource_id == resource_id)
        .order_by(FieldGrant.granted_at.desc()).limit(limit)
    ))


def responsibilities(session: Session, *, department_id: str | None, late_at: datetime | None,
                     limit: int) -> list[DataResource]:
    """Resources owed by a department (or all), soonest due first; only the late ones with ``late_at``
    (``ix_datacat_resources_due``)."""
    stmt = select(DataResource).where(DataResource.next_update_due.is_not(None))
    if department_id is not None:
        stmt = stmt.where(DataResource.department_id == department_id)
    if late_at is not None:
        stmt = stmt.where(DataResource.next_update_due < late_at)
    return list(session.scalars(stmt.order_by(DataResource.next_update_due, DataResource.id).limit(limit)))


def resources_page(session: Session, *, department_id: str | None, state: str | None, limit: int,
                   before: datetime | None = None) -> list[DataResource]:
    """The staff catalogue, newest change first (``ix_datacat_resources_state_modified``)."""
    stmt = select(DataResource)
    if department_id is not None:
        stmt = stmt.where(DataResource.department_id == department_id)
    if state is not None:
        stmt = stmt.where(DataResource.state == state)
    if before is not None:
        stmt = stmt.where(DataResource.updated_at < before)
    return list(session.scalars(stmt.order_by(DataResource.updated_at.desc(), DataResource.id.desc()).limit(limit)))


def demands(session: Session, *, status: str | None, limit: int) -> list[DataDemand]:
    stmt = select(DataDemand)
    if status is not None:
        stmt = stmt.where(DataDemand.status == status)
    return list(session.scalars(stmt.order_by(DataDemand.created_at.desc()).limit(limit)))


def access_requests(session: Session, *, resource_id: str | None = None, user_id: str | None = None,
                    status: str | None = None, limit: int = 100) -> list[AccessRequest]:
    stmt = select(AccessRequest)
    if resource_id is not None:
        stmt = stmt.where(AccessRequest.resource_id == resource_id)
    if user_id is not None:
        stmt = stmt.where(AccessRequest.user_id == user_id)
    if status is not None:
        stmt = stmt.where(AccessRequest.status == status)
    return list(session.scalars(stmt.order_by(AccessRequest.created_at.desc()).limit(limit)))

"""All SQL of the catalogue domain."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.catalog.models import Bundle, BundleVersion, CatalogVersion, ServiceItem, ServiceItemVersion
from yiwang.core.db import utcnow
from yiwang.core.ids import new_id


def get_item(session: Session, code: str) -> ServiceItem | None:
    return session.scalar(select(ServiceItem).where(ServiceItem.code == code))


def current_version_id(session: Session, code: str) -> tuple[str | None] | None:
    """``(current version id,)`` of the item ``code``, or None when there is no such item."""
    row = session.execute(select(ServiceItem.current_version_id).where(ServiceItem.code == code)).first()
    return None if row is None else (row[0],)


def get_item_version(session: Session, version_id: str) -> ServiceItemVersion | None:
    return session.get(ServiceItemVersion, version_id)


def item_version_by_number(session: Session, item_id: str, number: int) -> ServiceItemVersion | None:
    return session.scalar(select(ServiceItemVersion).where(
        ServiceItemVersion.item_id == item_id, ServiceItemVersion.version == number))


def item_versions(session: Session, item_id: str) -> list[ServiceItemVersion]:
    return list(session.scalars(select(ServiceItemVersion).where(ServiceItemVersion.item_id == item_id)
                                .order_by(ServiceItemVersion.version.desc())))


def last_item_version(session: Session, item_id: str) -> int:
    return session.scalar(select(func.max(ServiceItemVersion.version))
                          .where(ServiceItemVersion.item_id == item_id)) or 0


def current_items(
    session: Session, *, department: str | None = None, kind: str | None = None,
    after: str | None = None, limit: int | None = None,
) -> list[tuple[ServiceItem, ServiceItemVersion]]:
    """Items with their current version, in code order (after the code ``after``)."""
    q = (select(ServiceItem, ServiceItemVersion)
         .join(ServiceItemVersion, ServiceItemVersion.id == ServiceItem.current_version_id)
         .order_by(ServiceItem.code))
    if department:
        q = q.where(ServiceItemVersion.department_code == department)
    if kind:
        q = q.where(ServiceItemVersion.kind == kind)
    if after:
        q = q.where(ServiceItem.code > after)
    if limit:
        q = q.limit(limit)
    return [(i, v) for i, v in session.execute(q).all()]


def current_items_by_codes(session: Session, codes: list[str]) -> dict[str, ServiceItemVersion]:
    if not codes:
        return {}
    rows = session.execute(
        select(ServiceItem.code, ServiceItemVersion)
        .join(ServiceItemVersion, ServiceItemVersion.id == ServiceItem.current_version_id)
        .where(ServiceItem.code.in_(codes))).all()
    return {c: v for c, v in rows}


def certificate_type_codes(session: Session) -> set[str]:
    """Certificate types issued by the current version of some item."""
    rows = session.scalars(
        select(ServiceItemVersion.certificate_type_code)
        .join(ServiceItem, ServiceItem.current_version_id == ServiceItemVersion.id)
        .where(ServiceItemVersion.certificate_type_code.is_not(None)))
    return {c for c in rows if c}


def get_bundle(session: Session, code: str) -> Bundle | None:
    return session.scalar(select(Bundle).where(Bundle.code == code))


def get_bundle_version(session: Session, version_id: str) -> BundleVersion | None:
    return session.get(BundleVersion, version_id)


def bundle_version_by_number(session: Session, bundle_id: str, number: int) -> BundleVersion | None:
    return session.scalar(select(BundleVersion).where(
        BundleVersion.bundle_id == bundle_id, BundleVersion.version == number))


def last_bundle_version(session: Session, bundle_id: str) -> int:
    return session.scalar(select(func.max(BundleVersion.version)).where(BundleVersion.bundle_id == bundle_id)) or 0


def current_bundles(session: Session) -> list[tuple[Bundle, BundleVersion]]:
    q = (select(Bundle, BundleVersion).join(BundleVersion, BundleVersion.id == Bundle.current_version_id)
         .order_by(Bundle.code))
    return [(b, v) for b, v in session.execute(q).all()]


def version_token(session: Session) -> str | None:
    return session.scalar(select(CatalogVersion.token).where(CatalogVersion.id == 1))


def bump_version(session: Session) -> str:
    """Give the catalogue a new version token (one row, updated in the caller's transaction)."""
    token = new_id()
    result = session.execute(update(CatalogVersion).where(CatalogVersion.id == 1)
                             .values(version=CatalogVersion.version + 1, token=token, changed_at=utcnow()))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        try:
            with session.begin_nested():
                session.add(CatalogVersion(id=1, version=1, token=token, changed_at=utcnow()))
        except IntegrityError:
            session.execute(update(CatalogVersion).where(CatalogVersion.id == 1)
                            .values(version=CatalogVersion.version + 1, token=token, changed_at=utcnow()))
    return token

"""Imports every domain's models so that the metadata (Alembic, tests) sees all tables."""

from yiwang.core.db import Base

for _domain in ("identity", "audit", "areas", "registry", "ops", "workdays", "workflow", "catalog",
                "certificates", "ratings", "notifications", "files", "applications", "cityops", "datacat"):
    try:
        __import__(f"yiwang.{_domain}.models")
    except ModuleNotFoundError as exc:  # a domain without tables
        if exc.name != f"yiwang.{_domain}.models" and exc.name != f"yiwang.{_domain}":
            raise

metadata = Base.metadata

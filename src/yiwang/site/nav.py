"""What the layout needs on every page: the actor's workbench links and safe return addresses."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from yiwang.core.actor import Actor


@dataclass(frozen=True, slots=True)
class Link:
    """One entry of the staff workbench: shown in the navigation and on the home page."""

    href: str
    label: str
    """English msgid, translated when rendered."""
    description: str
    """English msgid, translated when rendered."""
    permission: str | None
    """Shown to actors holding this permission somewhere; None: to every signed-in actor."""


WORKBENCH: tuple[Link, ...] = (
    Link("/admin/areas", "Areas", "Administrative areas, grids and departments.", "area.manage"),
    Link("/admin/users", "Users", "Staff accounts and the roles they hold.", "user.manage"),
    Link("/admin/roles", "Roles", "Roles and the permissions they grant.", "role.manage"),
    Link("/audit", "Audit trail", "Who did what, when and why; verify the chain.", "audit.read"),
    Link("/registry/persons", "Population registry", "Search the population registry (masked).",
         "registry.person.read"),
    Link("/registry/entities", "Legal-entity registry", "Search the legal-entity registry (masked).",
         "registry.entity.read"),
    Link("/registry/import", "Registry import", "Import persons or legal entities from CSV, all or nothing.",
         "registry.person.import"),
    Link("/admin/catalog", "Service catalogue", "Service items, bundles, their forms; import and export.",
         "catalog.manage"),
    Link("/admin/workdays", "Working-day calendar", "Public holidays and make-up working days by year.",
         "calendar.manage"),
    Link("/ratings/rectifications", "Rectifications", "Bad ratings to answer within 15 working days.",
         "rating.respond"),
    Link("/ratings/rectifications", "Rectification oversight", "Follow and close the rectifications of your area.",
         "rating.supervise"),
    Link("/ratings/statistics", "Rating statistics", "Ratings by service, department and channel.", "rating.stats"),
    Link("/inbox", "Inbox", "Messages about your work and applications.", None),
    Link("/account/security", "Account security", "Your password and two-factor sign-in.", None),
)


def workbench_links(actor: Actor) -> list[Link]:
    """The workbench entries the actor may use; none for an anonymous visitor."""
    if not actor.is_authenticated:
        return []
    return [link for link in WORKBENCH if link.permission is None or actor.can(link.permission)]


def current_path(request: Request) -> str:
    """The page's own path and query, without ``lang`` (which would override the visitor's
    choice when the preferences form sends them back here)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + ("?" + urlencode(query) if query else "")

"""Routing facts of intake, memoised per process (``core.generations``): never stale on this host.

Intake looks up the same few facts for report after report: a category and its parents, the
current routing rules of a category chain, the active incidents, the city's code, the newest
classifier (:data:`ROUTING`), and the handlers of a (department or team, area) (:data:`HANDLERS`,
stale after any change to users, grants, the role policy, areas or departments). A plan records
the :func:`stamp` it routed under; the write re-routes when the stamp moved in between.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yiwang.core.generations import Memo, Stamp, session_stamp

ROUTING = Memo("cityops.routing", frozenset({"cityops_categories", "cityops_routing_rules", "cityops_incidents",
                                             "cityops_classifiers", "areas", "departments"}),
              max_entries=50_000)
HANDLERS = Memo("cityops.handlers", frozenset({"users", "role_grants", "role_permissions", "permissions",
                                               "policy_versions", "areas", "departments"}), max_entries=50_000)
_NAMES = (ROUTING.name, HANDLERS.name)


def stamp(session: Session) -> tuple[Stamp, ...] | None:
    """What routing worked out in ``session`` is valid for; None: it read changes of its own."""
    return session_stamp(session, _NAMES)

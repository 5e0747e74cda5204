"""Every route × every role, anonymous included, through the real sign-in path (bearer tokens).

The table below says who may use each route. The walk fails on a route the table does not know
(so a new route must be given a rule), on a role let through that the rule refuses (any answer but
401/403, or a redirect to the sign-in page), on a role refused that the rule allows, and on any 5xx.
Refused roles go first for each route, so that they meet the route's target still in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yiwang.app import api_routes
from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM
from yiwang.demo.registry import generate_entities, generate_persons
from yiwang.identity import service as identity_service
from yiwang.identity.policy import ROLES
from yiwang.registry import service as registry_service

CITY, DISTRICT, STREET = "31", "310101", "310101002"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Rule:
    """Who may use a route: everyone, anyone signed in, staff only, one account kind, or holders of
    a permission (per the default policy)."""

    kind: str
    permission: str | None = None

    def allows(self, role: str, permissions: dict[str, frozenset[str]]) -> bool:
        if self.kind in ("public", "credentials"):
            return True
        if role == ANONYMOUS:
            return False
        if self.kind == "signed_in":
            return True
        if self.kind == "staff":
            return role not in ("citizen", "enterprise_agent")
        if self.kind == "citizen":
            return role == "citizen"
        if self.kind == "enterprise":
            return role == "enterprise_agent"
        if self.kind == "applicant":
            return role in ("citizen", "enterprise_agent")
        if self.kind == "applicant_or":
            return role in ("citizen", "enterprise_agent") or self.permission in permissions[role]
        if self.kind == "citizen_or":
            return role == "citizen" or self.permission in permissions[role]
        return self.permission in permissions[role]


PUBLIC, SIGNED_IN, STAFF = Rule("public"), Rule("signed_in"), Rule("staff")
#: The sign-in machinery: open to everyone, and its answer (including 401, 403 or back to /login)
#: depends on the credentials and the step of the flow, not on the role; tests/identity covers it.
CREDENTIALS = Rule("credentials")
CITIZEN, ENTERPRISE = Rule("citizen"), Rule("enterprise")
#: A citizen or an enterprise agent (an applicant of 一网通办).
APPLICANT = Rule("applicant")


def applicant_or(name: str) -> Rule:
    """The applicant of the object, or staff holding ``name`` (the walk's ids are unknown: an
    applicant meets "not found", which the rule counts as let through)."""
    return Rule("applicant_or", name)


def citizen_or(name: str) -> Rule:
    """A citizen (a reporter of the object: the walk's ids are unknown, so they meet "not found"),
    or staff holding ``name``."""
    return Rule("citizen_or", name)


def perm(name: str) -> Rule:
    return Rule("permission", name)


def anyof(*names: str) -> Rule:
    return Rule("any", ",".join(names))


Body = Callable[[dict[str, str], str], dict[str, Any]]


def j(fn: Callable[[dict[str, str], str], Any]) -> Body:
    return lambda ids, tag: {"json": fn(ids, tag)}


def form(fn: Callable[[dict[str, str], str], Any]) -> Body:
    return lambda ids, tag: {"data": fn(ids, tag)}


def upload(name: str, content: str, extra: dict[str, str] | None = None) -> Body:
    return lambda ids, tag: {"files": {"file": (name, content.encode(), "text/csv")}, "data": extra or {}}


PERSON_CSV = "name,id_number,phone,address,area_code\n"
AREA_CSV = "code,name,level,parent_code\n"
CATALOG_ITEM = {
    "name": "巡检许可", "department": "310101-SCJG", "kind": "licence", "legal_limit_days": 20,
    "promised_limit_days": 5, "online_depth": 4, "areas": ["310101"], "materials": [],
    "form": {"type": "object", "properties": {"applicant_name": {"type": "string", "title": "姓名"}}},
}

ACCESS: dict[str, tuple[Rule, Body | None]] = {
    "GET /healthz": (PUBLIC, None),
    "GET /readyz": (PUBLIC, None),
    "GET /metrics": (PUBLIC, None),
    "GET /": (PUBLIC, None),
    # Anyone may set the display preferences, with the token of the page they came from (a post
    # without it is refused whatever the role: tests/site covers both).
    "POST /prefs": (CREDENTIALS, form(lambda ids, t: {"lang": "en", "next": "/"})),
    # identity
    "POST /api/v1/auth/login": (CREDENTIALS, j(lambda ids, t: {"username": "nobody", "password": "wrong-password"})),
    "POST /api/v1/auth/totp": (CREDENTIALS, j(lambda ids, t: {"code": "000000"})),
    "POST /api/v1/auth/logout": (PUBLIC, None),
    "GET /api/v1/me": (SIGNED_IN, None),
    "POST /api/v1/me/totp/setup": (SIGNED_IN, None),
    "POST /api/v1/me/totp/confirm": (CREDENTIALS, j(lambda ids, t: {"code": "000000"})),
    "GET /api/v1/users": (perm("user.manage"), None),
    "POST /api/v1/users": (perm("user.manage"), j(lambda ids, t: {
        "username": f"new.{t}", "password": "A-long-password-2026", "kind": "staff", "display_name": "新用户",
        "grants": [{"role": "handler", "area_code": STREET}]})),
    "GET /api/v1/users/{user_id}": (perm("user.manage"), None),
    "POST /api/v1/users/{user_id}/grants": (perm("user.manage"), j(lambda ids, t: {
        "role": "grid_worker", "area_code": STREET})),
    "DELETE /api/v1/users/{user_id}/grants/{grant_id}": (perm("user.manage"), None),
    "POST /api/v1/users/{user_id}/unlock": (perm("security.manage"), None),
    "POST /api/v1/users/{user_id}/disable": (perm("user.manage"), None),
    "POST /api/v1/users/{user_id}/enable": (perm("user.manage"), None),
    "POST /api/v1/users/{user_id}/totp/reset": (perm("security.manage"), None),
    "GET /api/v1/users/{user_id}/tokens": (perm("user.manage"), None),
    "GET /api/v1/roles": (STAFF, None),
    # Both policy editors are given the policy as it stands, so the walk does not change it.
    "PUT /api/v1/roles/{role}/permissions": (perm("role.manage"), j(lambda ids, t: {
        "permissions": ids["leader_permissions"]})),
    "POST /api/v1/tokens": (SIGNED_IN, j(lambda ids, t: {"name": f"t-{t}", "expires_days": 1})),
    "DELETE /api/v1/tokens/{token_id}": (perm("user.manage"), None),
    "GET /auth/oidc/login": (PUBLIC, None),
    "GET /auth/oidc/callback": (PUBLIC, None),
    "GET /login": (PUBLIC, None),
    "POST /login": (CREDENTIALS, form(lambda ids, t: {"username": "nobody", "password": "wrong-password"})),
    "GET /login/totp": (CREDENTIALS, None),
    "POST /login/totp": (CREDENTIALS, form(lambda ids, t: {"code": "000000"})),
    "POST /logout": (CREDENTIALS, None),
    "GET /account/security": (SIGNED_IN, None),
    "POST /account/security/totp": (SIGNED_IN, None),
    "POST /account/security/totp/confirm": (CREDENTIALS, form(lambda ids, t: {"code": "000000"})),
    "GET /admin/users": (perm("user.manage"), None),
    "POST /admin/users": (perm("user.manage"), form(lambda ids, t: {
        "username": f"page.{t}", "display_name": "页面用户", "kind": "staff", "password": "A-long-password-2026",
        "role": "handler", "area_code": STREET})),
    "GET /admin/users/{user_id}": (perm("user.manage"), None),
    "POST /admin/users/{user_id}/grants": (perm("user.manage"), form(lambda ids, t: {
        "role": "leader", "area_code": STREET})),
    "POST /admin/users/{user_id}/grants/{grant_id}/revoke": (perm("user.manage"), None),
    "POST /admin/users/{user_id}/unlock": (perm("security.manage"), None),
    "POST /admin/users/{user_id}/disable": (perm("user.manage"), None),
    "POST /admin/users/{user_id}/enable": (perm("user.manage"), None),
    "GET /admin/roles": (STAFF, None),
    "POST /admin/roles": (perm("role.manage"), form(lambda ids, t: {"perm": ids["matrix"]})),
    # audit
    "GET /api/v1/audit/entries": (perm("audit.read"), None),
    "POST /api/v1/audit/verify": (perm("audit.verify"), None),
    "GET /api/v1/audit/checkpoints": (perm("audit.read"), None),
    "GET /api/v1/audit/public-key": (PUBLIC, None),
    "GET /audit": (perm("audit.read"), None),
    "POST /audit/verify": (perm("audit.verify"), None),
    # areas and departments: public reference data, changed by administrators
    # workdays: the calendar is public; publishing a year needs calendar.manage
    "GET /api/v1/workdays/calendar/{year}": (PUBLIC, None),
    "PUT /api/v1/workdays/calendar/{year}": (perm("calendar.manage"), j(lambda ids, t: {
        "days": [{"date": "2027-01-01", "working": False, "name": "元旦"}]})),
    "GET /api/v1/workdays/due": (PUBLIC, None),
    "GET /admin/workdays": (perm("calendar.manage"), None),
    "POST /admin/workdays": (perm("calendar.manage"), upload("2027.csv", "date,working,name\n", {"year": "2027"})),
    "GET /api/v1/areas": (PUBLIC, None),
    "GET /api/v1/areas/locate": (PUBLIC, None),
    "GET /api/v1/areas/{code}": (PUBLIC, None),
    "GET /api/v1/areas/{code}/children": (PUBLIC, None),
    "GET /api/v1/areas/{code}/ancestors": (PUBLIC, None),
    "GET /api/v1/areas/{code}/geojson": (PUBLIC, None),
    "POST /api/v1/areas": (perm("area.manage"), j(lambda ids, t: {
        "code": f"310101{900 + int(t) % 99:03d}", "name": "测试街道", "level": "street", "parent_code": DISTRICT})),
    "POST /api/v1/areas/import": (perm("area.manage"), upload("areas.csv", AREA_CSV)),
    "GET /api/v1/departments": (PUBLIC, None),
    "GET /api/v1/departments/{department_id}": (PUBLIC, None),
    "POST /api/v1/departments": (perm("department.manage"), j(lambda ids, t: {
        "code": f"310101-T{t}", "name": "测试部门", "area_code": DISTRICT})),
    "GET /admin/areas": (perm("area.manage"), None),
    "GET /admin/areas/new": (perm("area.manage"), None),
    "POST /admin/areas/new": (perm("area.manage"), form(lambda ids, t: {
        "code": f"310101{800 + int(t) % 99:03d}", "name": "页面街道", "level": "street", "parent_code": DISTRICT})),
    "GET /admin/areas/import": (perm("area.manage"), None),
    "POST /admin/areas/import": (perm("area.manage"), upload("areas.csv", AREA_CSV)),
    "GET /admin/areas/{code}": (perm("area.manage"), None),
    "GET /admin/departments": (perm("department.manage"), None),
    "POST /admin/departments": (perm("department.manage"), form(lambda ids, t: {
        "code": f"310101-P{t}", "name": "页面部门", "area_code": DISTRICT})),
    # registry
    "GET /api/v1/registry/persons": (perm("registry.person.read"), None),
    "POST /api/v1/registry/persons": (perm("registry.person.write"), j(lambda ids, t: ids["new_person"])),
    "POST /api/v1/registry/persons/lookup": (perm("registry.person.read"), j(lambda ids, t: {
        "id_number": ids["person_id_number"]})),
    "POST /api/v1/registry/persons/import": (perm("registry.person.import"), upload("p.csv", PERSON_CSV)),
    "GET /api/v1/registry/persons/{person_id}": (perm("registry.person.read"), None),
    "PATCH /api/v1/registry/persons/{person_id}": (perm("registry.person.write"), j(lambda ids, t: {
        "address": "测试路1号"})),
    "POST /api/v1/registry/persons/{person_id}/reveal": (perm("registry.person.read_personal"), j(lambda ids, t: {
        "purpose": "核验"})),
    "GET /api/v1/registry/me": (CITIZEN, None),
    "GET /api/v1/registry/me/entity": (ENTERPRISE, None),
    "GET /api/v1/registry/entities": (perm("registry.entity.read"), None),
    "POST /api/v1/registry/entities": (perm("registry.entity.write"), j(lambda ids, t: ids["new_entity"])),
    "POST /api/v1/registry/entities/lookup": (perm("registry.entity.read"), j(lambda ids, t: {
        "uscc": ids["entity_uscc"]})),
    "POST /api/v1/registry/entities/import": (perm("registry.entity.import"), upload("e.csv", "uscc\n")),
    "GET /api/v1/registry/entities/{entity_id}": (perm("registry.entity.read"), None),
    "PATCH /api/v1/registry/entities/{entity_id}": (perm("registry.entity.write"), j(lambda ids, t: {
        "registered_address": "测试路2号"})),
    "POST /api/v1/registry/entities/{entity_id}/reveal": (perm("registry.entity.read_personal"), j(lambda ids, t: {
        "purpose": "核验"})),
    "GET /registry/persons": (perm("registry.person.read"), None),
    "POST /registry/persons/lookup": (perm("registry.person.read"), form(lambda ids, t: {
        "id_number": ids["person_id_number"]})),
    "POST /registry/persons/{person_id}/reveal": (perm("registry.person.read_personal"), form(lambda ids, t: {
        "purpose": "核验"})),
    "GET /registry/entities": (perm("registry.entity.read"), None),
    "POST /registry/entities/lookup": (perm("registry.entity.read"), form(lambda ids, t: {
        "uscc": ids["entity_uscc"]})),
    "POST /registry/entities/{entity_id}/reveal": (perm("registry.entity.read_personal"), form(lambda ids, t: {
        "purpose": "核验"})),
    "GET /registry/import": (anyof("registry.person.import", "registry.entity.import"), None),
    "POST /registry/import": (anyof("registry.person.import", "registry.entity.import"),
                              upload("p.csv", PERSON_CSV, {"kind": "persons"})),
    # catalog: the service guide is public, the catalogue is changed by its administrators
    "GET /api/v1/catalog/items": (PUBLIC, None),
    "GET /api/v1/catalog/items/{code}": (PUBLIC, None),
    "POST /api/v1/catalog/items": (perm("catalog.manage"), j(lambda ids, t: {"code": f"WALK-{t}", **CATALOG_ITEM})),
    "POST /api/v1/catalog/items/{code}/versions": (perm("catalog.manage"), j(lambda ids, t: CATALOG_ITEM)),
    "GET /api/v1/catalog/bundles": (PUBLIC, None),
    "GET /api/v1/catalog/bundles/{code}": (PUBLIC, None),
    "GET /api/v1/catalog/bundles/{code}/form": (PUBLIC, None),
    "GET /api/v1/catalog/search": (PUBLIC, None),
    "POST /api/v1/catalog/import": (perm("catalog.manage"), upload("catalog.yaml", "items: []\n")),
    "GET /api/v1/catalog/export": (perm("catalog.manage"), None),
    "GET /services": (PUBLIC, None),
    "GET /services/{code}": (PUBLIC, None),
    "GET /services/bundles/{code}": (PUBLIC, None),
    "GET /admin/catalog": (perm("catalog.manage"), None),
    "GET /admin/catalog/items/{code}": (perm("catalog.manage"), None),
    "POST /admin/catalog/items/{code}": (perm("catalog.manage"), form(lambda ids, t: {"text": "name: x", "fmt": "yaml"})),
    "GET /admin/catalog/import": (perm("catalog.manage"), None),
    "POST /admin/catalog/import": (perm("catalog.manage"), upload("catalog.yaml", "items: []\n")),
    # certificates
    "GET /api/v1/certificates/public-key": (PUBLIC, None),
    "GET /api/v1/certificates/mine": (SIGNED_IN, None),
    "POST /api/v1/certificates/verify": (PUBLIC, j(lambda ids, t: {"document": {}, "signature": {}})),
    "GET /api/v1/certificates/{certificate_id}": (perm("certificate.read"), None),
    "POST /api/v1/certificates/{certificate_id}/revoke": (perm("certificate.revoke"), j(lambda ids, t: {
        "reason": "核验"})),
    "GET /verify": (PUBLIC, None),
    "POST /verify": (PUBLIC, form(lambda ids, t: {"envelope": "{}"})),
    "GET /verify/{certificate_id}": (PUBLIC, None),
    "GET /my/certificates": (SIGNED_IN, None),
    "GET /my/certificates/{certificate_id}": (perm("certificate.read"), None),
    "GET /my/certificates/{certificate_id}/download": (perm("certificate.read"), None),
    # notifications: everyone's own inbox
    "GET /api/v1/inbox": (SIGNED_IN, None),
    "GET /api/v1/inbox/unread-count": (SIGNED_IN, None),
    "POST /api/v1/inbox/{notification_id}/read": (SIGNED_IN, None),
    "GET /inbox": (SIGNED_IN, None),
    "POST /inbox/{notification_id}/read": (SIGNED_IN, None),
    # ratings (好差评)
    "GET /api/v1/ratings/rectifications": (anyof("rating.respond", "rating.supervise"), None),
    "POST /api/v1/ratings/rectifications/{rectification_id}/reply": (perm("rating.respond"), j(lambda ids, t: {
        "text": "已整改"})),
    "POST /api/v1/ratings/rectifications/{rectification_id}/close": (perm("rating.supervise"), j(lambda ids, t: {
        "note": "已核实"})),
    "GET /api/v1/ratings/statistics": (perm("rating.stats"), None),
    "GET /ratings/rectifications": (anyof("rating.respond", "rating.supervise"), None),
    "POST /ratings/rectifications/{rectification_id}/reply": (perm("rating.respond"), form(lambda ids, t: {
        "text": "已整改"})),
    "POST /ratings/rectifications/{rectification_id}/close": (perm("rating.supervise"), form(lambda ids, t: {
        "note": "已核实"})),
    "GET /ratings/statistics": (perm("rating.stats"), None),
    # workflow: an unknown instance id answers 404 to staff, after the staff check
    "GET /api/v1/workflow/definitions": (STAFF, None),
    "POST /api/v1/workflow/definitions": (perm("workflow.manage"), upload("p.bpmn", "<x/>", {"key": "walk"})),
    "GET /api/v1/workflow/instances/{instance_id}/diagram": (STAFF, None),
    "GET /workflow/instances/{instance_id}/diagram": (STAFF, None),
    # files: an upload is its owner's (staff read materials through the applications routes); the
    # walk's file id is unknown, so signed-in roles meet 404; every role may upload (a PNG here)
    "POST /api/v1/files": (SIGNED_IN, lambda ids, t: {
        "files": {"file": (f"scan-{t}.png", b"\x89PNG\r\n\x1a\n" + bytes(24), "image/png")}}),
    "GET /api/v1/files/{file_id}": (SIGNED_IN, None),
    "GET /api/v1/files/{file_id}/content": (SIGNED_IN, None),
    # applications (办件): the walk's application ids are unknown, so allowed roles meet 404/422
    "POST /api/v1/applications": (APPLICANT, j(lambda ids, t: {"subject_kind": "item", "subject_code": "NOPE"})),
    "GET /api/v1/applications": (APPLICANT, None),
    "GET /api/v1/applications/materials": (APPLICANT, None),
    "POST /api/v1/applications/prefill": (APPLICANT, j(lambda ids, t: {
        "subject_kind": "item", "subject_code": "NOPE", "consent": True})),
    "GET /api/v1/applications/intake": (perm("application.intake"), None),
    "GET /api/v1/applications/inbox": (perm("application.decide"), None),
    "POST /api/v1/applications/hall": (perm("application.intake"), j(lambda ids, t: {
        "subject_kind": "item", "subject_code": "NOPE", "applicant_identifier": "x", "applicant_name": "x"})),
    "GET /api/v1/applications/{application_id}": (applicant_or("application.read"), None),
    "PATCH /api/v1/applications/{application_id}": (APPLICANT, j(lambda ids, t: {"data": {}})),
    "POST /api/v1/applications/{application_id}/submit": (APPLICANT, None),
    "POST /api/v1/applications/{application_id}/withdraw": (APPLICANT, j(lambda ids, t: {"reason": "walk"})),
    "POST /api/v1/applications/{application_id}/accept": (perm("application.intake"), None),
    "POST /api/v1/applications/{application_id}/refuse": (perm("application.intake"), j(lambda ids, t: {
        "reason": "walk"})),
    "POST /api/v1/applications/{application_id}/branches/{branch_id}/decide": (perm("application.decide"), j(
        lambda ids, t: {"decision": "approve"})),
    "POST /api/v1/applications/{application_id}/branches/{branch_id}/correct": (APPLICANT, j(lambda ids, t: {})),
    "GET /api/v1/applications/{application_id}/branches/{branch_id}/diagram": (
        applicant_or("application.read"), None),
    "POST /api/v1/applications/{application_id}/rating": (APPLICANT, j(lambda ids, t: {"score": 5})),
    "GET /api/v1/applications/{application_id}/materials/{file_id}/content": (
        applicant_or("application.read"), None),
    # applications pages: the citizen portal (applicants), the clerk workbench, the approver inbox
    "GET /apply/{kind}/{code}": (APPLICANT, None),
    "POST /apply/{kind}/{code}": (APPLICANT, form(lambda ids, t: {"action": "draft"})),
    "GET /my/applications": (APPLICANT, None),
    "GET /my/applications/{application_id}": (APPLICANT, None),
    "POST /my/applications/{application_id}/submit": (APPLICANT, None),
    "POST /my/applications/{application_id}/withdraw": (APPLICANT, form(lambda ids, t: {"reason": "walk"})),
    "POST /my/applications/{application_id}/rating": (APPLICANT, form(lambda ids, t: {"score": "5"})),
    "POST /my/applications/{application_id}/branches/{branch_id}/correct": (APPLICANT, form(lambda ids, t: {
        "note": "walk"})),
    "GET /workbench": (perm("application.intake"), None),
    "GET /workbench/applications/{application_id}": (perm("application.intake"), None),
    "POST /workbench/applications/{application_id}/accept": (perm("application.intake"), None),
    "POST /workbench/applications/{application_id}/refuse": (perm("application.intake"), form(lambda ids, t: {
        "reason": "walk"})),
    "GET /workbench/hall": (perm("application.intake"), None),
    "POST /workbench/hall": (perm("application.intake"), form(lambda ids, t: {
        "kind": "item", "code": "NOPE", "applicant_identifier": "x", "applicant_name": "x"})),
    # 一网统管 (cityops): the walk's event and incident ids are unknown, so allowed roles meet 404/422
    "GET /api/v1/cityops/categories": (PUBLIC, None),
    "POST /api/v1/cityops/categories": (perm("cityops.category.manage"), j(lambda ids, t: {
        "code": f"WALK{t}", "name": "巡检分类"})),
    "POST /api/v1/cityops/reports/citizen": (CITIZEN, j(lambda ids, t: {"description": "路边垃圾"})),
    "POST /api/v1/cityops/reports/hotline": (perm("cityops.intake"), j(lambda ids, t: {
        "description": "路边垃圾", "caller_phone": "13812345678"})),
    "POST /api/v1/cityops/reports/patrol": (perm("cityops.patrol"), j(lambda ids, t: {"description": "路边垃圾"})),
    "GET /api/v1/cityops/events": (perm("cityops.read"), None),
    "POST /api/v1/cityops/events/bulk-dispatch": (perm("cityops.dispatch"), j(lambda ids, t: {
        "event_ids": ["NOPE"], "department_id": ids["department_id"]})),
    "GET /api/v1/cityops/events/{event_id}": (citizen_or("cityops.read"), None),
    # 一网统管 pages: the citizen's reports, the console, the inbox, the event page, 12345
    "GET /report": (CITIZEN, None),
    "POST /report": (CITIZEN, form(lambda ids, t: {"description": "路边垃圾", "category": "unsure"})),
    "GET /my/reports": (CITIZEN, None),
    "GET /my/reports/{event_id}": (CITIZEN, None),
    "POST /my/reports/{event_id}/rating": (CITIZEN, form(lambda ids, t: {"score": "5"})),
    "POST /my/reports/{event_id}/reopen": (CITIZEN, form(lambda ids, t: {"reason": "walk"})),
    "GET /cityops/events/{event_id}": (perm("cityops.read"), None),
    "POST /cityops/events/{event_id}/{action}": (perm("cityops.read"), form(lambda ids, t: {"reason": "walk"})),
    "GET /cityops/console": (perm("cityops.dispatch"), None),
    # 派单规则 and 战时模式 pages, and an event's photos (the walk's ids are unknown: allowed roles meet 404/422)
    "GET /cityops/rules": (perm("cityops.route"), None),
    "GET /cityops/rules/{rule_id}": (perm("cityops.route"), None),
    "POST /cityops/rules": (perm("cityops.route"), form(lambda ids, t: {
        "category_code": "SRHJ", "area_prefix": STREET, "target": ids["department_id"]})),
    "GET /cityops/incidents": (perm("cityops.read"), None),
    "POST /cityops/incidents": (perm("cityops.incident"), form(lambda ids, t: {"name": "walk"})),
    "POST /cityops/incidents/{incident_id}/stand-down": (perm("cityops.incident"), None),
    "GET /cityops/events/{event_id}/photos/{file_id}": (citizen_or("cityops.read"), None),
    "POST /cityops/console/dispatch": (perm("cityops.dispatch"), form(lambda ids, t: {"target": "x"})),
    "GET /cityops/inbox": (perm("cityops.handle"), None),
    "GET /cityops/hotline": (perm("cityops.intake"), None),
    "POST /cityops/hotline": (perm("cityops.intake"), form(lambda ids, t: {"description": "路边垃圾"})),
    "GET /cityops/hotline/suggest": (perm("cityops.intake"), None),
    "POST /cityops/hotline/answer": (perm("cityops.intake"), form(lambda ids, t: {"q": "walk", "service": "item:NOPE"})),
    "POST /cityops/hotline/caller": (perm("cityops.intake"), form(lambda ids, t: {"caller_phone": "13800000000"})),
    "POST /api/v1/cityops/events/{event_id}/triage": (perm("cityops.dispatch"), j(lambda ids, t: {})),
    "POST /api/v1/cityops/events/{event_id}/dispatch": (perm("cityops.dispatch"), j(lambda ids, t: {
        "department_id": ids["department_id"]})),
    "POST /api/v1/cityops/events/{event_id}/accept": (perm("cityops.handle"), None),
    "POST /api/v1/cityops/events/{event_id}/return": (perm("cityops.handle"), j(lambda ids, t: {"reason": "walk"})),
    "POST /api/v1/cityops/events/{event_id}/handle": (perm("cityops.handle"), j(lambda ids, t: {"note": "walk"})),
    "POST /api/v1/cityops/events/{event_id}/check": (perm("cityops.dispatch"), j(lambda ids, t: {"passed": True})),
    "POST /api/v1/cityops/events/{event_id}/rating": (SIGNED_IN, j(lambda ids, t: {"score": 5})),
    "POST /api/v1/cityops/events/{event_id}/reopen": (SIGNED_IN, j(lambda ids, t: {"reason": "walk"})),
    "GET /api/v1/cityops/rules": (perm("cityops.read"), None),
    "POST /api/v1/cityops/rules": (perm("cityops.route"), j(lambda ids, t: {
        "category_code": "NOPE", "area_prefix": DISTRICT, "department_id": ids["department_id"]})),
    "GET /api/v1/cityops/incidents": (perm("cityops.read"), None),
    "POST /api/v1/cityops/incidents": (perm("cityops.incident"), j(lambda ids, t: {
        "name": "walk", "area_code": DISTRICT, "categories": ["NOPE"], "department_id": ids["department_id"]})),
    "POST /api/v1/cityops/incidents/{incident_id}/stand-down": (perm("cityops.incident"), None),
    # Open311 GeoReport v2: public reads; a POST is allowed by its api_key form field (not the bearer
    # header), so its answer depends on the credentials sent, not on the role (tests/cityops/test_open311.py)
    "GET /open311/v2/discovery.{fmt}": (PUBLIC, None),
    "GET /open311/v2/services.{fmt}": (PUBLIC, None),
    "GET /open311/v2/services/{service_code}.{fmt}": (PUBLIC, None),
    "POST /open311/v2/requests.{fmt}": (CREDENTIALS, form(lambda ids, t: {"service_code": "SRHJ.LJ", "lat": "31.2",
                                                                         "long": "121.2", "description": "路边垃圾"})),
    "GET /open311/v2/tokens/{token}.{fmt}": (PUBLIC, None),
    "GET /open311/v2/requests.{fmt}": (PUBLIC, None),
    "GET /open311/v2/requests/{service_request_id}.{fmt}": (PUBLIC, None),
    "GET /open311/v2/servicerequestupdates.{fmt}": (PUBLIC, None),
    "GET /inbox/tasks": (perm("application.decide"), None),
    "GET /inbox/tasks/{application_id}/{branch_id}": (perm("application.decide"), None),
    "POST /inbox/tasks/{application_id}/{branch_id}/decide": (perm("application.decide"), form(lambda ids, t: {
        "decision": "approve"})),
    # the open-data portal (datacat/pages.py): public reads; applying and asking need a sign-in (the
    # walk's dataset name and table id are unknown, so allowed roles meet 404)
    "GET /opendata": (PUBLIC, None),
    "GET /opendata/dataset/{name}": (PUBLIC, None),
    "POST /opendata/dataset/{name}/access": (SIGNED_IN, form(lambda ids, t: {"organisation": "walk", "purpose": "walk"})),
    "GET /opendata/download/{distribution_id}.{fmt}": (PUBLIC, None),
    "GET /opendata/demands": (PUBLIC, None),
    "POST /opendata/demands": (SIGNED_IN, form(lambda ids, t: {"title": f"walk {t}"})),
    "GET /opendata/my": (SIGNED_IN, None),
    # open data: the CKAN Action API (one route per prefix and method; reads are public, and a write's
    # answer depends on the token sent — tests/datacat/test_ckan.py — the walk meets "action not known")
    "GET /api/3/action/{action}": (PUBLIC, None),
    "POST /api/3/action/{action}": (PUBLIC, None),
    "GET /api/action/{action}": (PUBLIC, None),
    "POST /api/action/{action}": (PUBLIC, None),
    # DCAT-AP export of the open catalogue
    "GET /catalog.{fmt}": (PUBLIC, None),
    "GET /dataset/{ref}.{fmt}": (PUBLIC, None),
    # data catalogue, staff API (datacat/api.py): the walk's ids are unknown, so allowed roles meet 404/422
    "GET /api/v1/datacat/resources": (anyof("datacat.read", "datacat.manage"), None),
    "POST /api/v1/datacat/resources": (perm("datacat.manage"), j(lambda ids, t: {
        "name": f"walk-{t}", "code": f"WALK-{t}", "title": "巡检数据", "department_id": "x", "topic": "transport"})),
    "GET /api/v1/datacat/resources/{ref}": (anyof("datacat.read", "datacat.manage"), None),
    "PATCH /api/v1/datacat/resources/{ref}": (perm("datacat.manage"), j(lambda ids, t: {"summary": "walk"})),
    "GET /api/v1/datacat/resources/{ref}/history": (anyof("datacat.read", "datacat.manage"), None),
    "POST /api/v1/datacat/resources/{ref}/distributions": (perm("datacat.manage"), upload("t.csv", "a,b\n1,2\n")),
    "GET /api/v1/datacat/distributions/{distribution_id}/versions": (anyof("datacat.read", "datacat.manage"), None),
    "PUT /api/v1/datacat/distributions/{distribution_id}/steps": (perm("datacat.manage"), j(lambda ids, t: {
        "steps": []})),
    "GET /api/v1/datacat/distributions/{distribution_id}/preview": (anyof("datacat.read", "datacat.manage"), None),
    "POST /api/v1/datacat/resources/{ref}/open": (perm("datacat.manage"), None),
    "POST /api/v1/datacat/resources/{ref}/close": (perm("datacat.manage"), None),
    "POST /api/v1/datacat/resources/{ref}/grants": (perm("datacat.manage"), j(lambda ids, t: {
        "department_id": "x", "max_sensitivity": 3, "purpose": "walk"})),
    "DELETE /api/v1/datacat/grants/{grant_id}": (perm("datacat.manage"), None),
    "GET /api/v1/datacat/responsibilities": (anyof("datacat.read", "datacat.manage"), None),
    "GET /api/v1/datacat/demands": (SIGNED_IN, None),
    "POST /api/v1/datacat/demands": (SIGNED_IN, j(lambda ids, t: {"title": f"walk {t}"})),
    "POST /api/v1/datacat/demands/{demand_id}/answer": (perm("datacat.manage"), j(lambda ids, t: {
        "status": "answered", "answer": "walk"})),
    "POST /api/v1/datacat/resources/{ref}/access-requests": (SIGNED_IN, j(lambda ids, t: {
        "organisation": "walk", "purpose": "walk"})),
    "GET /api/v1/datacat/access-requests": (SIGNED_IN, None),
    "POST /api/v1/datacat/access-requests/{request_id}/decision": (perm("datacat.manage"), j(lambda ids, t: {
        "approve": False})),
    "GET /api/v1/datacat/access-requests/{request_id}/token": (SIGNED_IN, None),
    # data catalogue, staff pages (datacat/staff_pages.py): the walk's ids are unknown, so allowed roles meet 404/422
    "GET /datacat": (anyof("datacat.read", "datacat.manage"), None),
    "GET /datacat/new": (perm("datacat.manage"), None),
    "POST /datacat/new": (perm("datacat.manage"), form(lambda ids, t: {"title": "巡检数据", "name": f"walk-{t}"})),
    "GET /datacat/resources/{ref}": (anyof("datacat.read", "datacat.manage"), None),
    "GET /datacat/resources/{ref}/edit": (perm("datacat.manage"), None),
    "POST /datacat/resources/{ref}/edit": (perm("datacat.manage"), form(lambda ids, t: {"title": "巡检数据"})),
    "POST /datacat/resources/{ref}/{action}": (perm("datacat.manage"), form(lambda ids, t: {"reason": "walk"})),
    "GET /datacat/resources/{ref}/tables/{distribution_id}/preview": (anyof("datacat.read", "datacat.manage"), None),
    "POST /datacat/grants/{grant_id}/revoke": (perm("datacat.manage"), None),
    "GET /datacat/responsibilities": (anyof("datacat.read", "datacat.manage"), None),
    "GET /datacat/demands": (anyof("datacat.read", "datacat.manage"), None),
    "POST /datacat/demands/{demand_id}/answer": (perm("datacat.manage"), form(lambda ids, t: {
        "status": "answered", "answer": "walk"})),
    "GET /datacat/access-requests": (perm("datacat.manage"), None),
    "POST /datacat/access-requests/{request_id}/decide": (perm("datacat.manage"), form(lambda ids, t: {
        "decision": "reject"})),
}


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, through included routers."""
    return sorted({(m, path) for path, r in api_routes(app) for m in r.methods - {"HEAD"}})


def _targets(db) -> dict[str, str]:
    """The objects that path parameters name: areas, a department, a user with a grant and a token,
    a person and a legal entity, all in the district every role's grant covers."""
    with db.transaction() as s:
        areas_service.create_area(s, SYSTEM, code=CITY, name="上海市", level="city")
        areas_service.create_area(s, SYSTEM, code=DISTRICT, name="黄浦区", level="district", parent_code=CITY)
        areas_service.create_area(s, SYSTEM, code=STREET, name="南京东路街道", level="street", parent_code=DISTRICT)
        dep = areas_service.create_department(s, SYSTEM, code="310101-SCJG", name="黄浦区市场监管局",
                                              area_code=DISTRICT)
        target = identity_service.create_user(
            s, SYSTEM, username="target.user", password="A-long-password-2026", kind="staff",
            display_name="目标用户", grants=[("handler", STREET, None)])
        grant_id = identity_service.get_user(s, SYSTEM, target.id).grants[0].id
        _, token = identity_service.create_token(s, SYSTEM, target.id, "target", 30)
        persons = generate_persons([STREET], 3, seed=7)
        person = registry_service.create_person(s, SYSTEM, persons[0])
        entities = generate_entities([STREET], 2, seed=7)
        entity = registry_service.create_entity(s, SYSTEM, entities[0])
    return {
        "user_id": target.id, "grant_id": grant_id, "token_id": token.id, "role": "leader",
        "code": DISTRICT, "department_id": dep.id, "person_id": person.id, "entity_id": entity.id,
        "person_id_number": persons[0]["id_number"], "entity_uscc": entities[0]["uscc"],
        "new_person": persons[1], "new_entity": entities[1],
    }


def _tokens(db) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """A bearer token for one user of every role, each granted over the whole city."""
    tokens, permissions = {}, {}
    with db.transaction() as s:
        for role in ROLES:
            kind = {"citizen": "citizen", "enterprise_agent": "enterprise"}.get(role, "staff")
            grants = [] if kind != "staff" else [(role, CITY, None)]
            user = identity_service.create_user(s, SYSTEM, username=f"walk.{role}", password="A-long-password-2026",
                                                kind=kind, display_name=role, grants=grants)
            plaintext, _ = identity_service.create_token(s, SYSTEM, user.id, "walk", 1)
            tokens[role] = plaintext
            actor = identity_service.actor_for_user(s, user.id, mfa=True)
            permissions[role] = frozenset(p for g in actor.grants for p in g.permissions)
    permissions[ANONYMOUS] = frozenset()
    return tokens, permissions


def _allows(rule: Rule, role: str, permissions: dict[str, frozenset[str]]) -> bool:
    if rule.kind == "any":
        return role != ANONYMOUS and any(p in permissions[role] for p in (rule.permission or "").split(","))
    return rule.allows(role, permissions)


def _refused(response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code in (302, 303, 307) and response.headers.get("location", "").startswith("/login")


class TestRouteWalk:
    def test_every_route_is_in_the_access_table(self, app):
        served = {f"{m} {p}" for m, p in app_routes(app)}
        unknown = sorted(served - set(ACCESS))
        stale = sorted(set(ACCESS) - served)
        assert unknown == [], f"routes without an access rule: {unknown}"
        assert stale == [], f"rules for routes that no longer exist: {stale}"

    def test_every_route_has_a_one_line_summary_in_openapi(self, app):
        missing = [f"{m} {p}" for p, r in api_routes(app) for m in r.methods - {"HEAD"} if not r.summary]
        assert missing == []

    def test_every_route_answers_every_role_as_the_table_says(self, app, db):
        from fastapi.testclient import TestClient

        ids: dict[str, Any] = _targets(db)
        tokens, permissions = _tokens(db)
        ids["leader_permissions"] = sorted(permissions["leader"])
        ids["matrix"] = [f"{role}:{p}" for role in ROLES for p in sorted(permissions[role])]
        roles = [ANONYMOUS, *ROLES]
        wrong: list[str] = []
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            for n, (method, path) in enumerate(app_routes(app)):
                rule, body = ACCESS[f"{method} {path}"]
                url = path
                for name, value in ids.items():
                    if not isinstance(value, str):
                        continue
                    url = url.replace("{" + name + "}", value)
                if path == "/api/v1/areas/locate":
                    url += "?lon=121.49&lat=31.2"
                if path == "/api/v1/applications/materials":
                    url += "?subject_kind=item&subject_code=NOPE"
                ordered = sorted(roles, key=lambda r: _allows(rule, r, permissions))
                for k, role in enumerate(ordered):
                    client.cookies.clear()
                    headers = {"Accept": "text/html" if not path.startswith("/api/") else "application/json"}
                    if role != ANONYMOUS:
                        headers["Authorization"] = f"Bearer {tokens[role]}"
                    kwargs = body(ids, f"{n}{k:02d}") if body else {}
                    r = client.request(method, url, headers=headers, **kwargs)
                    allowed = _allows(rule, role, permissions)
                    if r.status_code >= 500:
                        wrong.append(f"{method} {path} as {role}: {r.status_code}")
                    elif rule.kind == "credentials":
                        continue
                    elif allowed and _refused(r):
                        wrong.append(f"{method} {path} as {role}: refused ({r.status_code}) but the rule allows"
                                     f" {r.text[:120]!r}")
                    elif not allowed and not _refused(r):
                        wrong.append(f"{method} {path} as {role}: let through ({r.status_code}) but the rule refuses")
        assert wrong == [], "\n".join(wrong)

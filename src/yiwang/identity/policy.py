"""The access policy: roles, permissions, the default role → permission table, the 三员 rules,
and the pycasbin enforcer that evaluates the policy held in the database.

The policy is data (table ``role_permissions``), seeded from :data:`DEFAULT_POLICY` by
``service.seed_policy``. To add a permission: add one line to :data:`PERMISSIONS` and, if roles get
it by default, to :data:`DEFAULT_POLICY`; the next ``seed_policy`` (run by ``yiwang db upgrade``)
inserts it and its default holders, and never re-adds a pair an operator removed.

Where a permission holds (an area subtree, a department) is not part of this policy: it is the
grant's scope, checked by :class:`yiwang.core.actor.Actor`. See docs/adr/0003-access-policy.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import casbin
from casbin.model import Model


@dataclass(frozen=True, slots=True)
class RoleInfo:
    code: str
    zh: str
    en: str
    kinds: frozenset[str]
    """Kinds of user that may hold the role."""


@dataclass(frozen=True, slots=True)
class PermissionInfo:
    name: str
    zh: str
    en: str
    changes_state: bool


STAFF = frozenset({"staff", "machine"})

ROLES: dict[str, RoleInfo] = {
    r.code: r
    for r in (
        RoleInfo("citizen", "市民", "Citizen", frozenset({"citizen"})),
        RoleInfo("enterprise_agent", "企业经办人", "Enterprise agent", frozenset({"enterprise"})),
        RoleInfo("clerk", "窗口人员", "Service-hall clerk", STAFF),
        RoleInfo("approver", "审批人员", "Approver", STAFF),
        RoleInfo("hotline_operator", "12345话务员", "12345 hotline operator", STAFF),
        RoleInfo("dispatcher", "派单员", "Dispatcher", STAFF),
        RoleInfo("handler", "处置人员", "Handler", STAFF),
        RoleInfo("grid_worker", "网格员", "Grid worker", STAFF),
        RoleInfo("data_officer", "数据专员", "Data officer", STAFF),
        RoleInfo("leader", "领导", "Leader", STAFF),
        RoleInfo("sys_admin", "系统管理员", "System administrator", frozenset({"staff"})),
        RoleInfo("security_admin", "安全管理员", "Security administrator", frozenset({"staff"})),
        RoleInfo("audit_admin", "审计管理员", "Audit administrator", frozenset({"staff"})),
        RoleInfo("catalog_admin", "事项管理员", "Service catalogue administrator", STAFF),
    )
}

PERMISSIONS: dict[str, PermissionInfo] = {
    p.name: p
    for p in (
        PermissionInfo("area.manage", "管理行政区划与网格", "Manage areas and grids", True),
        PermissionInfo("department.manage", "管理部门", "Manage departments", True),
        PermissionInfo("user.manage", "管理用户账号", "Manage user accounts", True),
        PermissionInfo("role.manage", "管理角色权限", "Manage role permissions", True),
        PermissionInfo("security.manage", "管理安全策略", "Manage security settings", True),
        PermissionInfo("audit.read", "查阅审计日志", "Read the audit trail", False),
        PermissionInfo("audit.verify", "校验审计链", "Verify the audit chain", False),
        PermissionInfo("registry.person.read", "查看人口信息（脱敏）", "Read person records (masked)", False),
        PermissionInfo("registry.person.read_personal", "查看人口个人信息（明文）",
                       "Read personal fields of person records", False),
        PermissionInfo("registry.person.write", "维护人口信息", "Change person records", True),
        PermissionInfo("registry.person.import", "导入人口信息", "Import person records", True),
        PermissionInfo("registry.entity.read", "查看法人信息（脱敏）", "Read legal-entity records (masked)", False),
        PermissionInfo("registry.entity.read_personal", "查看法人个人信息（明文）",
                       "Read personal fields of legal-entity records", False),
        PermissionInfo("registry.entity.write", "维护法人信息", "Change legal-entity records", True),
        PermissionInfo("registry.entity.import", "导入法人信息", "Import legal-entity records", True),
        PermissionInfo("backup.run", "执行备份与恢复", "Run backups and restores", True),
        PermissionInfo("workflow.manage", "管理审批流程定义", "Manage approval process definitions", True),
        PermissionInfo("calendar.manage", "维护工作日历", "Maintain the working-day calendar", True),
        PermissionInfo("certificate.issue", "签发电子证照", "Issue electronic certificates", True),
        PermissionInfo("certificate.revoke", "注销电子证照", "Revoke electronic certificates", True),
        PermissionInfo("certificate.read", "查阅电子证照", "Read electronic certificates", False),
        PermissionInfo("catalog.manage", "管理政务服务事项", "Manage the service catalogue", True),
        PermissionInfo("rating.respond", "答复差评整改", "Reply to rectifications of bad ratings", True),
        PermissionInfo("rating.supervise", "督办差评整改", "Supervise and close rectifications", True),
        PermissionInfo("rating.stats", "查看好差评统计", "Read rating statistics", False),
        PermissionInfo("application.intake", "受理办件", "Accept or refuse applications at intake", True),
        PermissionInfo("application.decide", "审批办件", "Decide applications for a department", True),
        PermissionInfo("application.read", "查阅办件", "Read applications and their materials", False),
        PermissionInfo("application.supervise", "督办超期办件", "Receive escalations of overdue applications", False),
        PermissionInfo("cityops.intake", "登记12345诉求事件", "Enter 12345 calls as city events", True),
        PermissionInfo("cityops.patrol", "上报巡查事件", "Report city events found on patrol", True),
        PermissionInfo("cityops.read", "查阅城市事件", "Read city events and their timelines", False),
        PermissionInfo("cityops.dispatch", "研判派单与核查结案", "Triage, dispatch, check and close city events", True),
        PermissionInfo("cityops.handle", "接单处置城市事件", "Accept, return and handle city events", True),
        PermissionInfo("cityops.route", "维护派单规则", "Edit the routing rules of city events", True),
        PermissionInfo("cityops.incident", "启动与解除战时模式", "Declare and stand down emergency incidents", True),
        PermissionInfo("cityops.supervise", "督办超期事件", "Receive escalations of overdue city events", False),
        PermissionInfo("datacat.read", "查阅政务信息资源目录", "Read the government data catalogue", False),
        PermissionInfo("datacat.manage", "编目、发布与开放数据资源", "Catalogue, publish and open data resources", True),
        PermissionInfo("cityops.category.manage", "管理事件分类与研判模型",
                       "Manage event categories and train the classifier", True),
    )
}

_PERSON_READ = ("registry.person.read", "registry.person.read_personal")
_ENTITY_READ = ("registry.entity.read", "registry.entity.read_personal")

DEFAULT_POLICY: dict[str, frozenset[str]] = {
    "citizen": frozenset(),
    "enterprise_agent": frozenset(),
    "clerk": frozenset(_PERSON_READ + _ENTITY_READ) | {"certificate.read"}
    | {"application.intake", "application.read"},
    "approver": frozenset(_PERSON_READ + _ENTITY_READ) | {"rating.respond"}
    | {"certificate.issue", "certificate.revoke", "certificate.read"} | {"application.decide", "application.read"},
    "hotline_operator": frozenset(_PERSON_READ) | {"cityops.intake", "cityops.read"},
    "dispatcher": frozenset({"registry.person.read"})
    | {"cityops.read", "cityops.dispatch", "cityops.route", "cityops.incident", "cityops.supervise",
       "cityops.category.manage"},
    "handler": frozenset({"registry.person.read"}) | {"cityops.read", "cityops.handle"},
    "grid_worker": frozenset({"registry.person.read"}) | {"cityops.read", "cityops.handle", "cityops.patrol"},
    "leader": frozenset({"registry.person.read", "registry.entity.read"}) | {"rating.supervise", "rating.stats"}
    | {"application.read", "application.supervise"} | {"cityops.read", "cityops.supervise"} | {"datacat.read"},
    "data_officer": frozenset({
        "registry.person.read", "registry.entity.read", "registry.person.write", "registry.entity.write",
        "registry.person.import", "registry.entity.import", "datacat.read", "datacat.manage",
    }),
    "sys_admin": frozenset({"area.manage", "department.manage", "user.manage", "backup.run",
                            "calendar.manage", "workflow.manage"}),
    "security_admin": frozenset({"role.manage", "security.manage"}),
    "audit_admin": frozenset({"audit.read", "audit.verify"}),
    "catalog_admin": frozenset({"catalog.manage"}),
}

# -- 三员 separation ----------------------------------------------------------------------------

ADMIN_ROLES = frozenset({"sys_admin", "security_admin", "audit_admin"})
"""系统管理员, 安全管理员, 审计管理员: no user may hold two of them."""

_EXPLICIT_SENSITIVE = frozenset({"audit.read", "audit.verify", "user.manage", "role.manage", "security.manage"})


def is_sensitive(permission: str) -> bool:
    """Whether holding ``permission`` needs a session verified with TOTP (等保 level 3)."""
    return permission in _EXPLICIT_SENSITIVE or permission.endswith(".read_personal")


def changes_state(permission: str) -> bool:
    info = PERMISSIONS.get(permission)
    if info is not None:
        return info.changes_state
    return not permission.endswith((".read", ".read_personal", ".verify"))


@dataclass(frozen=True, slots=True)
class Violation:
    """Why a 三员 rule refuses something: an English msgid (translated for people) and its params."""

    msgid: str
    params: dict[str, str]

    def __str__(self) -> str:
        return self.msgid.format(**self.params)


def separation_violation(role: str, permissions: frozenset[str] | set[str]) -> Violation | None:
    """Why ``role`` may not hold ``permissions`` under 三员 separation, or None when it may.

    The system administrator never reviews the audit trail nor edits the policy; the audit
    administrator changes nothing; the security administrator manages no accounts."""
    if role == "sys_admin":
        bad = sorted(p for p in permissions if p.startswith("audit.") or p == "role.manage")
        if bad:
            return Violation("The system administrator may not hold {permissions}.", {"permissions": ", ".join(bad)})
    if role == "audit_admin":
        bad = sorted(p for p in permissions if changes_state(p))
        if bad:
            return Violation("The audit administrator may not hold permissions that change state ({permissions}).",
                             {"permissions": ", ".join(bad)})
    if role == "security_admin":
        bad = sorted(p for p in permissions if p == "user.manage")
        if bad:
            return Violation("The security administrator may not hold {permissions}.", {"permissions": ", ".join(bad)})
    return None


def roles_conflict(held: set[str] | frozenset[str], new_role: str) -> Violation | None:
    """Why a user holding ``held`` may not also get ``new_role``, or None."""
    if new_role in ADMIN_ROLES:
        other = sorted((set(held) & ADMIN_ROLES) - {new_role})
        if other:
            return Violation("One user may not hold both {held} and {role}.", {"held": other[0], "role": new_role})
    return None


# -- pycasbin --------------------------------------------------------------------------------

MODEL_TEXT = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""
"""RBAC: a subject is a role; a permission ``a.b.verb`` is object ``a.b`` and action ``verb``.
``g`` lets a role inherit another's permissions should an operator want that later."""


def split_permission(permission: str) -> tuple[str, str]:
    obj, _, act = permission.rpartition(".")
    return obj, act


def join_permission(obj: str, act: str) -> str:
    return f"{obj}.{act}"


def build_enforcer(pairs: list[tuple[str, str]]) -> casbin.Enforcer:
    """A pycasbin enforcer holding ``(role, permission)`` pairs."""
    model = Model()
    model.load_model_from_text(MODEL_TEXT)
    enforcer = casbin.Enforcer(model)
    rules = [[role, *split_permission(perm)] for role, perm in pairs]
    if rules:
        enforcer.add_policies(rules)
    return enforcer


def role_permissions(enforcer: casbin.Enforcer, roles: list[str] | None = None) -> dict[str, frozenset[str]]:
    """Every known role's permissions as the enforcer derives them (inheritance included)."""
    out: dict[str, frozenset[str]] = {}
    for role in roles or list(ROLES):
        out[role] = frozenset(
            join_permission(obj, act) for _sub, obj, act in enforcer.get_implicit_permissions_for_user(role)
        )
    return out

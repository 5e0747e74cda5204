"""Demo applications (办件) in every state, filed and handled by the demo accounts themselves.

Every application goes through the applications service as the real actor would: the citizen or
enterprise agent pre-fills the form from their own record (with consent), uploads small real PDFs
and submits; a district clerk accepts (受理) or refuses it; the department's approver decides each
step; the applicant answers a correction (补正), withdraws or rates. So every row, timeline event,
audit entry, certificate, notification and rectification is the one the real flow makes.

The clock is the real one. Branches that should already be late are accepted with an earlier
``received_on`` (补录 of a paper application received that day), which is the only way the service
lets a deadline start in the past: the approvers' inboxes then show ``warning`` and ``overdue``
branches, and the overdue ones are escalated to their departments' heads by the worker's own job.

What is loaded (citizen1…5 and enterprise1…3 are linked to registry records by the loader):

- citizen1: 开办餐饮店 (YJS-001) — journey 1's end state: three branches approved in parallel,
  the signage branch after a correction, three certificates, rated 5.
- citizen2: a draft (开办美容美发店) and 居住证办理 in review, overdue.
- citizen3: 无犯罪记录证明 submitted (awaiting intake) and 公共场所卫生许可 in review, due soon.
- citizen4: 开办便利店 closed partly approved; 供水接入申请 in correction; 居民身份证换领 accepted
  at the 徐汇区 hall for this 黄浦区 resident (全市通办), overdue.
- citizen5: 住宅室内装饰装修备案 refused at intake; 占用道路设摊审批 in review at its approval step;
  another 开办餐饮店 in review: its business licence granted, the signage branch due soon.
- enterprise1: 消防安全检查 in review (accepted today) and 排水许可 in review, overdue.
- enterprise2: 第二类医疗器械经营备案 closed rejected, rated 2 — a rectification is open.
- enterprise3: 生活垃圾清运服务申请 submitted; 临时占用道路审批 withdrawn after intake.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yiwang.applications import service as applications_service
from yiwang.applications.schemas import ApplicationRead
from yiwang.core.actor import Actor
from yiwang.files import service as files_service
from yiwang.identity import service as identity_service
from yiwang.registry import service as registry_service
from yiwang.workdays import service as workdays_service

log = logging.getLogger("yiwang.demo")

STREET = "310101002"
"""南京东路街道 (黄浦区): where the demo shops are."""
HALL_DISTRICTS = ("310104", "310105")
"""The 全市通办 hall: 徐汇区's, or 长宁区's for a resident of 徐汇区 (another district's hall either way)."""
WARNING_LOOKBACK_DAYS = 120
OVERDUE_WORKING_DAYS = 3
"""How many working days past due an "overdue" demo branch is."""

#: The states the loader promises, in the order the summary prints them.
STATES = ("draft", "submitted", "refused", "in_review", "correction", "closed/approved",
          "closed/partly_approved", "closed/rejected", "withdrawn")


def pdf(title: str) -> bytes:
    """A small, valid one-page PDF (header, catalogue, page, font, content, xref, trailer) saying
    ``title`` in ASCII: what a scanned material stands in for."""
    text = title.encode("ascii", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 14 Tf 72 760 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >>"
        b" /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


class _Demo:
    """The loader's state: the actors by username, and the latest view of each application."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.today = workdays_service.today()
        self.actors: dict[str, Actor] = {}
        self.apps: dict[str, ApplicationRead] = {}

    # -- who ---------------------------------------------------------------------------------------
    def actor(self, username: str) -> Actor:
        """The account's actor as after a full sign-in (two-factor verified)."""
        if username not in self.actors:
            self.actors[username] = identity_service.actor_for_username(self.session, username, mfa=True)
        return self.actors[username]

    def keep(self, label: str, app: ApplicationRead) -> ApplicationRead:
        self.apps[label] = app
        return app

    # -- the applicant's side ----------------------------------------------------------------------
    def uploads(self, username: str, *codes: str) -> dict[str, str]:
        """Store one PDF per material code as the account (the upload route's work); code → file id."""
        actor = self.actor(username)
        return {code: files_service.store(self.session, actor, data=pdf(f"yiwang demo material: {code}"),
                                          filename=f"{code}.pdf", purpose="material").id for code in codes}

    def person_form(self, username: str, kind: str, code: str, **fields: Any) -> dict[str, Any]:
        """The form pre-filled from the citizen's own record (with their consent), plus ``fields``."""
        values = applications_service.prefill(self.session, self.actor(username), kind, code, consent=True)
        return {**values, **fields}

    def entity_form(self, username: str, kind: str, code: str, **fields: Any) -> dict[str, Any]:
        """The form pre-filled from the agent's entity (with consent): name and USCC from the
        registry, the legal representative as the agent reads it on their own record."""
        actor = self.actor(username)
        values = applications_service.prefill(self.session, actor, kind, code, consent=True)
        entity = registry_service.get_my_entity(self.session, actor)
        return {**values, "legal_representative": entity.legal_representative, **fields}

    def file(self, label: str, username: str, kind: str, code: str, data: dict[str, Any],
             uploads: tuple[str, ...] = (), *, submit: bool = True) -> ApplicationRead:
        app, _ = applications_service.create(
            self.session, self.actor(username), subject_kind=kind, subject_code=code, data=data,
            materials=self.uploads(username, *uploads), submit=submit, idempotency_key=f"demo-{label}")
        return self.keep(label, app)

    # -- the staff's side --------------------------------------------------------------------------
    def clerk(self, label: str) -> Actor:
        """The clerk of the district where the application is accepted (``clerk.<district>``)."""
        return self.actor(f"clerk.{self.apps[label].area_code[:6]}")

    def accept(self, label: str, received_on: date | None = None) -> ApplicationRead:
        app = applications_service.accept(self.session, self.clerk(label), self.apps[label].id,
                                          received_on=received_on)
        return self.keep(label, app)

    def decide(self, label: str, approver: str, item_code: str, decision: str, comment: str = "",
               *, steps: int = 1) -> ApplicationRead:
        """``steps`` decisions of the branch of ``item_code`` (review, then approval)."""
        app = self.apps[label]
        for _ in range(steps):
            branch = next(b for b in app.branches if b.item_code == item_code)
            app = applications_service.decide(self.session, self.actor(approver), app.id, branch.id, decision,
                                              comment)
        return self.keep(label, app)

    def branch_id(self, label: str, item_code: str) -> str:
        return next(b.id for b in self.apps[label].branches if b.item_code == item_code)

    # -- the clock ---------------------------------------------------------------------------------
    def later(self, days: int) -> str:
        """An ISO date ``days`` after today (a planned opening or works start)."""
        return (self.today + timedelta(days=days)).isoformat()

    def received_for(self, limit_days: int, state: str) -> date:
        """The latest intake day whose deadline of ``limit_days`` working days is, today, in
        ``state``: ``warning`` (two working days or fewer left) or ``overdue`` (a few working days
        past due)."""
        day = self.today
        for _ in range(WARNING_LOOKBACK_DAYS):
            due = workdays_service.add_working_days(self.session, day, limit_days).date
            now = workdays_service.deadline_state(self.session, due, self.today)
            if state == "warning" and now == "warning":
                return day
            if state == "overdue" and now == "overdue" and workdays_service.working_days_between(
                    self.session, due, self.today).days >= OVERDUE_WORKING_DAYS:
                return day
            day -= timedelta(days=1)
        raise RuntimeError(f"no intake day gives a {state} deadline of {limit_days} working days")


def _shop(**extra: Any) -> dict[str, Any]:
    return {"business_address": "上海市黄浦区南京东路299号", "area_code": STREET, **extra}


def load_applications(session: Session) -> dict[str, int]:
    """File and handle the demo applications as the demo accounts (in the caller's transaction);
    returns how many applications end in each state (:data:`STATES`). The citizens and enterprise
    agents must already be linked to their registry records."""
    d = _Demo(session)

    # citizen1 — 开办餐饮店, journey 1 to its end: three branches in parallel, the signage branch
    # corrected once, three certificates, rated 5.
    d.file("restaurant", "citizen1", "bundle", "YJS-001", d.person_form(
        "citizen1", "bundle", "YJS-001", entity_name="上海白月小馆餐饮有限公司", registered_capital=30,
        business_scope="餐饮服务；食品销售", food_category="catering", floor_area=85, sign_text="白月小馆",
        sign_size="4x1", **_shop()),
        ("articles", "premises", "layout", "safety_rules", "sign_design", "owner_consent"))
    d.accept("restaurant", received_on=d.today - timedelta(days=7))
    d.decide("restaurant", "approver.scjg", "SCJG-001", "approve", "材料齐全，准予登记", steps=2)
    d.decide("restaurant", "approver.lhsr", "LHSR-001", "correct", "招牌设计图未标注安装高度，请补正")
    fixed = d.uploads("citizen1", "sign_design")
    d.keep("restaurant", applications_service.correct(
        session, d.actor("citizen1"), d.apps["restaurant"].id, d.branch_id("restaurant", "LHSR-001"),
        materials=fixed, note="已补充标注安装高度的设计图"))
    d.decide("restaurant", "approver.scjg", "SCJG-003", "approve", "现场核查符合要求", steps=2)
    d.decide("restaurant", "approver.lhsr", "LHSR-001", "approve", "准予设置", steps=2)
    applications_service.rate(session, d.actor("citizen1"), d.apps["restaurant"].id, 5, "一次提交，三证齐发，很方便")

    # citizen2 — a draft, and a residence permit that is overdue at 公安局.
    d.file("beauty-draft", "citizen2", "bundle", "YJS-003",
           {"entity_name": "上海琴佳美发工作室", "sign_text": "琴佳美发"}, submit=False)
    d.file("residence", "citizen2", "item", "GAJ-001", d.person_form(
        "citizen2", "item", "GAJ-001", **_shop(business_address="上海市黄浦区河南中路88弄3号")), ("residence",))
    d.accept("residence", received_on=d.received_for(7, "overdue"))

    # citizen3 — one waiting for intake, one at 卫健委 due within two working days.
    d.file("no-record", "citizen3", "item", "GAJ-007", d.person_form(
        "citizen3", "item", "GAJ-007", remarks="出国留学申请材料"))
    d.file("hygiene", "citizen3", "item", "WJW-002", d.person_form(
        "citizen3", "item", "WJW-002", entity_name="上海博然理发店", floor_area=40, **_shop()),
        ("business_licence", "hygiene"))
    d.accept("hygiene", received_on=d.received_for(5, "warning"))

    # citizen4 — 开办便利店 partly approved (the signage refused), water supply in correction, and
    # an ID card renewal taken in at the 徐汇区 hall for this 黄浦区 resident (全市通办).
    d.file("shop", "citizen4", "bundle", "YJS-002", d.person_form(
        "citizen4", "bundle", "YJS-002", entity_name="上海市余阳便利店（个体工商户）", business_scope="食品销售；日用百货",
        food_category="retail", floor_area=60, sign_text="余阳便利", sign_size="12x3", **_shop()),
        ("premises", "layout", "safety_rules", "sign_design", "owner_consent"))
    d.accept("shop", received_on=d.today - timedelta(days=10))
    d.decide("shop", "approver.scjg", "SCJG-002", "approve", "准予登记", steps=2)
    d.decide("shop", "approver.scjg", "SCJG-003", "approve", "符合食品经营条件", steps=2)
    d.decide("shop", "approver.lhsr", "LHSR-001", "approve", "受理", steps=1)
    d.decide("shop", "approver.lhsr", "LHSR-001", "reject", "招牌尺寸超出该路段店招设置导则的上限，不予许可")
    d.file("water", "citizen4", "item", "SWJ-004", d.person_form(
        "citizen4", "item", "SWJ-004", business_address="上海市黄浦区福州路500号"))
    d.accept("water")
    d.decide("water", "approver.swj", "SWJ-004", "correct", "接入地址与房屋权属信息不一致，请核对后补正")
    citizen4 = registry_service.get_my_person(session, d.actor("citizen4"))  # shown at the hall's counter
    hall = next(h for h in HALL_DISTRICTS if not citizen4.area_code.startswith(h))
    d.keep("hall", applications_service.hall_intake(
        session, d.actor(f"clerk.{hall}"), subject_kind="item", subject_code="GAJ-003", applicant_kind="person",
        applicant_identifier=citizen4.id_number or "", applicant_name=citizen4.name,
        data={"applicant_name": citizen4.name, "id_number": citizen4.id_number, "mobile": citizen4.phone},
        received_on=d.received_for(20, "overdue")))

    # citizen5 — refused at intake; a street stall at 城管执法局's approval step.
    d.file("decoration", "citizen5", "item", "ZJW-005", d.person_form(
        "citizen5", "item", "ZJW-005", project_address="上海市黄浦区浙江中路120弄5号", start_date=d.later(30)),
        ("design",))
    d.keep("decoration", applications_service.refuse(
        session, d.clerk("decoration"), d.apps["decoration"].id, "装修方案未附物业服务企业意见，不符合受理条件"))
    d.file("stall", "citizen5", "item", "CGZF-001", d.person_form(
        "citizen5", "item", "CGZF-001", business_address="上海市黄浦区云南南路夜市12号摊位",
        start_date=d.later(20)), ("site",))
    d.accept("stall")
    d.decide("stall", "approver.cgzf", "CGZF-001", "approve", "设摊位置符合规划")

    # citizen5 again — a second restaurant half way: the business licence granted (and in the
    # wallet), the food licence and the signage still in review at two departments, the signage due soon.
    d.file("noodles", "citizen5", "bundle", "YJS-001", d.person_form(
        "citizen5", "bundle", "YJS-001", entity_name="上海刚旭面馆餐饮有限公司", registered_capital=10,
        business_scope="餐饮服务", food_category="catering", floor_area=45, sign_text="刚旭面馆", sign_size="3x0.8",
        **_shop(business_address="上海市黄浦区云南中路58号")),
        ("articles", "premises", "layout", "safety_rules", "sign_design", "owner_consent"))
    d.accept("noodles", received_on=d.received_for(5, "warning"))
    d.decide("noodles", "approver.scjg", "SCJG-001", "approve", "准予登记", steps=2)
    d.decide("noodles", "approver.lhsr", "LHSR-001", "approve", "材料齐全")

    # enterprise1 — fire safety accepted today, drainage overdue at 水务局.
    d.file("fire", "enterprise1", "item", "XFJY-001", d.entity_form(
        "enterprise1", "item", "XFJY-001", mobile="13900001001", floor_area=320, start_date=d.later(45), **_shop()),
        ("business_licence", "fire_plan"))
    d.accept("fire")
    d.file("drainage", "enterprise1", "item", "SWJ-001", d.entity_form(
        "enterprise1", "item", "SWJ-001", mobile="13900001001", remarks="餐饮排水接入，已设隔油池", **_shop()),
        ("business_licence", "drain_plan"))
    d.accept("drainage", received_on=d.received_for(10, "overdue"))

    # enterprise2 — rejected (the entity's licence is revoked), rated badly: a rectification opens.
    d.file("device", "enterprise2", "item", "SCJG-009", d.entity_form(
        "enterprise2", "item", "SCJG-009", mobile="13900001002", **_shop()), ("business_licence",))
    d.accept("device")
    d.decide("device", "approver.scjg", "SCJG-009", "reject", "企业营业执照已被吊销，不予备案")
    applications_service.rate(session, d.actor("enterprise2"), d.apps["device"].id, 2,
                              "等了很久才告知结果，理由也没有提前说明")

    # enterprise3 — waiting for intake, and one withdrawn after intake.
    d.file("waste", "enterprise3", "item", "LHSR-005", d.entity_form(
        "enterprise3", "item", "LHSR-005", mobile="13900001003", business_address="上海市黄浦区四川中路33号",
        remarks="每日清运一次"))
    d.file("road", "enterprise3", "item", "CGZF-002", d.entity_form(
        "enterprise3", "item", "CGZF-002", mobile="13900001003", project_address="上海市黄浦区四川中路33号门前",
        start_date=d.later(25)), ("plan",))
    d.accept("road")
    d.keep("road", applications_service.withdraw(session, d.actor("enterprise3"), d.apps["road"].id,
                                                 "施工计划取消"))

    # What the worker's hourly job would do: tell the heads about the overdue branches (超期督办).
    escalated = applications_service.escalate_overdue(session)
    session.flush()
    counts = Counter(a.status + (f"/{a.outcome}" if a.status == "closed" else "") for a in d.apps.values())
    log.info("demo applications loaded", extra={"count": len(d.apps), "escalated": escalated})
    return {state: counts.get(state, 0) for state in STATES} | {"escalated": escalated}

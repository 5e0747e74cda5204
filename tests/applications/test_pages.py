"""Pages of 一网通办 applications: the citizen portal, the clerk workbench and the approver inbox."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from yiwang.applications import pages
from yiwang.applications import service as applications_service
from yiwang.applications.models import Application, Branch
from yiwang.audit.models import AuditEntry
from yiwang.core.i18n import catalogue
from yiwang.files import errors as files_errors
from yiwang.files.models import StoredFile
from yiwang.workdays import service as workdays_service

from .conftest import BUNDLE, UPLOADS, ZHANG_ID, form_data

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
ZIP = b"PK\x03\x04" + b"\x00" * 60
WRONG_ID = ZHANG_ID[:-1] + ("1" if ZHANG_ID[-1] == "0" else "0")
APPLY = f"/apply/bundle/{BUNDLE}"


def answers(**over) -> dict[str, str]:
    """The merged form of 开办餐饮店 as a browser posts it (every value a string)."""
    return {k: str(v) for k, v in form_data(**over).items()}


def chosen(codes=UPLOADS, content: bytes = PDF) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(f"material__{c}", (f"{c}.pdf", content, "application/pdf")) for c in codes]


def count(session, model, *where) -> int:
    """Rows now (the test's session lets go of the database again: SQLite has one writer)."""
    session.rollback()
    try:
        return session.scalar(select(func.count()).select_from(model).where(*where))
    finally:
        session.rollback()


@dataclass(frozen=True)
class Row:
    id: str
    number: str
    status: str
    channel: str
    area_code: str
    subject_code: str
    reason: str | None


def only_application(session) -> Row:
    session.rollback()
    try:
        a = session.scalars(select(Application)).one()
        return Row(a.id, a.number, a.status, a.channel, a.area_code, a.subject_code, a.reason)
    finally:
        session.rollback()


def error_beside(html: str, element_id: str) -> str:
    found = re.search(rf'id="{re.escape(element_id)}-error">([^<]*)<', html)
    return unescape(found.group(1)) if found else ""


def branch_of(app, item_code):
    return next(b for b in app.branches if b.item_code == item_code)


def approve_all_steps(session, actor, app, item_code):
    while branch_of(app, item_code).status == "in_review":
        app = applications_service.decide(session, actor, app.id, branch_of(app, item_code).id, "approve", "同意")
    return app


class TestApplyForm:
    def test_shows_the_merged_form_and_which_materials_are_shared(self, client, as_actor, citizen):
        as_actor(citizen)

        got = client.get(APPLY, headers=HTML)

        assert got.status_code == 200
        assert got.text.count('name="applicant_name"') == 1
        held = re.search(r'<li data-material="id_card">.*?</li>', got.text, re.S).group(0)
        assert "已由政府部门共享，无需提交" in held and 'type="file"' not in held
        for code in UPLOADS:
            assert f'name="material__{code}"' in got.text
        assert re.search(r'name="idem" value="[A-Za-z0-9_-]{24}"', got.text)
        assert 'name="csrf_token"' in got.text and "用登记信息预填" in got.text

    def test_each_view_gets_its_own_idempotency_key(self, client, as_actor, citizen):
        as_actor(citizen)

        keys = {re.search(r'name="idem" value="([^"]+)"', client.get(APPLY, headers=HTML).text).group(1)
                for _ in range(2)}

        assert len(keys) == 2

    def test_sends_a_visitor_to_sign_in_first(self, client, world):
        got = client.get(APPLY, headers=HTML, follow_redirects=False)

        assert got.status_code == 303
        assert got.headers["location"] == "/login?next=%2Fapply%2Fbundle%2FYJS-001"

    def test_refuses_staff(self, client, as_actor, clerk):
        as_actor(clerk)

        assert client.get(APPLY, headers=HTML).status_code == 403

    def test_an_unknown_service_is_not_found(self, client, as_actor, citizen):
        as_actor(citizen)

        assert client.get("/apply/item/NOPE-9", headers=HTML).status_code == 404

    def test_prefill_without_consent_says_so_beside_the_checkbox_and_reads_nothing(self, client, as_actor, citizen,
                                                                                   session):
        as_actor(citizen)

        got = client.post(APPLY, data={"action": "prefill"}, headers=HTML)

        assert got.status_code == 422
        assert "预填需要读取您的登记信息，请先勾选同意。" in got.text
        assert 'aria-describedby="consent-error"' in got.text
        assert count(session, AuditEntry, AuditEntry.action == "application.prefill_consent") == 0

    def test_prefill_with_consent_fills_the_registry_fields_read_only(self, client, as_actor, citizen, session):
        as_actor(citizen)

        got = client.post(APPLY, data={"action": "prefill", "consent": "yes"}, headers=HTML)

        assert got.status_code == 200
        name = re.search(r'<input type="text" id="apply-applicant_name"[^>]*>', got.text).group(0)
        assert 'value="张三明"' in name and " readonly" in name
        number = re.search(r'<input type="text" id="apply-id_number"[^>]*>', got.text).group(0)
        assert f'value="{ZHANG_ID}"' in number and " readonly" in number
        assert 'name="prefilled" value="applicant_name,id_number,mobile"' in got.text
        assert count(session, AuditEntry, AuditEntry.action == "application.prefill_consent") == 1

    def test_submitting_uploads_the_files_and_opens_the_application(self, client, as_actor, citizen, session):
        as_actor(citizen)

        got = client.post(APPLY, data={**answers(), "action": "submit", "idem": "page-view-key-0001"},
                          files=chosen(), headers=HTML, follow_redirects=False)

        assert got.status_code == 303
        app = only_application(session)
        assert got.headers["location"] == f"/my/applications/{app.id}?done=submitted"
        assert (app.status, app.channel, app.subject_code) == ("submitted", "online", BUNDLE)
        assert count(session, StoredFile) == len(UPLOADS)
        page = client.get(got.headers["location"], headers=HTML)
        assert "申请已提交。" in page.text and "已提交" in page.text

    def test_a_double_click_files_one_application(self, client, as_actor, citizen, session):
        as_actor(citizen)
        body = {**answers(), "action": "submit", "idem": "page-view-key-0002"}

        first = client.post(APPLY, data=body, files=chosen(), headers=HTML, follow_redirects=False)
        second = client.post(APPLY, data=body, files=chosen(), headers=HTML, follow_redirects=False)

        assert (first.status_code, second.status_code) == (303, 303)
        assert first.headers["location"] == second.headers["location"]
        assert count(session, Application) == 1

    def test_form_errors_are_shown_beside_their_fields_and_the_uploads_are_kept(self, client, as_actor, citizen,
                                                                               session):
        as_actor(citizen)

        got = client.post(APPLY, data={**answers(id_number=WRONG_ID, floor_area=None), "action": "submit"},
                          files=chosen(), headers=HTML)

        assert got.status_code == 422
        assert "表单中有内容需要修改。" in got.text
        assert error_beside(got.text, "apply-id_number") == "身份证号码不是有效的居民身份证号码。"
        assert error_beside(got.text, "apply-floor_area") == "请填写经营面积（平方米）。"
        assert f'value="{WRONG_ID}"' in got.text
        assert count(session, Application) == 0
        kept = re.findall(r'name="material__(\w+)__id" value="(\w+)"', got.text)
        assert sorted(code for code, _ in kept) == sorted(UPLOADS)
        assert count(session, StoredFile) == len(UPLOADS)

    def test_kept_uploads_are_used_on_the_next_try(self, client, as_actor, citizen, session):
        as_actor(citizen)
        first = client.post(APPLY, data={**answers(floor_area=None), "action": "submit"}, files=chosen(),
                            headers=HTML)
        kept = dict(re.findall(r'name="(material__\w+__id)" value="(\w+)"', first.text))

        got = client.post(APPLY, data={**answers(), **kept, "action": "submit"}, headers=HTML, follow_redirects=False)

        assert got.status_code == 303
        assert only_application(session).status == "submitted"
        assert count(session, StoredFile) == len(UPLOADS)

    def test_a_missing_material_is_named_beside_it(self, client, as_actor, citizen, session):
        as_actor(citizen)

        got = client.post(APPLY, data={**answers(), "action": "submit"},
                          files=chosen([c for c in UPLOADS if c != "layout"]), headers=HTML)

        assert got.status_code == 422
        assert error_beside(got.text, "mat-layout") == "请提交材料：经营场所平面布局图。"
        assert count(session, Application) == 0

    def test_a_file_of_a_refused_type_is_named_beside_its_material(self, client, as_actor, citizen, session):
        as_actor(citizen)
        files = chosen([c for c in UPLOADS if c != "layout"]) + chosen(["layout"], ZIP)

        got = client.post(APPLY, data={**answers(), "action": "submit"}, files=files, headers=HTML)

        assert got.status_code == 422
        assert error_beside(got.text, "mat-layout") == files_errors.FileTypeRefused(
            kind="a ZIP archive", accepted="PDF, JPEG, PNG").render()
        assert "ZIP" in error_beside(got.text, "mat-layout")
        assert count(session, Application) == 0

    def test_a_draft_is_saved_continued_and_submitted(self, client, as_actor, citizen, session):
        as_actor(citizen)
        saved = client.post(APPLY, data={"entity_name": "黄浦小笼", "action": "draft", "idem": "draft-key-0001"},
                            headers=HTML, follow_redirects=False)
        app = only_application(session)
        assert (saved.headers["location"], app.status) == (f"/my/applications/{app.id}?done=draft", "draft")
        assert "这是一份草稿" in client.get(f"/my/applications/{app.id}", headers=HTML).text

        again = client.get(f"{APPLY}?draft={app.id}", headers=HTML)
        assert re.search(r'id="apply-entity_name"[^>]*value="黄浦小笼"', again.text)
        got = client.post(APPLY, data={**answers(), "draft_id": app.id, "action": "submit"}, files=chosen(),
                          headers=HTML, follow_redirects=False)

        assert got.headers["location"] == f"/my/applications/{app.id}?done=submitted"
        assert (count(session, Application), only_application(session).status) == (1, "submitted")


class TestMyApplications:
    def test_lists_the_applicants_applications_with_their_status(self, client, as_actor, citizen, file_bundle):
        app = file_bundle()
        as_actor(citizen)

        got = client.get("/my/applications", headers=HTML)

        assert got.status_code == 200
        assert f'<a href="/my/applications/{app.id}">开办餐饮店</a>' in got.text
        assert '<span class="badge badge--info status-badge">已提交</span>' in got.text

    def test_refuses_staff(self, client, as_actor, clerk):
        as_actor(clerk)

        assert client.get("/my/applications", headers=HTML).status_code == 403

    def test_someone_elses_application_is_refused(self, client, as_actor, other_citizen, file_bundle):
        app = file_bundle()
        as_actor(other_citizen)

        assert client.get(f"/my/applications/{app.id}", headers=HTML).status_code == 403

    def test_shows_each_branch_with_its_department_deadline_and_correction_request(
            self, client, as_actor, citizen, accepted_bundle, lhsr, session):
        app = accepted_bundle()
        applications_service.decide(session, lhsr, app.id, branch_of(app, "LHSR-001").id, "correct", "招牌尺寸与效果图不一致")
        session.commit()
        as_actor(citizen)

        got = client.get(f"/my/applications/{app.id}", headers=HTML)

        assert got.status_code == 200
        lhsr_card = re.search(r'<li data-branch="[^"]+" data-item="LHSR-001">.*?</li>\s*(?=<li data-branch|</ul>)',
                              got.text, re.S).group(0)
        assert "上海市绿化和市容管理局" in lhsr_card and "补正中" in lhsr_card and "暂停计时" in lhsr_card
        assert "招牌尺寸与效果图不一致" in lhsr_card
        assert f'action="/my/applications/{app.id}/branches/{branch_of(app, "LHSR-001").id}/correct"' in lhsr_card
        scjg_card = re.search(r'<li data-branch="[^"]+" data-item="SCJG-001">.*?</article>', got.text, re.S).group(0)
        assert '<time datetime="2026-10-10">2026-10-10</time>' in scjg_card and "受理审查" in scjg_card
        assert got.text.count('class="correction-form"') == 1

    def test_a_correction_with_a_new_file_sends_the_branch_back(self, client, as_actor, citizen, accepted_bundle, lhsr,
                                                                session):
        app = accepted_bundle()
        b = branch_of(app, "LHSR-001")
        applications_service.decide(session, lhsr, app.id, b.id, "correct", "请补充招牌效果图")
        session.commit()
        as_actor(citizen)

        got = client.post(f"/my/applications/{app.id}/branches/{b.id}/correct", data={"note": "已补充"},
                          files=chosen(["sign_design"]), headers=HTML, follow_redirects=False)

        assert got.headers["location"] == f"/my/applications/{app.id}?done=corrected"
        session.rollback()
        assert session.scalar(select(Branch.status).where(Branch.id == b.id)) == "in_review"
        assert applications_service.get(session, citizen, app.id).events[-1].note == "已补充"

    def test_submitting_an_incomplete_draft_says_what_is_wrong_and_keeps_it_a_draft(self, client, as_actor, citizen,
                                                                                    session):
        app, _ = applications_service.create(session, citizen, subject_kind="bundle", subject_code=BUNDLE,
                                             data={"entity_name": "黄浦小笼"})
        session.commit()
        as_actor(citizen)

        got = client.post(f"/my/applications/{app.id}/submit", headers=HTML)

        assert got.status_code == 422
        assert '<p class="alert alert--error" role="alert">表单中有内容需要修改。</p>' in got.text
        assert only_application(session).status == "draft"

    def test_withdrawing_stops_the_application(self, client, as_actor, citizen, file_bundle, session):
        app = file_bundle()
        as_actor(citizen)

        got = client.post(f"/my/applications/{app.id}/withdraw", data={"reason": "不开了"}, headers=HTML,
                          follow_redirects=False)

        assert got.headers["location"] == f"/my/applications/{app.id}?done=withdrawn"
        assert only_application(session).status == "withdrawn"
        assert 'action="/my/applications/' + app.id + '/withdraw"' not in client.get(got.headers["location"]).text

    def test_a_closed_application_shows_its_certificates_and_is_rated_once(
            self, client, as_actor, citizen, accepted_bundle, scjg, lhsr, session):
        app = accepted_bundle()
        for code, actor in (("SCJG-001", scjg), ("SCJG-003", scjg), ("LHSR-001", lhsr)):
            app = approve_all_steps(session, actor, app, code)
        session.commit()
        as_actor(citizen)

        page = client.get(f"/my/applications/{app.id}", headers=HTML)
        assert sorted(re.findall(r'<li data-certificate="\w+"><a href="/my/certificates/\w+">([^<]+)</a>', page.text)) \
            == sorted(["营业执照", "食品经营许可证", "户外招牌设置许可决定书"])
        assert "评价本次服务" in page.text
        got = client.post(f"/my/applications/{app.id}/rating", data={"score": "4", "comment": "很快"}, headers=HTML,
                          follow_redirects=False)

        assert got.headers["location"] == f"/my/applications/{app.id}?done=rated"
        after = client.get(got.headers["location"], headers=HTML).text
        assert "感谢您的评价。" in after and 'action="/my/applications/' + app.id + '/rating"' not in after

    def test_rating_an_open_application_is_refused_with_a_sentence(self, client, as_actor, citizen, file_bundle):
        app = file_bundle()
        as_actor(citizen)

        got = client.post(f"/my/applications/{app.id}/rating", data={"score": "5"}, headers=HTML)

        assert got.status_code == 409
        assert "办件办结后，申请人可评价一次。" in got.text


class TestWorkbench:
    def test_the_queue_lists_the_districts_submitted_applications(self, client, as_actor, clerk, file_bundle):
        app = file_bundle()
        as_actor(clerk)

        got = client.get("/workbench", headers=HTML)

        assert got.status_code == 200
        assert f'<a href="/workbench/applications/{app.id}">{app.number}</a>' in got.text
        assert "<td>黄浦区</td>" in got.text

    def test_a_clerk_of_another_district_sees_nothing_and_cannot_open_it(self, client, as_actor, xuhui_clerk,
                                                                         file_bundle):
        app = file_bundle()
        as_actor(xuhui_clerk)

        assert app.id not in client.get("/workbench", headers=HTML).text
        assert client.get(f"/workbench/applications/{app.id}", headers=HTML).status_code == 403

    def test_refuses_citizens_and_approvers(self, client, as_actor, citizen, scjg):
        for actor in (citizen, scjg):
            as_actor(actor)
            assert client.get("/workbench", headers=HTML).status_code == 403

    def test_opening_is_an_audited_read_and_accepting_starts_the_branches(self, client, as_actor, clerk, file_bundle,
                                                                          session):
        app = file_bundle()
        as_actor(clerk)

        page = client.get(f"/workbench/applications/{app.id}", headers=HTML)
        assert page.status_code == 200 and "张三明" in page.text
        assert count(session, AuditEntry, AuditEntry.action == "application.read") == 1
        got = client.post(f"/workbench/applications/{app.id}/accept", headers=HTML, follow_redirects=False)

        assert got.headers["location"] == f"/workbench?done=accepted&number={app.number}"
        assert only_application(session).status == "in_review"

    def test_refusing_without_a_reason_says_so_beside_the_reason(self, client, as_actor, clerk, file_bundle, session):
        app = file_bundle()
        as_actor(clerk)

        got = client.post(f"/workbench/applications/{app.id}/refuse", data={"reason": " "}, headers=HTML)

        assert got.status_code == 422
        assert error_beside(got.text, "refuse-reason") == "请填写理由（不超过 500 个字）。"
        assert only_application(session).status == "submitted"

    def test_refusing_with_a_reason(self, client, as_actor, clerk, file_bundle, session):
        app = file_bundle()
        as_actor(clerk)

        got = client.post(f"/workbench/applications/{app.id}/refuse", data={"reason": "不属于本区受理范围"},
                          headers=HTML, follow_redirects=False)

        assert got.status_code == 303
        row = only_application(session)
        assert (row.status, row.reason) == ("refused", "不属于本区受理范围")


class TestHall:
    def test_finds_a_service_by_its_code(self, client, as_actor, xuhui_clerk):
        as_actor(xuhui_clerk)

        got = client.get("/workbench/hall", params={"q": "scjg-001"}, headers=HTML)

        assert got.status_code == 200
        assert '<a href="/workbench/hall?kind=item&amp;code=SCJG-001">企业设立登记</a>' in got.text

    def test_files_and_accepts_for_a_registered_person_who_then_sees_it(self, client, as_actor, xuhui_clerk, citizen,
                                                                       session):
        as_actor(xuhui_clerk)
        form = client.get("/workbench/hall", params={"kind": "item", "code": "SCJG-001"}, headers=HTML)
        assert 'name="applicant_identifier"' in form.text and 'name="material__articles"' in form.text
        data = {k: v for k, v in answers().items() if k not in ("food_category", "floor_area", "sign_text", "sign_size")}

        got = client.post("/workbench/hall", data={
            **data, "kind": "item", "code": "SCJG-001", "applicant_kind": "person",
            "applicant_identifier": ZHANG_ID, "applicant_name": "张三明"},
            files=chosen(["articles", "premises"]), headers=HTML, follow_redirects=False)

        app = only_application(session)
        assert got.headers["location"] == f"/workbench/applications/{app.id}?done=filed"
        assert (app.channel, app.area_code, app.status) == ("hall", "310104", "in_review")
        as_actor(citizen)
        assert f'href="/my/applications/{app.id}"' in client.get("/my/applications", headers=HTML).text

    def test_a_name_that_does_not_match_is_shown_beside_the_name_and_uploads_are_kept(self, client, as_actor,
                                                                                     xuhui_clerk, session):
        as_actor(xuhui_clerk)

        got = client.post("/workbench/hall", data={
            **answers(), "kind": "item", "code": "SCJG-001", "applicant_kind": "person",
            "applicant_identifier": ZHANG_ID, "applicant_name": "张三"},
            files=chosen(["articles", "premises"]), headers=HTML)

        assert got.status_code == 422
        assert error_beside(got.text, "hall-name") == "姓名与该证件号码的登记信息不一致。"
        assert count(session, Application) == 0
        assert len(re.findall(r'name="material__\w+__id" value="\w+"', got.text)) == 2

    def test_refuses_an_approver(self, client, as_actor, scjg):
        as_actor(scjg)

        assert client.get("/workbench/hall", headers=HTML).status_code == 403


class TestTaskInbox:
    def test_lists_the_departments_branches_by_due_date(self, client, as_actor, scjg, accepted_bundle):
        app = accepted_bundle()
        as_actor(scjg)

        got = client.get("/inbox/tasks", headers=HTML)

        assert got.status_code == 200
        links = re.findall(r'<a href="/inbox/tasks/(\w+)/(\w+)">', got.text)
        assert [a for a, _ in links] == [app.id, app.id]
        assert [b for _, b in links] == [branch_of(app, "SCJG-001").id, branch_of(app, "SCJG-003").id]

    def test_marks_a_due_date_in_a_year_without_an_official_calendar_as_estimated(
            self, client, as_actor, scjg, accepted_bundle, monkeypatch):
        # Accepted on 2026-12-24: 食品经营许可 (10 working days) is due in 2027, whose holidays are
        # not published yet; 企业设立登记 (3 days) is due within 2026.
        monkeypatch.setattr(workdays_service, "today", lambda: date(2026, 12, 24))
        app = accepted_bundle()
        as_actor(scjg)

        got = client.get("/inbox/tasks", headers=HTML)

        cells = dict(re.findall(r'<tr data-branch="(\w+)" data-deadline="\w*">\s*<td>(.*?)</td>', got.text, re.S))
        assert "（预估）" in cells[branch_of(app, "SCJG-003").id]
        assert "（预估）" not in cells[branch_of(app, "SCJG-001").id]

    def test_flags_a_branch_due_soon_in_yellow_and_one_past_due_in_red(self, client, as_actor, scjg, accepted_bundle,
                                                                      monkeypatch):
        app = accepted_bundle()
        monkeypatch.setattr(workdays_service, "today", lambda: date(2026, 10, 19))
        as_actor(scjg)

        got = client.get("/inbox/tasks", headers=HTML)

        rows = dict(re.findall(r'<tr data-branch="(\w+)" data-deadline="(\w*)">', got.text))
        assert rows == {branch_of(app, "SCJG-001").id: "overdue", branch_of(app, "SCJG-003").id: "warning"}
        assert '<span class="badge badge--danger deadline deadline--overdue">超期</span>' in got.text
        assert '<span class="badge badge--warning deadline deadline--warning">即将到期</span>' in got.text

    def test_refuses_clerks_and_citizens(self, client, as_actor, clerk, citizen):
        for actor in (clerk, citizen):
            as_actor(actor)
            assert client.get("/inbox/tasks", headers=HTML).status_code == 403

    def test_a_task_shows_the_answers_materials_diagram_and_decisions(self, client, as_actor, scjg, accepted_bundle,
                                                                      session):
        app = accepted_bundle()
        b = branch_of(app, "SCJG-001")
        as_actor(scjg)

        got = client.get(f"/inbox/tasks/{app.id}/{b.id}", headers=HTML)

        assert got.status_code == 200
        assert '<dd data-answer="applicant_name">张三明</dd>' in got.text
        assert '<dd data-answer="food_category">餐饮服务</dd>' in got.text
        assert len(re.findall(rf'href="/api/v1/applications/{app.id}/materials/\w+/content"', got.text)) == len(UPLOADS)
        assert 'id="wf-diagram-data"' in got.text and "bpmn-navigated-viewer" in got.text
        for label in ("通过", "补正", "不予通过"):
            assert f">{label}</button>" in got.text
        assert count(session, AuditEntry, AuditEntry.action == "application.read") == 1

    def test_not_approving_without_a_reason_says_so_beside_the_opinion(self, client, as_actor, scjg, accepted_bundle,
                                                                       session):
        app = accepted_bundle()
        b = branch_of(app, "SCJG-001")
        as_actor(scjg)

        got = client.post(f"/inbox/tasks/{app.id}/{b.id}/decide", data={"decision": "reject", "comment": ""},
                          headers=HTML)

        assert got.status_code == 422
        assert error_beside(got.text, "decide-comment") == "请填写理由（不超过 500 个字）。"
        assert count(session, Branch, Branch.id == b.id, Branch.status == "in_review") == 1

    def test_approving_moves_the_branch_to_its_next_step(self, client, as_actor, scjg, accepted_bundle, session):
        app = accepted_bundle()
        b = branch_of(app, "SCJG-001")
        task_id = b.tasks[0].id
        as_actor(scjg)

        got = client.post(f"/inbox/tasks/{app.id}/{b.id}/decide",
                          data={"decision": "approve", "comment": "材料齐全", "task_id": task_id},
                          headers=HTML, follow_redirects=False)

        assert got.headers["location"] == f"/inbox/tasks/{app.id}/{b.id}?done=decided"
        session.rollback()
        status, tasks = session.execute(select(Branch.status, Branch.tasks).where(Branch.id == b.id)).one()
        session.rollback()
        assert status == "in_review" and task_id not in tasks and tasks != "[]"
        assert "审批意见已提交。" in client.get(got.headers["location"], headers=HTML).text

    def test_an_approver_of_another_department_is_refused_and_nothing_changes(self, client, as_actor, lhsr,
                                                                             accepted_bundle, session):
        app = accepted_bundle()
        b = branch_of(app, "SCJG-001")
        as_actor(lhsr)

        got = client.post(f"/inbox/tasks/{app.id}/{b.id}/decide", data={"decision": "approve"}, headers=HTML)

        assert got.status_code == 403
        assert count(session, Branch, Branch.id == b.id, Branch.status == "in_review") == 1


class TestNavigationAndGuide:
    def test_each_role_gets_its_own_entry(self, client, as_actor, citizen, clerk, scjg):
        for actor, href in ((citizen, "/my/applications"), (clerk, "/workbench"), (scjg, "/inbox/tasks")):
            as_actor(actor)
            nav = re.search(r'<ul class="site-nav__list">.*?</ul>', client.get("/", headers=HTML).text, re.S).group(0)
            hrefs = set(re.findall(r'href="([^"]+)"', nav)) & {"/my/applications", "/workbench", "/inbox/tasks"}
            assert hrefs == {href}

    def test_the_service_guide_links_to_the_online_form(self, client, world):
        assert 'href="/apply/bundle/YJS-001">在线办理</a>' in client.get("/services/bundles/YJS-001", headers=HTML).text
        assert 'href="/apply/item/SCJG-003">在线办理</a>' in client.get("/services/SCJG-003", headers=HTML).text


TEMPLATES = Path(pages.__file__).resolve().parents[1] / "templates" / "applications"


def _page_msgids() -> list[str]:
    found: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        found.update(re.findall(r"""_\(["']((?:[^"'\\]|\\.)*)["']""", path.read_text()))
    for labels in (pages.STATUS_LABELS, pages.BRANCH_LABELS, pages.OUTCOME_LABELS, pages.CHANNEL_LABELS,
                   pages.DEADLINE_LABELS, pages.EVENT_LABELS, pages.SOURCE_LABELS, pages.DONE_MESSAGES):
        found |= set(labels.values())
    found |= {pages._who(k) for k in ("citizen:x", "staff:x", "system")}
    found |= {"Please fill in this field.", "Apply online", "My applications", "Intake workbench", "Approval tasks"}
    return sorted(found)


class TestTranslations:
    @pytest.mark.parametrize("msgid", _page_msgids())
    def test_every_page_message_has_a_chinese_translation(self, msgid: str) -> None:
        assert catalogue("zh_Hans_CN").get(msgid), msgid

    def test_found_the_messages(self) -> None:
        assert {"Fill in from my registration", "Past due", "(estimated)"} <= set(_page_msgids())

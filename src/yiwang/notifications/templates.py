"""Notification templates as data: code → title and body in Simplified Chinese and English.

Placeholders are ``{name}`` (``str.format``, as in ``core.i18n``); their values come from the
notification's ``params`` — ids, reference numbers, dates, service names — never a person's name,
ID number, phone or address. The reader of an inbox message is its addressee, so the text may say
"您的申请 …".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yiwang.core.i18n import normalise_locale


@dataclass(frozen=True, slots=True)
class Template:
    zh_title: str
    zh_body: str
    en_title: str
    en_body: str


TEMPLATES: dict[str, Template] = {
    "application.submitted": Template(
        "申请已提交", "您的申请 {reference} 已提交，我们将在 {due_date} 前办结。",
        "Application submitted", "Your application {reference} has been submitted; it will be decided by {due_date}."),
    "application.received": Template(
        "申请已收到", "您的申请 {reference} 已提交，等待受理。",
        "Application received", "Your application {reference} has been received and awaits intake."),
    "application.refused": Template(
        "申请不予受理", "您的申请 {reference} 不予受理：{reason}",
        "Application not accepted", "Your application {reference} was not accepted: {reason}"),
    "application.closed": Template(
        "申请已办结", "您的申请 {reference} 已办结，欢迎对本次服务进行评价。",
        "Application closed", "Your application {reference} is closed; please rate the service."),
    "application.correction_requested": Template(
        "申请需要补正", "您的申请 {reference}（{item}）需要补正：{reason}",
        "Correction requested", "Your application {reference} ({item}) needs corrections: {reason}"),
    "application.approved": Template(
        "申请已通过", "您的申请 {reference}（{item}）已审批通过。",
        "Application approved", "Your application {reference} ({item}) has been approved."),
    "application.rejected": Template(
        "申请未通过", "您的申请 {reference}（{item}）未通过审批：{reason}",
        "Application rejected", "Your application {reference} ({item}) was not approved: {reason}"),
    "certificate.issued": Template(
        "证照已签发", "您的证照 {certificate_no} 已签发，可在“我的证照”中查看。",
        "Certificate issued", "Your certificate {certificate_no} has been issued; see My certificates."),
    "rating.rectification_opened": Template(
        "差评整改待办", "评价 {rating_id} 为差评，请在 {due_date} 前完成整改并答复。",
        "Rectification opened", "Rating {rating_id} was unfavourable; rectify and reply by {due_date}."),
    "rating.replied": Template(
        "评价已答复", "您对办件 {subject_id} 的评价已收到部门答复：{reply}",
        "Reply to your rating", "The department has replied to your rating of {subject_id}: {reply}"),
    "task.due_soon": Template(
        "待办即将到期", "待办 {task_id} 将于 {due_date} 到期。",
        "Task due soon", "Task {task_id} is due on {due_date}."),
    "task.escalated": Template(
        "超期办件督办", "办件 {reference}（{item}）已于 {due_date} 超期，请督促办理。",
        "Overdue application escalated", "Application {reference} ({item}) was due on {due_date}; please see it done."),
    "task.overdue": Template(
        "待办已超期", "待办 {task_id} 已于 {due_date} 超期。",
        "Task overdue", "Task {task_id} was due on {due_date} and is overdue."),
}


class _Missing(dict[str, Any]):
    """Leaves an unknown placeholder visible rather than failing the whole notification."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(code: str, params: dict[str, Any], locale: str | None = None) -> tuple[str, str]:
    """(title, body) of template ``code`` in ``locale`` (Simplified Chinese by default);
    ``KeyError`` for an unknown code."""
    t = TEMPLATES[code]
    values = _Missing(params)
    if normalise_locale(locale) == "en":
        return t.en_title.format_map(values), t.en_body.format_map(values)
    return t.zh_title.format_map(values), t.zh_body.format_map(values)

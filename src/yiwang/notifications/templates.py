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
    "cityops.report_received": Template(
        "诉求已登记", "您上报的问题已登记为事件 {reference}，处理结果将通知您。",
        "Report received", "Your report is registered as event {reference}; you will be told the outcome."),
    "cityops.report_merged": Template(
        "诉求已合并", "您上报的问题与事件 {reference} 为同一问题，已合并办理，办结后将通知您结果。",
        "Report merged", "Your report is the same problem as event {reference}; you will be told the outcome."),
    "cityops.event_dispatched": Template(
        "新派单事件", "事件 {reference}（{category}）已派至您，请在 {due_at} 前处置。",
        "Event dispatched to you", "Event {reference} ({category}) is yours; handle it by {due_at}."),
    "cityops.event_returned": Template(
        "事件被退单", "事件 {reference} 被退回：{reason}。请重新研判派单。",
        "Event returned", "Event {reference} was sent back: {reason}. Please dispatch it again."),
    "cityops.event_escalated": Template(
        "事件超期督办", "事件 {reference}（{category}）已于 {due_at} 超期，升级至{level}督办。",
        "Overdue event escalated", "Event {reference} ({category}) was due at {due_at}; escalated to the {level} level."),
    "cityops.event_closed": Template(
        "事件已办结", "您上报的事件 {reference} 已办结：{result}。欢迎评价；如未解决，可在 7 日内申请重新处理。",
        "Event closed", "Event {reference} you reported is closed: {result}. Rate it, or reopen it within 7 days."),
    "cityops.event_reopened": Template(
        "事件重新处理", "事件 {reference} 被上报人重新打开：{reason}。请在 {due_at} 前处置。",
        "Event reopened", "Event {reference} was reopened by its reporter: {reason}. Handle it by {due_at}."),
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

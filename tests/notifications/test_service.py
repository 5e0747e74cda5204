"""The notifications service: notify, the own-only inbox, masked delivery log, delivery by SMTP and
SMS, the not-configured failure and enqueue-after-commit."""

from __future__ import annotations

import email
import email.policy
import json

import httpx
import pytest
from sqlalchemy import text

from yiwang.core.actor import ANONYMOUS
from yiwang.core.errors import AuthenticationRequired
from yiwang.core.jobs import queue_for
from yiwang.notifications import errors
from yiwang.notifications import service as notifications_service
from yiwang.notifications.sms import HttpSmsGateway
from yiwang.notifications.tasks import NOT_CONFIGURED, DeliveryFailed, send_delivery

from .conftest import ALICE_ID, BOB_ID
from .smtp_server import SmtpServer

APPROVED = {"reference": "SQ20260925001", "item": "企业设立登记"}


def _raw_deliveries(session) -> list[str]:
    rows = session.execute(text("SELECT * FROM deliveries")).all()
    return [" ".join(str(v) for v in row) for row in rows]


class TestNotify:
    def test_writes_the_inbox_row_rendered_in_chinese(self, session, alice):
        made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED)
        session.commit()
        page = notifications_service.inbox(session, alice)
        assert [(n.id, n.title, n.body, n.params, n.read_at) for n in page.items] == [
            (made.id, "申请已通过", "您的申请 SQ20260925001（企业设立登记）已审批通过。", APPROVED, None)]

    def test_renders_english_for_an_english_reader(self, session):
        made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED, locale="en")
        assert (made.title, made.body) == ("Application approved", "Your application SQ20260925001 (企业设立登记) has been approved.")

    def test_text_values_fill_the_message_but_are_not_kept_in_params(self, session):
        made = notifications_service.notify(session, ALICE_ID, "rating.replied", {"subject_id": "SQ1"},
                                            text={"reply": "已整改"})
        assert (made.body, made.params) == ("您对办件 SQ1 的评价已收到部门答复：已整改", {"subject_id": "SQ1"})

    def test_refuses_an_unknown_template(self, session):
        with pytest.raises(errors.UnknownTemplate):
            notifications_service.notify(session, ALICE_ID, "no.such", {})
        assert session.execute(text("SELECT count(*) FROM notifications")).scalar() == 0

    def test_refuses_email_without_an_address(self, session):
        with pytest.raises(errors.RecipientMissing):
            notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED, channels=("inbox", "email"))
        assert session.execute(text("SELECT count(*) FROM notifications")).scalar() == 0

    def test_refuses_an_unknown_channel(self, session):
        with pytest.raises(errors.UnknownChannel):
            notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED, channels=("fax",))

    def test_log_keeps_only_the_masked_recipient(self, session):
        made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED,
                                            channels=("inbox", "email", "sms"),
                                            email="zhang.san@example.com", mobile="13812345678")
        session.commit()
        log = notifications_service.deliveries(session, made.id)
        assert [(d.channel, d.recipient_masked, d.status, d.attempts) for d in log] == [
            ("email", "z***@example.com", "queued", 0), ("sms", "*******5678", "queued", 0)]
        raw = " ".join(_raw_deliveries(session))
        assert "zhang.san" not in raw and "13812345678" not in raw and "1381234" not in raw


class TestInbox:
    def test_shows_only_the_actors_own_messages(self, session, alice, bob):
        mine = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED)
        notifications_service.notify(session, BOB_ID, "application.rejected", {"reference": "X", "reason": "材料不全"})
        session.commit()
        assert [n.id for n in notifications_service.inbox(session, alice).items] == [mine.id]
        assert notifications_service.unread_count(session, alice) == 1

    def test_pages_newest_first_with_a_cursor(self, session, alice, monkeypatch):
        monkeypatch.setattr(notifications_service, "PAGE_SIZE", 2)
        ids = [notifications_service.notify(session, ALICE_ID, "task.overdue", {"task_id": str(i), "due_date": "x"}).id
               for i in range(3)]
        session.commit()
        first = notifications_service.inbox(session, alice)
        second = notifications_service.inbox(session, alice, cursor=first.next_cursor)
        assert ([n.id for n in first.items], first.next_cursor) == ([ids[2], ids[1]], ids[1])
        assert ([n.id for n in second.items], second.next_cursor) == ([ids[0]], None)

    def test_unread_only_leaves_out_read_messages(self, session, alice):
        read = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED)
        unread = notifications_service.notify(session, ALICE_ID, "certificate.issued", {"certificate_no": "C1"})
        notifications_service.mark_read(session, alice, read.id)
        session.commit()
        assert [n.id for n in notifications_service.inbox(session, alice, unread_only=True).items] == [unread.id]

    def test_mark_read_of_another_users_message_is_not_found(self, session, alice, bob):
        theirs = notifications_service.notify(session, BOB_ID, "application.approved", APPROVED)
        session.commit()
        with pytest.raises(errors.NotificationNotFound):
            notifications_service.mark_read(session, alice, theirs.id)
        assert notifications_service.unread_count(session, bob) == 1

    def test_mark_read_sets_read_at_and_lowers_the_count(self, session, alice):
        made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED)
        done = notifications_service.mark_read(session, alice, made.id)
        assert done.read_at is not None
        assert notifications_service.unread_count(session, alice) == 0

    def test_anonymous_has_no_inbox(self, session):
        with pytest.raises(AuthenticationRequired):
            notifications_service.inbox(session, ANONYMOUS)


class TestEnqueueAfterCommit:
    def test_commit_queues_one_delivery_job(self, session, settings):
        queue = queue_for(settings)
        queue.flush()
        notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED,
                                     channels=("email",), email="a@example.com")
        assert queue.pending_count() == 0
        session.commit()
        assert [t.name for t in queue.pending()] == ["notifications.deliver"]

    def test_rollback_queues_nothing(self, session, settings):
        queue = queue_for(settings)
        queue.flush()
        notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED,
                                     channels=("email",), email="a@example.com")
        session.rollback()
        assert queue.pending_count() == 0
        assert session.execute(text("SELECT count(*) FROM deliveries")).scalar() == 0


def _email(session) -> str:
    made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED,
                                        channels=("email",), email="zhang.san@example.com")
    session.commit()
    delivery_id = notifications_service.deliveries(session, made.id)[0].id
    session.rollback()  # end the read, so the job's write transaction does not wait for it
    return delivery_id


class TestSmtpDelivery:
    def test_sends_the_chinese_message_and_wipes_the_address(self, session, db_with):
        delivery_id = _email(session)
        with SmtpServer() as server:
            db = db_with(smtp_host=server.host, smtp_port=server.port, smtp_from="noreply@yiwang.example")
            result = send_delivery(db, delivery_id)
        assert len(server.messages) == 1
        got = server.messages[0]
        msg = email.message_from_bytes(got.data, policy=email.policy.default)
        assert (got.sender, got.recipients) == ("noreply@yiwang.example", ["zhang.san@example.com"])
        assert (str(msg["Subject"]), msg.get_content().strip()) == ("申请已通过", "您的申请 SQ20260925001（企业设立登记）已审批通过。")
        assert (result.status, result.attempts, result.last_error) == ("sent", 1, None)
        session.expire_all()
        row = session.execute(text("SELECT address_enc, recipient_masked, status FROM deliveries")).one()
        assert tuple(row) == (None, "z***@example.com", "sent")

    def test_a_sent_delivery_is_not_sent_again(self, session, db_with):
        delivery_id = _email(session)
        with SmtpServer() as server:
            db = db_with(smtp_host=server.host, smtp_port=server.port, smtp_from="noreply@yiwang.example")
            send_delivery(db, delivery_id)
            again = send_delivery(db, delivery_id)
        assert (again, len(server.messages)) == (None, 1)

    def test_unreachable_server_keeps_it_queued_for_a_retry(self, session, db_with):
        delivery_id = _email(session)
        with SmtpServer() as server:
            port = server.port  # free once the server has stopped
        db = db_with(smtp_host="127.0.0.1", smtp_port=port, smtp_from="noreply@yiwang.example")
        with pytest.raises(DeliveryFailed):
            send_delivery(db, delivery_id)
        session.expire_all()
        row = session.execute(text("SELECT status, attempts, last_error, address_enc IS NULL FROM deliveries")).one()
        assert tuple(row) == ("queued", 1, "smtp:ConnectionRefusedError", False)

    def test_the_last_failed_attempt_fails_it_and_wipes_the_address(self, session, db_with, monkeypatch):
        monkeypatch.setattr(notifications_service, "MAX_ATTEMPTS", 1)
        delivery_id = _email(session)
        with SmtpServer() as server:
            port = server.port
        db = db_with(smtp_host="127.0.0.1", smtp_port=port, smtp_from="noreply@yiwang.example")
        result = send_delivery(db, delivery_id)
        assert (result.status, result.attempts, result.last_error) == ("failed", 1, "smtp:ConnectionRefusedError")
        session.expire_all()
        assert session.execute(text("SELECT address_enc FROM deliveries")).scalar() is None


class TestNotConfigured:
    def test_email_without_smtp_fails_with_the_reason(self, session, db):
        delivery_id = _email(session)
        result = send_delivery(db, delivery_id)
        assert (result.status, result.last_error, result.sent_at) == ("failed", NOT_CONFIGURED, None)

    def test_sms_without_a_gateway_fails_with_the_reason(self, session, db):
        made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED,
                                            channels=("sms",), mobile="13812345678")
        session.commit()
        delivery_id = notifications_service.deliveries(session, made.id)[0].id
        session.rollback()
        result = send_delivery(db, delivery_id)
        assert (result.status, result.last_error) == ("failed", NOT_CONFIGURED)


class TestSmsDelivery:
    def _sms(self, session) -> str:
        made = notifications_service.notify(session, ALICE_ID, "application.approved", APPROVED,
                                            channels=("sms",), mobile="13812345678")
        session.commit()
        delivery_id = notifications_service.deliveries(session, made.id)[0].id
        session.rollback()
        return delivery_id

    def test_posts_template_and_params_with_the_bearer_token(self, session, db):
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"ok": True})

        gateway = HttpSmsGateway("https://sms.example/send", "tok-123", transport=httpx.MockTransport(handler))
        result = send_delivery(db, self._sms(session), sms_gateway=gateway)
        assert [(r.method, str(r.url), r.headers["authorization"], json.loads(r.content)) for r in seen] == [
            ("POST", "https://sms.example/send", "Bearer tok-123",
             {"to": "13812345678", "template": "application.approved", "params": APPROVED})]
        assert (result.status, result.recipient_masked) == ("sent", "*******5678")
        session.expire_all()
        assert session.execute(text("SELECT address_enc FROM deliveries")).scalar() is None

    def test_a_gateway_error_is_recorded_by_status_only(self, session, db):
        gateway = HttpSmsGateway("https://sms.example/send", "tok", transport=httpx.MockTransport(
            lambda request: httpx.Response(503, text="13812345678 busy")))
        delivery_id = self._sms(session)
        with pytest.raises(DeliveryFailed):
            send_delivery(db, delivery_id, sms_gateway=gateway)
        session.expire_all()
        row = session.execute(text("SELECT status, last_error FROM deliveries")).one()
        assert tuple(row) == ("queued", "sms:http_503")

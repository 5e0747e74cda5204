"""The actor cache of the web tier: a credential's actor is reused until anything it was built from
changes (then at once), and a cache hit keeps every check of a load (CSRF, revocation)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from yiwang.core.actor import SYSTEM
from yiwang.core.db import utcnow
from yiwang.identity import service
from yiwang.identity.models import ApiToken, RoleGrant, User
from yiwang.identity.web import ActorCache, identity_generation

from .conftest import DISTRICT, OTHER_DISTRICT, login


def _token(session, make_user, username: str = "exchange1", *grants) -> tuple[str, str]:
    uid = make_user(username, *(grants or (("data_officer", DISTRICT),)), kind="machine", password=None)
    plaintext, _info = service.create_token(session, SYSTEM, uid, "exchange")
    session.commit()
    return uid, plaintext


def _me(client, plaintext: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"})


class TestBearerTokenCache:
    def test_second_request_is_answered_from_the_cache(self, client, session, make_user):
        _uid, plaintext = _token(session, make_user)
        assert _me(client, plaintext).status_code == 200
        cache = client.app.state.actor_cache
        assert len(cache._entries) == 1
        second = _me(client, plaintext)
        assert (second.status_code, second.json()["roles"]) == (200, ["data_officer"])

    def test_revoked_token_is_refused_on_the_next_request(self, client, session, make_user):
        _uid, plaintext = _token(session, make_user)
        assert _me(client, plaintext).status_code == 200
        row = session.scalars(select(ApiToken)).one()
        service.revoke_token(session, SYSTEM, row.id)
        session.commit()
        refused = _me(client, plaintext)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")

    def test_revoked_grant_is_gone_on_the_next_request(self, client, session, make_user):
        uid, plaintext = _token(session, make_user, "exchange1", ("data_officer", DISTRICT),
                                ("data_officer", OTHER_DISTRICT))
        assert len(_me(client, plaintext).json()["grants"]) == 2
        grant = session.scalars(select(RoleGrant).where(RoleGrant.area_code == OTHER_DISTRICT)).one()
        service.revoke_grant(session, SYSTEM, uid, grant.id)
        session.commit()
        grants = _me(client, plaintext).json()["grants"]
        assert [g["area_code"] for g in grants] == [DISTRICT]

    def test_deactivated_user_is_refused_on_the_next_request(self, client, session, make_user):
        uid, plaintext = _token(session, make_user)
        assert _me(client, plaintext).status_code == 200
        session.get(User, uid).is_active = False
        session.commit()
        assert _me(client, plaintext).status_code == 401

    def test_cache_turned_off_keeps_nothing(self, client, session, make_user):
        _uid, plaintext = _token(session, make_user)
        client.app.state.actor_cache = cache = ActorCache(client.app.state.settings)
        cache.ttl = 0
        assert _me(client, plaintext).status_code == 200
        assert cache._entries == {}


class TestSessionCookieCache:
    def test_cached_session_still_refuses_an_unsafe_request_without_csrf(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        assert client.get("/api/v1/me").status_code == 200  # now cached
        response = client.post("/api/v1/auth/logout")
        assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")

    def test_signed_out_session_is_anonymous_on_the_next_request(self, client, make_user):
        make_user("disp1", ("dispatcher", DISTRICT))
        token = login(client, "disp1").json()["csrf_token"]
        cookie = client.cookies.get("yiwang_session")
        assert client.get("/api/v1/me").status_code == 200
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
        client.cookies.set("yiwang_session", cookie)
        assert client.get("/api/v1/me").status_code == 401


class TestIdentityGeneration:
    def test_token_touch_does_not_bump(self, session, settings, make_user):
        _uid, _plaintext = _token(session, make_user)
        before = identity_generation(settings).value()
        session.execute(update(ApiToken).values(last_used_at=utcnow()))
        session.commit()
        assert identity_generation(settings).value() == before

    def test_committed_grant_change_bumps_once(self, session, settings, make_user):
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        local, shared = identity_generation(settings).value()
        service.grant_role(session, SYSTEM, uid, "dispatcher", OTHER_DISTRICT)
        session.commit()
        assert identity_generation(settings).value() == (local + 1, shared + 1)

    def test_rolled_back_change_does_not_bump(self, session, settings, make_user):
        uid = make_user("disp1", ("dispatcher", DISTRICT))
        before = identity_generation(settings).value()
        session.get(User, uid).is_active = False
        session.flush()
        session.rollback()
        assert identity_generation(settings).value() == before

    def test_entry_expires_after_its_time(self, client, session, make_user):
        _uid, plaintext = _token(session, make_user)
        assert _me(client, plaintext).status_code == 200
        cache = client.app.state.actor_cache
        key, entry = next(iter(cache._entries.items()))
        cache._entries[key] = entry.__class__(entry.actor, entry.expires - timedelta(hours=1).total_seconds(),
                                              entry.generation)
        assert cache.get(key) is None

    def test_token_revoked_by_the_cli_in_another_process_is_refused_at_once(self, client, session, settings,
                                                                              make_user, tmp_path):
        """The running server has never seen this change: only the shared generation file tells it."""
        _uid, plaintext = _token(session, make_user)
        assert _me(client, plaintext).status_code == 200  # cached for actor_cache_seconds
        token_id = session.scalars(select(ApiToken.id)).one()
        session.commit()  # a writable session holds SQLite's write lock until it ends
        env = {**os.environ, "YIWANG_DATABASE_URL": settings.resolved_database_url,
               "YIWANG_VAR_DIR": str(settings.var_dir), "YIWANG_CONFIG": str(tmp_path / "absent.toml"),
               "YIWANG_LOG_LEVEL": "WARNING"}
        done = subprocess.run([str(Path(sys.executable).with_name("yiwang")), "token", "revoke", token_id],  # noqa: S603
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        refused = _me(client, plaintext)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")


READ_ONLY_ROUTE = "/api/v1/applications"


class TestLastUsed:
    """The actor is loaded in a read-only unit of work; the "last used / last seen" update it is
    due for is written afterwards through the group commit, and is there when the response is."""

    def test_a_tokens_first_use_is_recorded(self, client, session, make_user):
        _uid, plaintext = _token(session, make_user)
        assert session.scalars(select(ApiToken.last_used_at)).one() is None
        session.commit()
        # A route with only a read-only unit of work of its own (staff are refused it, after the
        # actor was loaded: the update does not depend on the answer).
        answer = client.get(READ_ONLY_ROUTE, headers={"Authorization": f"Bearer {plaintext}"})
        assert answer.status_code in (200, 403)
        session.expire_all()
        assert session.scalars(select(ApiToken.last_used_at)).one() is not None

    def test_a_stale_session_is_touched(self, client, session, make_user):
        from yiwang.identity.models import UserSession

        make_user("disp1", ("dispatcher", DISTRICT))
        login(client, "disp1")
        old = utcnow() - timedelta(hours=1)
        session.execute(update(UserSession).values(last_seen_at=old))
        session.commit()
        getattr(client.app.state, "actor_cache", ActorCache(client.app.state.settings))._entries.clear()
        assert client.get(READ_ONLY_ROUTE).status_code in (200, 403)
        session.expire_all()
        assert session.scalars(select(UserSession.last_seen_at)).one() > old

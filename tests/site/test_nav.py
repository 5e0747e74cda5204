"""The layout's navigation and return addresses."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from yiwang.core.actor import ANONYMOUS, SYSTEM, Actor, Grant
from yiwang.core.web import safe_next_path
from yiwang.site.nav import WORKBENCH, current_path, workbench_links


def request_for(path: str, query: str = "") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": []})


class TestWorkbenchLinks:
    def test_gives_an_anonymous_visitor_nothing(self) -> None:
        assert workbench_links(ANONYMOUS) == []

    def test_gives_each_permission_its_link_and_everyone_their_account(self) -> None:
        actor = Actor(kind="staff", user_id="u1", grants=(
            Grant("clerk", "310101", permissions=frozenset({"registry.person.read"})),
            Grant("auditor", "31", permissions=frozenset({"audit.read"})),
        ))

        assert [link.href for link in workbench_links(actor)] == ["/audit", "/registry/persons", "/inbox", "/account/security"]

    def test_gives_a_citizen_only_their_account(self) -> None:
        assert [link.href for link in workbench_links(Actor(kind="citizen", user_id="c1"))] == ["/inbox", "/account/security"]

    def test_gives_the_system_actor_everything(self) -> None:
        assert workbench_links(SYSTEM) == list(WORKBENCH)


class TestSafeNextPath:
    @pytest.mark.parametrize("path", ["/", "/audit", "/registry/persons?q=a&page=2", "/a/b#c"])
    def test_keeps_paths_on_this_site(self, path: str) -> None:
        assert safe_next_path(path) == path

    @pytest.mark.parametrize(
        "value",
        [None, "", "audit", "https://evil.example", "//evil.example", "/\\evil.example", "/\t/evil.example",
         "/\n/evil.example", "/a\\b", "http:/evil", " /audit", "javascript:alert(1)"],
    )
    def test_refuses_anything_else(self, value: str | None) -> None:
        assert safe_next_path(value) == "/"

    def test_falls_back_to_the_given_default(self) -> None:
        assert safe_next_path("//evil.example", default="/account/security") == "/account/security"


class TestCurrentPath:
    def test_is_the_path_alone_without_a_query(self) -> None:
        assert current_path(request_for("/audit")) == "/audit"

    def test_keeps_the_query_but_drops_lang(self) -> None:
        assert current_path(request_for("/audit", "lang=en&page=2&q=%E5%BC%A0")) == "/audit?page=2&q=%E5%BC%A0"

"""The real-browser harness: the app served by uvicorn on loopback, driven by Debian's Chromium
through Playwright.

Fixtures for page tests (mark them ``@pytest.mark.browser``):

- ``live_server`` — the app built from the shared ``settings`` (so every browser test runs on
  SQLite and on PostgreSQL), served on 127.0.0.1 and a free port; ``.url`` (no trailing slash),
  ``.app``, ``.settings``, ``.db``.
- ``page`` — a fresh browser context (no cookies), locale zh-CN, 1280×800.
- ``mobile_page`` — the same on a 360×740 touch phone.
- ``new_page(**options)`` — more pages in fresh contexts, e.g. two users in one test.
- ``browser`` — the shared Chromium.

A page that fails a test leaves a screenshot in ``test-artifacts/``. Helpers to sign in and to
check pages are in ``tests/browser/helpers.py``.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from yiwang.core.db import Database
from yiwang.core.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
LOCALE = "zh-CN"
TIMEOUT_MS = 15_000
"""Longest wait for one page action; the machine running the suite may be busy."""


# ---- The app on a real socket -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveServer:
    url: str
    app: FastAPI
    settings: Settings

    @property
    def db(self) -> Database:
        return self.app.state.db


class _Server(uvicorn.Server):
    """uvicorn that says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The app served by uvicorn in a background thread on 127.0.0.1 and a free port."""
    from yiwang.app import create_app

    app = create_app(settings)
    # Bind here, so the port is ours before uvicorn starts (no race for a "free" port).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", log_config=None, access_log=False,
                                    timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    while not server.ready.wait(0.05):
        if not thread.is_alive():
            sock.close()
            pytest.fail("the live server did not start (see the log above)", pytrace=False)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        app.state.db.dispose()


# ---- Chromium -----------------------------------------------------------------------------


class _Chromium:
    """One Chromium shared by consecutive browser tests.

    Playwright's sync API marks an asyncio loop as running in this thread while it is started,
    which breaks ``asyncio.run`` in any later test of the session. So the browser is started on
    first use and stopped as soon as the next test does not need it (see
    ``pytest_runtest_teardown``), instead of living for the whole session."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def get(self) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            self.stop()
            if not CHROMIUM.exists():
                pytest.fail(
                    f"{CHROMIUM} is missing: browser tests drive Debian's Chromium; "
                    "run scripts/install-system-deps (as root) to install it",
                    pytrace=False,
                )
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        return self._browser

    def stop(self) -> None:
        if self._browser is not None:
            try:
                self._browser.close()
            finally:
                self._browser = None
        if self._playwright is not None:
            try:
                self._playwright.stop()
            finally:
                self._playwright = None


_CHROMIUM = _Chromium()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """After the test's fixtures are finalised: stop Chromium unless the next test needs it."""
    try:
        return (yield)
    finally:
        if nextitem is None or "browser" not in getattr(nextitem, "fixturenames", ()):
            _CHROMIUM.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so page fixtures know whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser() -> Browser:
    """The shared headless Chromium (started on first use; never downloaded)."""
    return _CHROMIUM.get()


def _failed(item: pytest.Item) -> bool:
    return any(getattr(getattr(item, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


def artifacts_dir(config: pytest.Config) -> Path:
    folder = config.rootpath / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """Open pages in fresh browser contexts (own cookies): ``new_page()`` for a desktop,
    ``new_page(mobile=True)`` for a phone; other keywords go to ``browser.new_context``."""
    opened: list[Page] = []

    def open_page(*, mobile: bool = False, **options: Any) -> Page:
        defaults: dict[str, Any] = {"locale": LOCALE, "viewport": PHONE if mobile else DESKTOP}
        if mobile:
            defaults.update(is_mobile=True, has_touch=True)
        context = browser.new_context(**{**defaults, **options})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        opened.append(page)
        return page

    yield open_page

    failed = _failed(request.node)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    for index, page in enumerate(opened):
        try:
            if failed and not page.is_closed():
                suffix = f"-{index}" if len(opened) > 1 else ""
                page.screenshot(path=str(artifacts_dir(request.config) / f"FAILED-{name}{suffix}.png"),
                                full_page=True)
        finally:
            page.context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop page (1280×800, zh-CN) in a fresh context."""
    return new_page()


@pytest.fixture
def mobile_page(new_page: Callable[..., Page]) -> Page:
    """A phone page (360×740, touch, zh-CN) in a fresh context."""
    return new_page(mobile=True)

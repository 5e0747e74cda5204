"""Helpers for page tests: make users, sign in through the real form, set display preferences,
and check a page for the problems every page must avoid (sideways scrolling, low contrast,
unlabelled controls).

    from .helpers import create_user, login_as, page_problems    (in tests/browser/test_*.py)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import Page

if TYPE_CHECKING:
    from .conftest import LiveServer


DEFAULT_PASSWORD = "Correct-Horse-Battery-9"  # noqa: S105 - test accounts only
"""Strong enough for every account kind's password rules."""


@dataclass(frozen=True, slots=True)
class TestUser:
    __test__ = False  # not a test class, despite the name

    id: str
    username: str
    password: str
    totp_secret: str | None


def create_user(
    live_server: LiveServer,
    username: str,
    password: str = DEFAULT_PASSWORD,
    *,
    kind: str = "staff",
    display_name: str | None = None,
    grants: Iterable[tuple[str, str] | tuple[str, str, str | None]] = (),
    totp: bool = False,
) -> TestUser:
    """Create an account (as the system actor) with ``grants`` of ``(role, area_code)`` or
    ``(role, area_code, department_id)``; ``totp=True`` enrols a fresh TOTP secret."""
    from yiwang.core.actor import SYSTEM
    from yiwang.identity import service as identity_service

    secret = pyotp.random_base32() if totp else None
    with live_server.db.transaction() as session:
        identity_service.seed_policy(session)
        user = identity_service.create_user(
            session, SYSTEM, username=username, password=password, kind=kind,
            display_name=display_name or username,
            grants=[(g[0], g[1], g[2] if len(g) > 2 else None) for g in grants],
            settings=live_server.settings,
        )
        if secret:
            identity_service.enroll_totp_secret(session, user.id, secret, settings=live_server.settings)
    return TestUser(id=user.id, username=username, password=password, totp_secret=secret)


_last_totp_step: dict[str, int] = {}


def _fresh_totp(secret: str) -> str:
    """A code the server has not seen yet: it refuses a code twice, so a second sign-in within
    the same 30 s uses the next step's code (which it accepts, one step ahead)."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.now(UTC))
    step = max(step, _last_totp_step.get(secret, -1) + 1)
    _last_totp_step[secret] = step
    return totp.generate_otp(step)


def _alert_text(page: Page) -> str:
    alerts = page.locator("[role=alert], .alert--error")
    said = " / ".join(t.strip() for t in alerts.all_inner_texts())
    return said or f"(no message on the page: {page.url} {page.title()!r} {page.inner_text('main')[:300]!r})"


def login(page: Page, base_url: str, username: str, password: str, totp_secret: str | None = None) -> None:
    """Sign in through the real forms: ``/login`` (``username``, ``password``), then, when
    ``totp_secret`` is given, the TOTP step (``code``). Fails the test if sign-in is refused."""
    page.goto(f"{base_url}/login")
    form = page.locator("form:has(input[name='password'])")
    form.locator("input[name='username']").fill(username)
    form.locator("input[name='password']").fill(password)
    with page.expect_navigation():
        form.locator("input[name='password']").press("Enter")
    if urlsplit(page.url).path == "/login":
        raise AssertionError(f"sign-in refused for {username!r}: {_alert_text(page)}")
    if totp_secret is not None:
        code = page.locator("input[name='code']")
        code.fill(_fresh_totp(totp_secret))
        with page.expect_navigation():
            code.press("Enter")
        if urlsplit(page.url).path.startswith("/login"):
            raise AssertionError(f"TOTP refused for {username!r}: {_alert_text(page)}")


def login_as(page: Page, live_server: LiveServer, user: TestUser) -> None:
    """Sign ``user`` (from :func:`create_user`) in, with their TOTP code if they have one."""
    login(page, live_server.url, user.username, user.password, user.totp_secret)


def set_preferences(page: Page, base_url: str, *, lang: str | None = None, elder: bool | None = None) -> None:
    """Set the display cookies directly (``lang`` = ``"zh"`` or ``"en"``), as the switches do."""
    cookies = []
    if lang is not None:
        cookies.append({"name": "lang", "value": lang, "url": base_url})
    if elder is not None:
        cookies.append({"name": "elder", "value": "1" if elder else "0", "url": base_url})
    page.context.add_cookies(cookies)


# ---- Checks every page should pass ----------------------------------------------------------


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


_CONTRAST_JS = """
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
  });
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage !== 'none') return null;  // images and gradients: not measurable here
      const c = parse(s.backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = {r: 255, g: 255, b: 255, a: 1};
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const problems = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('[aria-hidden=true]') || el.matches(':disabled')) continue;
    const rect = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    if (rect.width <= 1 || rect.height <= 1 || s.visibility === 'hidden') continue;
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
    if (opacity === 0) continue;
    const bg = background(el);
    const fg0 = parse(s.color);
    if (!bg || !fg0) continue;
    const fg = over({...fg0, a: fg0.a * opacity}, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    if (ratio < need) {
      problems.push(`contrast ${ratio.toFixed(2)} < ${need}: <${el.tagName.toLowerCase()} class="${el.className}"> `
        + JSON.stringify(el.textContent.trim().slice(0, 40)) + ` (${s.color} on ${JSON.stringify(bg)})`);
    }
  }
  return problems;
}
"""

_STRUCTURE_JS = """
() => {
  const problems = [];
  const name = (el) => (el.getAttribute('aria-label') || el.textContent || el.getAttribute('title')
    || [...el.querySelectorAll('img[alt]')].map((i) => i.alt).join('')
    || (el.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)?.textContent || '').join('')
    || el.value || '').trim();
  if (!document.documentElement.lang) problems.push('<html> has no lang');
  if (!document.title.trim()) problems.push('the page has no <title>');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} <h1> elements (want exactly 1)`);
  if (!document.querySelector('main')) problems.push('no <main> landmark');
  for (const img of document.querySelectorAll('img:not([alt])')) problems.push(`<img src="${img.src}"> has no alt`);
  const controls = 'input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=image]), select, textarea';
  for (const el of document.querySelectorAll(controls)) {
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
        && !el.getAttribute('title')) problems.push(`form control name="${el.name}" has no label`);
  }
  for (const el of document.querySelectorAll('a[href], button, [role=button], input[type=submit], input[type=button]')) {
    if (!name(el)) problems.push(`<${el.tagName.toLowerCase()}> without an accessible name: ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) problems.push(`positive tabindex on <${el.tagName.toLowerCase()}>`);
  }
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push(`duplicate id "${el.id}"`);
    seen.add(el.id);
  }
  for (const el of document.body.querySelectorAll('*')) {
    const s = getComputedStyle(el);
    const scrolls = ['auto', 'scroll'].includes(s.overflowX) && el.scrollWidth > el.clientWidth + 1;
    if (scrolls && el.tabIndex < 0 && !el.querySelector('a[href], button, input, select, textarea, [tabindex]')) {
      problems.push(`<${el.tagName.toLowerCase()} class="${el.className}"> scrolls sideways but cannot be focused`);
    }
  }
  return problems;
}
"""


def contrast_problems(page: Page) -> list[str]:
    """Visible text whose contrast with its background is below WCAG AA (4.5:1; 3:1 for large)."""
    return page.evaluate(_CONTRAST_JS)


def structure_problems(page: Page) -> list[str]:
    """Basic accessibility faults: no lang or title, not exactly one h1, unlabelled controls,
    nameless links and buttons, positive tabindex, duplicate ids, unfocusable scroll areas."""
    return page.evaluate(_STRUCTURE_JS)


def page_problems(page: Page) -> list[str]:
    """Everything this module checks on the current page; an empty list is a pass."""
    overflow = horizontal_overflow(page)
    found = [f"scrolls sideways by {overflow}px"] if overflow > 0 else []
    return found + structure_problems(page) + contrast_problems(page)


def texts(page: Page, selector: str) -> Sequence[str]:
    """The trimmed inner texts of every element matching ``selector``."""
    return [t.strip() for t in page.locator(selector).all_inner_texts()]

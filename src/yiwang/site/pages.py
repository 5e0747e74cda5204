"""The home page and the display preferences (language, elder mode) every page offers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from yiwang.core.web import CurrentActor, render, safe_next_path, templates
from yiwang.identity.errors import CsrfFailed
from yiwang.identity.web import csrf_matches
from yiwang.site.nav import current_path, workbench_links

router = APIRouter(tags=["site"], include_in_schema=False)

PREFERENCE_MAX_AGE = 365 * 24 * 3600
"""Preference cookies last a year."""


def install(app: FastAPI) -> None:
    """Give the layout what it needs on every page: the actor's links, the page's own address
    (for the preference forms) and the name of the area this installation serves."""
    templates.env.globals.update(workbench_links=workbench_links, current_path=current_path)
    if not hasattr(app.state, "area_name"):
        app.state.area_name = getattr(app.state.settings, "area_name", "")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, actor: CurrentActor) -> HTMLResponse:
    """The home page: what the platform offers and, for a signed-in user, their workbench."""
    return render(request, "site/home.html", {"links": workbench_links(actor)})


@router.post("/prefs")
def set_preferences(
    request: Request,
    actor: CurrentActor,
    lang: Annotated[Literal["zh", "en"] | None, Form()] = None,
    elder: Annotated[Literal["1", "0"] | None, Form()] = None,
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> RedirectResponse:
    """Remember the language and elder mode in cookies for a year, then go back to ``next``;
    refuses values it does not know and sends any ``next`` outside this site to the home page.

    Another site cannot change a visitor's display: the form's token must come back — a signed-in
    user's session token (checked when the actor loads), else the visitor's pre-session token."""
    if not csrf_matches(getattr(request.state, "csrf_submitted", None), getattr(request.state, "csrf_token", None)):
        raise CsrfFailed()
    response = RedirectResponse(safe_next_path(next_path), status_code=303)
    secure = request.app.state.settings.cookie_secure
    for name, value in (("lang", lang), ("elder", elder)):
        if value is not None:
            response.set_cookie(name, value, max_age=PREFERENCE_MAX_AGE, path="/", samesite="lax",
                                secure=secure, httponly=True)
    return response

"""Jinja2 templates with autoescaping, the page context, and a few display filters.

Every value reaches HTML through autoescaping; the only markup inserted as
is comes from :mod:`rxguard.web.charts`, which builds SVG from numbers and
escapes every label itself, and from the ``as_typed`` macro (``_macros.html``),
which marks text a person typed and escapes it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from rxguard.web.context import PageContext
from rxguard.web.security import remember_pre_session
from rxguard.web.wording import Wording

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@functools.cache
def static_version() -> str:
    """A digest of the static files, appended to their URLs so a browser never runs stale CSS."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_version"] = static_version
    return env


def render(ctx: PageContext, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A full page (or an htmx fragment) for this request, in the user's language."""
    page = environment().get_template(template)
    macros = environment().get_template("_macros.html").make_module({"t": ctx.t, "lang": ctx.lang})
    as_typed = getattr(macros, "as_typed")  # noqa: B009 (a template's macro, which no type checker knows)
    words = Wording(ctx.lang, ctx.t, ctx.zone, typed=as_typed)
    html = page.render(ctx=ctx, t=ctx.t, lang=ctx.lang, user=ctx.user, words=words, when=words.when, day=words.day,
                       as_typed=as_typed, **values)  # fmt: skip
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    remember_pre_session(ctx.request, response)
    return response
